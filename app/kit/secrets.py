"""The process's secret key, and keys derived from it for one purpose each.

It signs dashboard session cookies and encrypts outgoing-webhook secrets at rest. In production set
WINBACK_SECRET_KEY (at least 32 characters), the same on every process that shares the database;
without it, 32 random bytes are created once in `<data_dir>/secret.key` (mode 0600), which serves
the embedded setup and a single host. Losing that file makes stored webhook secrets unreadable
(rotate them) and signs everyone out of the dashboard; nothing else depends on it.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from app.config import Settings

KEY_FILE = "secret.key"


def _key_file(data_dir: Path) -> bytes:
    path = data_dir.resolve() / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole under a temporary name, then linked into place: two processes starting at
    # once agree on the first key linked, and nobody reads a half-written file
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()


def master_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    return _key_file(settings.data_dir)


def derived_key(settings: Settings, purpose: str) -> bytes:
    """32 bytes for one purpose ("session-cookie", "webhook-secrets", ...): a key never serves two
    purposes, so a leak of one (a cookie signature) says nothing of the other."""
    return hmac.new(master_key(settings), b"winback:" + purpose.encode(), hashlib.sha256).digest()
