"""``asiarch serve``: the observatory, live, over the store a campaign is writing."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from asiarch.cli import ConfigOption, SetOption, _config, app, console, fail
from asiarch.store.db import StoreError, open_store_readonly

LOCAL_ONLY = "127.0.0.1"


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 127.0.0.1 (default) keeps it on this machine.")
    ] = LOCAL_ONLY,
    db: Annotated[Optional[str], typer.Option("--db", help="SQLite path or postgresql+psycopg:// URL.")] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Serve the observatory (overview, lineage tree, leaderboard, experiment detail with diffs, discovery curve,
    campaign comparison) at http://HOST:PORT; it refreshes while a campaign runs and never writes to the store."""
    import uvicorn  # the web stack costs every other command start-up time

    from asiarch.web.app import create_app

    cfg = _config(config, overrides)
    try:
        store = open_store_readonly(db or cfg.store)
    except StoreError as exc:
        fail(str(exc))
    if host != LOCAL_ONLY:
        console.print(f"[yellow]serving on {host}: anyone who can reach this interface can read the store[/]")
    console.print(f"observatory at http://{host}:{port}/  (Ctrl-C to stop)", highlight=False)
    try:
        uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
    finally:
        store.close()
