"""Opaque keyset cursors: base64url of a small JSON list."""

import base64
import json
from datetime import datetime
from typing import Any

from app.kit.problems import ProblemError, invalid
from app.kit.text import check_text


def encode(parts: list[Any]) -> str:
    raw = json.dumps(parts, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def bad_cursor() -> ProblemError:
    return invalid("cursor", "is not a cursor this API issued", "invalid_cursor")


def decode(cursor: str, length: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_cursor() from None
    if not isinstance(parts, list) or len(parts) != length:
        raise bad_cursor()
    try:
        for part in parts:
            if isinstance(part, str):
                check_text(part)  # a forged cursor must not carry what the database refuses
    except ValueError:
        raise bad_cursor() from None
    return parts


def decode_moment_key(cursor: str | None) -> tuple[datetime, str] | None:
    """A cursor of (ISO moment, id), as the newest-first pages (timeline, campaigns) issue it."""
    if cursor is None:
        return None
    at_text, key = decode(cursor, 2)
    try:
        return datetime.fromisoformat(str(at_text)), str(key)
    except ValueError:
        raise bad_cursor() from None
