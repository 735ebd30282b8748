"""Rendering: the Jinja environment (templates packaged beside this module), its filters, and
the headers every dashboard page carries."""

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.ui import charts, format

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    number=format.number,
    money=format.money,
    percent=format.percent,
    moment=format.moment,
    day=format.day,
    words=format.words,
    badge=format.badge,
    chip=format.chip,
    detail=format.detail,
    path=lambda value: quote(str(value), safe=""),
)
templates.env.globals.update(charts=charts, urlencode=urlencode)

# Nothing but this origin: no inline script, no remote asset, no framing; pages are not cached
# (they show one key's view of the data).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=HEADERS
    )
    return response
