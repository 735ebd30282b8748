"""Webhook signatures: base64 HMAC-SHA256 of the raw body, as Shopify and WooCommerce send them.

Pure: no I/O, no settings. The body is the exact bytes received, before any JSON parsing (a
parsed and re-serialised body would not hash the same).
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence


def parse_secrets(value: str | None) -> tuple[str, ...]:
    """`"old, new"` -> ("old", "new"): several secrets during a rotation; blanks dropped."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def sign(secret: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `body` with `secret`: what the platform puts in its header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """True when `signature` is the body's signature under any of `secrets` (old and new are
    both accepted during a rotation). Constant-time per comparison; every secret is tried."""
    if not signature or not secrets:
        return False
    given = signature.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(secret, body).encode("ascii"), given)
    return matched
