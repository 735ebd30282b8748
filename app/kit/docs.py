"""The API's own documentation: /docs and /redoc served offline, and the scope each operation needs.

Swagger UI and ReDoc come from the installed `fastapi-offline` package (its `static/` folder), not
from a CDN, so the docs work on a machine without internet access. FastAPI's own pages are turned
off (`docs_url=None, redoc_url=None`) and rebuilt here with local asset URLs.
"""

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# No call to swagger.io's online validator: nothing leaves the page but the API's own requests.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def install(app: FastAPI) -> None:
    """Mount the assets, add /docs and /redoc, and name each operation's scope in its description.

    `app` must be built with `docs_url=None, redoc_url=None, openapi_url=OPENAPI_URL`.
    """
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    stated: dict[str, Any] | None = None  # the document the scope sentences were added to

    def openapi() -> dict[str, Any]:
        nonlocal stated
        # FastAPI.openapi caches the document and rebuilds it when the routes change.
        document = FastAPI.openapi(app)
        if document is not stated:
            state_scopes(document)
            stated = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


RATE_LIMITED: dict[str, Any] = {
    "description": "Too many requests for this key (Retry-After and RateLimit-* headers say when)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def scope_sentence(scopes: list[str]) -> str:
    """'**Key:** needs the `clients:read` scope (or `admin`): 401 without ..., 403 without ...'"""
    names = " and ".join(f"`{scope}`" for scope in scopes)
    needs = f"{names} {'scopes' if len(scopes) > 1 else 'scope'}"
    if "admin" not in scopes:
        needs += " (or `admin`)"
    return f"**Key:** needs the {needs}: 401 without a valid key, 403 without the scope."


def state_scopes(document: dict[str, Any]) -> None:
    """Append the scope sentence to every operation that has a security requirement.

    The scopes come from the requirement FastAPI derived from the auth dependency
    (`Security(authenticate, scopes=[...])`), so the text cannot drift from what is enforced.
    """
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            requirements = operation.get("security", [])
            scopes = sorted(
                {scope for req in requirements for names in req.values() for scope in names}
            )
            if scopes:
                description = operation.get("description", "").rstrip()
                operation["description"] = f"{description}\n\n{scope_sentence(scopes)}".lstrip()
                # every keyed operation is rate-limited per key (app.auth.ratelimit)
                operation.setdefault("responses", {}).setdefault("429", RATE_LIMITED)
