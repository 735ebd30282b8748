"""Endpoint secrets at rest: AES-256-GCM with a key derived for this purpose alone
(`app.kit.secrets.derived_key`, from WINBACK_SECRET_KEY or the data directory's key file)."""

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Settings
from app.kit.secrets import derived_key

NONCE_BYTES = 12


class Unreadable(Exception):
    """A sealed secret this key cannot open (another key sealed it, or it was altered)."""


def sealing_key(settings: Settings) -> bytes:
    return derived_key(settings, "webhook-secrets")


def seal(key: bytes, plaintext: str, context: str) -> bytes:
    """A random nonce followed by the ciphertext and its tag. `context` (the endpoint's id) is
    authenticated with it, so a sealed secret copied to another row does not open."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())


def unseal(key: bytes, sealed: bytes, context: str) -> str:
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except (InvalidTag, ValueError):
        raise Unreadable("sealed with another key, or altered") from None
    return plain.decode()
