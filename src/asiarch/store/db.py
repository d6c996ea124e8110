"""Opening the store: an SQLite file by default, PostgreSQL (psycopg 3) for several machines.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with ``BEGIN
IMMEDIATE``: a writer takes the write lock up front, so two processes never deadlock upgrading
a read lock (the failure SQLite's busy timeout does not retry). Readers are not blocked by WAL. A write that
waits past the busy timeout, or finds the disk full, fails as a StoreError naming the store and the way out:
the transaction is rolled back whole, so no row is half-written.

Schema versions: a fresh database gets the current tables and is stamped with the latest
version; an older database is brought forward by the migrations in ``MIGRATIONS`` (index i
upgrades version i to i + 1), each in its own transaction; a newer database is refused with a
line saying to upgrade asiarch. Nothing is ever dropped by a migration.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from asiarch.store.schema import Base, GateAttempt, Orchestrator, SchemaVersion

SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a writer waits for another process's write transaction before giving up."""

LOW_SPACE_BYTES = 1 << 20
"""An SQLite I/O error with less than this free beside the database is taken for a full disk: creating its WAL
files on a full disk, SQLite says only 'disk I/O error'."""

SCHEMA_LOCK_KEY = 0x61736961
"""PostgreSQL advisory-lock key held while a process creates or upgrades the schema."""

Migration = Callable[[Connection], None]


def _campaign_state_and_gate_attempts(connection: Connection) -> None:
    """v1 → v2: campaigns carry a state for `asiarch pause|resume|stop`; experiments record the decision that
    made them; every gate attempt is kept."""
    connection.exec_driver_sql("ALTER TABLE campaign ADD COLUMN state VARCHAR(20) NOT NULL DEFAULT 'running'")
    connection.exec_driver_sql("ALTER TABLE experiment ADD COLUMN decision JSON NOT NULL DEFAULT '{}'")
    GateAttempt.__table__.create(connection)


def _orchestrator_claims(connection: Connection) -> None:
    """v2 → v3: several orchestrators may share a campaign; each claims the experiments it works on."""
    Orchestrator.__table__.create(connection)
    connection.exec_driver_sql("ALTER TABLE experiment ADD COLUMN claimed_by INTEGER REFERENCES orchestrator(id)")


def _validation_results(connection: Connection) -> None:
    """v3 → v4: every run keeps its validation metric (what choices are made on) and the mixer's parameter count
    at the run's width (the budget is checked at every stage's width)."""
    connection.exec_driver_sql("ALTER TABLE evaluation ADD COLUMN validation_value FLOAT")
    connection.exec_driver_sql("ALTER TABLE evaluation ADD COLUMN validation JSON NOT NULL DEFAULT '{}'")
    connection.exec_driver_sql("ALTER TABLE evaluation ADD COLUMN mixer_parameters INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: list[Migration] = [_campaign_state_and_gate_attempts, _orchestrator_claims, _validation_results]
"""Upgrades from version i to i + 1, in order. Version 1 is the first released schema."""
BASE_VERSION = 1


def schema_version() -> int:
    return BASE_VERSION + len(MIGRATIONS)


class StoreError(RuntimeError):
    """A store that cannot be opened or used, as one line naming the problem and the fix."""


class Store:
    """An open store: an engine plus a session factory whose sessions commit or roll back whole. ``where`` names
    it in error messages (the file, or the URL without its password)."""

    def __init__(self, engine: Engine, where: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.engine = engine
        self.where = where
        self.busy_timeout_ms = busy_timeout_ms
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises. A database locked past the
        busy timeout or a full disk is a StoreError saying so, since no caller can do better than report it."""
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            fault = _storage_fault(exc, self.where, self.busy_timeout_ms)
            if fault is None:
                raise
            raise fault from exc

    def close(self) -> None:
        self.engine.dispose()


def store_url(location: str | Path) -> str:
    """A URL for ``location``: URLs pass through, anything else is an SQLite file path."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def open_store(
    location: str | Path, migrations: list[Migration] | None = None, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Store:
    """Open (creating or upgrading if needed) the store at an SQLite path or a database URL."""
    url = store_url(location)
    try:
        engine = create_engine(url, **_engine_options(url, busy_timeout_ms))
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use store URL {url!r}: {exc}; use a file path or postgresql+psycopg://…") from exc
    where = _where(engine)
    if url.startswith("sqlite"):
        Path(where).parent.mkdir(parents=True, exist_ok=True)
        _configure_sqlite(engine, busy_timeout_ms)
    try:
        _bring_up_to_date(engine, MIGRATIONS if migrations is None else migrations)
    except OperationalError as exc:
        engine.dispose()
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        fault = _storage_fault(exc, where, busy_timeout_ms)
        raise fault or StoreError(f"cannot open the store at {url}: {first}") from exc
    return Store(engine, where, busy_timeout_ms)


def open_store_readonly(location: str | Path) -> Store:
    """Open an existing store for reading only (the observatory): no schema creation, no migration, and the
    database itself refuses writes (SQLite ``query_only``; PostgreSQL read-only transactions)."""
    url = store_url(location)
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise StoreError(f"no store at {path}; point --db at the file a campaign wrote (or run `asiarch run`)")
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", **_engine_options(url))
        where = str(path)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

    else:
        try:
            engine = create_engine(
                url, pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on"}
            )
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use store URL {url!r}: {exc}; use a file path or postgresql+psycopg://…") from exc
        where = _where(engine)
    latest = BASE_VERSION + len(MIGRATIONS)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(SchemaVersion.__tablename__):
                raise StoreError(f"{url} holds no asiarch store; point --db at the store a campaign wrote")
            current = connection.execute(select(SchemaVersion.version)).scalar_one()
    except OperationalError as exc:
        engine.dispose()
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        fault = _storage_fault(exc, where, SQLITE_BUSY_TIMEOUT_MS)
        raise fault or StoreError(f"cannot open the store at {url}: {first}") from exc
    if current != latest:
        engine.dispose()
        raise StoreError(
            f"the store has schema version {current}, this asiarch reads version {latest}; "
            "open it once with a writing command (e.g. `asiarch status`) to upgrade it, or upgrade asiarch"
        )
    return Store(engine, where)


def _storage_fault(exc: OperationalError, where: str, busy_timeout_ms: int) -> StoreError | None:
    """The store's own trouble — locked by another process past the busy timeout, or out of disk — as one line
    naming it and the way out; None for any other failure."""
    code = getattr(exc.orig, "sqlite_errorname", "")
    if code.startswith("SQLITE_BUSY"):
        return StoreError(
            f"the store {where} is locked by another process for over {busy_timeout_ms / 1000:g} s; end that "
            "process's transaction (an open sqlite3 shell, a hung writer) or run again once it is done"
        )
    if code == "SQLITE_FULL" or (code.startswith("SQLITE_IOERR") and _free_bytes(where) < LOW_SPACE_BYTES):
        return StoreError(
            f"no space left on device at {where}; free space there or move the store to a larger disk "
            "(`store` in the config, or --db)"
        )
    return None


def _free_bytes(path: str) -> int:
    try:
        return shutil.disk_usage(Path(path).parent).free
    except OSError:  # nowhere to measure: not taken for a full disk
        return LOW_SPACE_BYTES


def _where(engine: Engine) -> str:
    """The store as messages name it: an SQLite file's path, or the URL without its password."""
    if engine.dialect.name == "sqlite":
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=True)


def _engine_options(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": busy_timeout_ms / 1000}}
    return {"pool_pre_ping": True}


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _bring_up_to_date(engine: Engine, migrations: list[Migration]) -> None:
    latest = BASE_VERSION + len(migrations)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # serialise schema creation between processes
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
        if not inspect(connection).has_table(SchemaVersion.__tablename__):
            Base.metadata.create_all(connection)
            connection.execute(SchemaVersion.__table__.insert().values(id=1, version=latest))
            return
        current = connection.execute(select(SchemaVersion.version)).scalar_one()
    if current > latest:
        raise StoreError(
            f"the store has schema version {current}, newer than this asiarch understands ({latest}); upgrade asiarch"
        )
    for version in range(current, latest):
        with engine.begin() as connection:
            migrations[version - BASE_VERSION](connection)
            connection.execute(SchemaVersion.__table__.update().values(version=version + 1))
