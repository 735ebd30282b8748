"""What PostgreSQL plans for a statement on the driver, for tests that check a query's plan."""

import json
from datetime import datetime
from typing import Any


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan and every node under it."""
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


def _type_and_literal(value: Any) -> tuple[str, str]:
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, datetime):
        return "timestamptz", f"'{value.isoformat()}'"
    return "text", "'" + str(value).replace("'", "''") + "'"


async def prepared_plan(raw: Any, sql: str, parameters: list[Any]) -> list[dict[str, Any]]:
    """The nodes of the plan for `sql` run as a prepared statement (as the driver runs it) with
    these parameters: EXPLAIN of EXECUTE, so that a generic plan shows when PostgreSQL would use
    one."""
    types, values = zip(*(_type_and_literal(p) for p in parameters), strict=True)
    await raw.execute(f"PREPARE planned({', '.join(types)}) AS {sql}")
    try:
        found = await raw.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE planned({', '.join(values)})")
    finally:
        await raw.execute("DEALLOCATE planned")
    document = json.loads(found) if isinstance(found, str) else found  # json codec or not
    return nodes(document[0]["Plan"])
