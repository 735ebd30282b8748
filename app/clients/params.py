"""Path and query parameters shared by the endpoints that address one client."""

from typing import Annotated

from fastapi import Path, Query

from app.domain import Identifier, Moment

ClientIdPath = Annotated[Identifier, Path(min_length=1, max_length=128, examples=["acme"])]
AsOf = Annotated[
    Moment | None,
    Query(
        description="evaluate the client as it stood at this moment (events up to it); ISO 8601 "
        "with a time zone, from 1970 on, not in the future"
    ),
]
