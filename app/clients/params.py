"""Path and query parameters shared by the endpoints that address one client."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime

ClientIdPath = Annotated[str, Path(min_length=1, max_length=128, examples=["acme"])]
AsOf = Annotated[
    AwareDatetime | None,
    Query(description="evaluate the client as it stood at this moment (events up to it)"),
]
