"""Request-scoped dependencies shared by routers: the clock."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from app.kit.time import utcnow


async def get_now() -> datetime:
    """The one clock read of a request; tests override it to pin time."""
    return utcnow()


Now = Annotated[datetime, Depends(get_now)]
