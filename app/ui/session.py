"""Dashboard sessions: a signed cookie naming the API key that signed in, and CSRF tokens.

The cookie never holds the key itself: it carries the key's id, a random session id and an
expiry, signed with HMAC-SHA256 under a key derived for this purpose alone
(`kit.secrets.derived_key(settings, "session-cookie")`). Each request re-checks the key id
against the keys table, so revoking a key signs its sessions out at once. The CSRF token of a
session is an HMAC of its session id: a page's forms carry it, every POST must send it back.
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

COOKIE_NAME = "winback_session"
SESSION_SECONDS = 12 * 3600
ENV_ADMIN = "env-admin"  # the key id of WINBACK_ADMIN_KEY (app.auth.service.find)


@dataclass(frozen=True)
class Session:
    key_id: str
    session_id: str
    expires_at: int  # epoch seconds
    # for the WINBACK_ADMIN_KEY: a fingerprint of the key, so changing it signs its sessions out
    fingerprint: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, purpose + b":" + payload, hashlib.sha256).digest()


def fingerprint(secret: bytes, admin_key: str) -> str:
    """A short stand-in for the env admin key: it tells keys apart and reveals nothing."""
    return _b64(_mac(secret, b"env-admin", admin_key.encode()))[:22]


def new_session(key_id: str, now: datetime, fingerprint_: str | None = None) -> Session:
    expires = int(now.timestamp()) + SESSION_SECONDS
    return Session(key_id, secrets.token_urlsafe(16), expires, fingerprint_)


def encode(secret: bytes, session: Session) -> str:
    body = {"k": session.key_id, "s": session.session_id, "e": session.expires_at}
    if session.fingerprint:
        body["f"] = session.fingerprint
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_mac(secret, b'cookie', payload.encode()))}"


def decode(secret: bytes, value: str | None, now: datetime) -> Session | None:
    """The session in a cookie, or None if it is missing, forged, altered or expired."""
    if not value or value.count(".") != 1 or len(value) > 1000:
        return None
    payload, signature = value.split(".")
    try:
        expected = _mac(secret, b"cookie", payload.encode())
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        body = json.loads(_unb64(payload))
    except ValueError:  # bad base64 or JSON (binascii.Error and JSONDecodeError are ValueErrors)
        return None
    if not isinstance(body, dict):
        return None
    key_id, session_id, expires = body.get("k"), body.get("s"), body.get("e")
    fingerprint_ = body.get("f")
    if not (isinstance(key_id, str) and isinstance(session_id, str) and isinstance(expires, int)):
        return None
    if expires <= now.timestamp():
        return None
    return Session(
        key_id, session_id, expires, fingerprint_ if isinstance(fingerprint_, str) else None
    )


def csrf_token(secret: bytes, session: Session) -> str:
    return _b64(_mac(secret, b"csrf", session.session_id.encode()))


def csrf_ok(secret: bytes, session: Session, token: str | None) -> bool:
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged form's token)
    expected = csrf_token(secret, session).encode()
    return bool(token) and hmac.compare_digest(expected, (token or "").encode())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this dashboard only (no other host, no scheme)."""
    if (
        not target
        or not target.startswith("/ui")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return "/ui"
    return target
