"""Standard Webhooks signatures (https://www.standardwebhooks.com), pure.

A secret is `whsec_` + base64 of 32 random bytes. A message is signed with HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` and sent as `webhook-signature: v1,<base64>`; while a
rotated-out secret is still valid, one signature per secret, separated by a space, so a receiver
holding either secret verifies. Any Standard Webhooks library (Python `standardwebhooks`, Svix's
libraries, ...) verifies these headers with the secret as shown.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    webhook_id: str, timestamp: int, body: bytes, signing_secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret (current one first)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, webhook_id, timestamp, body) for secret in signing_secrets
        ),
    }
