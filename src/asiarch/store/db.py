"""Opening the store: an SQLite file by default, PostgreSQL (psycopg 3) for several machines.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with ``BEGIN
IMMEDIATE``: a writer takes the write lock up front, so two processes never deadlock upgrading
a read lock (the failure SQLite's busy timeout does not retry). Readers are not blocked by WAL.

Schema versions: a fresh database gets the current tables and is stamped with the latest
version; an older database is brought forward by the migrations in ``MIGRATIONS`` (index i
upgrades version i to i + 1), each in its own transaction; a newer database is refused with a
line saying to upgrade asiarch. Nothing is ever dropped by a migration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from asiarch.store.schema import Base, GateAttempt, Orchestrator, SchemaVersion

SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a writer waits for another process's write transaction before giving up."""

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


MIGRATIONS: list[Migration] = [_campaign_state_and_gate_attempts, _orchestrator_claims]
"""Upgrades from version i to i + 1, in order. Version 1 is the first released schema."""
BASE_VERSION = 1


def schema_version() -> int:
    return BASE_VERSION + len(MIGRATIONS)


class StoreError(RuntimeError):
    """A store that cannot be opened or used, as one line naming the problem and the fix."""


class Store:
    """An open store: an engine plus a session factory whose sessions commit or roll back whole."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def store_url(location: str | Path) -> str:
    """A URL for ``location``: URLs pass through, anything else is an SQLite file path."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def open_store(location: str | Path, migrations: list[Migration] | None = None) -> Store:
    """Open (creating or upgrading if needed) the store at an SQLite path or a database URL."""
    url = store_url(location)
    try:
        engine = create_engine(url, **_engine_options(url))
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"cannot use store URL {url!r}: {exc}; use a file path or postgresql+psycopg://…") from exc
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        _configure_sqlite(engine)
    try:
        _bring_up_to_date(engine, MIGRATIONS if migrations is None else migrations)
    except OperationalError as exc:
        engine.dispose()
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise StoreError(f"cannot open the store at {url}: {first}") from exc
    return Store(engine)


def open_store_readonly(location: str | Path) -> Store:
    """Open an existing store for reading only (the observatory): no schema creation, no migration, and the
    database itself refuses writes (SQLite ``query_only``; PostgreSQL read-only transactions)."""
    url = store_url(location)
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise StoreError(f"no store at {path}; point --db at the file a campaign wrote (or run `asiarch run`)")
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", **_engine_options(url))

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
    latest = BASE_VERSION + len(MIGRATIONS)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(SchemaVersion.__tablename__):
                raise StoreError(f"{url} holds no asiarch store; point --db at the store a campaign wrote")
            current = connection.execute(select(SchemaVersion.version)).scalar_one()
    except OperationalError as exc:
        engine.dispose()
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise StoreError(f"cannot open the store at {url}: {first}") from exc
    if current != latest:
        engine.dispose()
        raise StoreError(
            f"the store has schema version {current}, this asiarch reads version {latest}; "
            "open it once with a writing command (e.g. `asiarch status`) to upgrade it, or upgrade asiarch"
        )
    return Store(engine)


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return {"pool_pre_ping": True}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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
