"""Streaming CSV for lists a CRM imports as they are: a header, then one chunk per page."""

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse


def wants_csv(accept: str | None) -> bool:
    return bool(accept) and "text/csv" in accept  # type: ignore[operator]


async def rows_to_text(
    header: Sequence[str], pages: AsyncIterator[Sequence[Sequence[Any]]]
) -> AsyncIterator[str]:
    """The header, then each page's rows as CSV text (None as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    async for page in pages:
        for row in page:
            writer.writerow(["" if cell is None else cell for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # only the header: an empty list
        yield buffer.getvalue()


def response(chunks: AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
