"""JSON text for JSONB parameters sent straight to asyncpg (SQLAlchemy's codec on the connection
takes text), and JSONB read back: orjson where it gives the same value (5-10x faster than the
`json` module), `json` for the rest, so what is stored and read is the same either way."""

import json
from typing import Any

import orjson

# orjson reads an integer beyond 64 bits as a float; `json` keeps it exact. 19 digits in a row
# may be such a number (or a string holding digits: then `json` reads it, only slower). Found by
# mapping every byte to a digit or not: reading a client's facts (658 characters on average in
# the bench's population) took 17.1 us with a regular expression as the test, 7.0 us so, 6.0 us
# for orjson alone; a sweep reads every due client's facts.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_RUN = b"0" * 19


def _may_hold_a_long_number(text: str) -> bool:
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a Decimal, a non-string key, an integer beyond 64 bits
        return json.dumps(value)


def loads(text: str) -> Any:
    """JSON text as `json.loads` reads it (the engine's JSONB deserializer: the facts of every
    client a batch or sweep evaluates are read through it)."""
    if _may_hold_a_long_number(text):
        return json.loads(text)
    return orjson.loads(text)
