"""JSON text for JSONB parameters sent straight to asyncpg (SQLAlchemy's codec on the connection
takes text): orjson where it can (5-10x faster than `json.dumps`), `json` for what orjson refuses
(a Decimal, a non-string key), so the stored document is the same either way."""

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
