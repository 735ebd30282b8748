"""The embedded default: a real PostgreSQL started from the `pgserver` package.

Used when WINBACK_DATABASE_URL is not set. Data lives in WINBACK_DATA_DIR (default ./.winback);
the server keeps running for later starts and is shared by `serve`, `worker` and the CLI.
"""

import os
from pathlib import Path


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a postgresql:// URL for it."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # pgserver reads XDG_RUNTIME_DIR through platformdirs; a headless box may not set it.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    import pgserver  # imported lazily: production with an external server never loads it

    server = pgserver.get_server(str(data_dir / "pgdata"), cleanup_mode=None)
    return str(server.get_uri())


def database_url(configured: str | None, data_dir: Path) -> str:
    return configured if configured else start(data_dir)
