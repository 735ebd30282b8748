"""`winback export`: every stored event as JSON lines, the envelope the API takes. With
`winback import` it is the backup, and the way from the embedded database to another server."""

import json
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events import repository

PAGE = 5000


async def lines(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    """One JSON line per stored event, in time order; each page in a short transaction of its
    own, so a long export holds no snapshot open."""
    after: tuple[datetime, str] | None = None
    while True:
        async with sessionmaker() as session:
            page = await repository.page_of_all(session, after, PAGE)
        for _, _, body in page:
            yield json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"
        if len(page) < PAGE:
            return
        after = (page[-1][0], page[-1][1])
