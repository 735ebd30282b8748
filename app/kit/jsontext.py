"""JSON text for JSONB parameters sent straight to asyncpg (SQLAlchemy's codec on the connection
takes text), and JSONB read back: orjson where it gives the same value (5-10x faster than the
`json` module), `json` for the rest, so what is stored and read is the same either way."""

import json
import re
from typing import Any

import orjson

# orjson reads an integer beyond 64 bits as a float; `json` keeps it exact. 19 digits in a row
# may be such a number (or a string holding digits: then `json` reads it, only slower).
_LONG_NUMBER = re.compile(r"\d{19}")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a Decimal, a non-string key, an integer beyond 64 bits
        return json.dumps(value)


def loads(text: str) -> Any:
    """JSON text as `json.loads` reads it (the engine's JSONB deserializer: the facts of every
    client a batch or sweep evaluates are read through it)."""
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    return orjson.loads(text)
