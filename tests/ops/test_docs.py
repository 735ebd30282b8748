"""/docs works offline and can try the API: local assets only, and a bearer scheme per operation."""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from app.auth.service import SCOPES
from app.config import Settings
from app.main import create_app
from app.openapi_doc import generate

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
HEALTH_PATHS = {"/healthz", "/readyz", "/metrics"}
# platform webhooks: authenticated by the platform's signature over the body, not by a key
SIGNED_PATHS = {"/v1/integrations/shopify/webhooks", "/v1/integrations/woocommerce/webhooks"}


def docs_app() -> Any:
    # The docs, their assets and the OpenAPI document need no database: no lifespan runs here.
    return create_app(Settings(database_url="postgresql://unused", run_worker=False))


@pytest.fixture
async def client() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=docs_app()), base_url="http://test") as c:
        yield c


def referenced_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    ]


@pytest.mark.parametrize(
    ("page", "kinds"), [("/docs", {".js", ".css", ".png"}), ("/redoc", {".js"})]
)
async def test_docs_pages_load_every_asset_from_the_service_itself(
    client: AsyncClient, page: str, kinds: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html, html
    urls = referenced_urls(html)
    assert {url[url.rfind(".") :] for url in urls} >= kinds, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert ASSET_TYPES[url[url.rfind(".") :]] in asset.headers["content-type"], url
        assert len(asset.content) > 1000, url
    spec = re.search(r"""(?:url: '|spec-url=")([^'"]+)""", html)
    assert spec and spec.group(1) == "/openapi.json", html
    assert (await client.get(spec.group(1))).json()["openapi"].startswith("3.")


async def test_docs_asset_urls_follow_the_root_path() -> None:
    transport = ASGITransport(app=docs_app(), root_path="/winback")
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        html = (await client.get("/winback/docs")).text
    assert "url: '/winback/openapi.json'" in html
    urls = referenced_urls(html)
    assert urls and all(url.startswith("/winback/docs/assets/") for url in urls), urls


def test_the_document_declares_a_bearer_scheme() -> None:
    document = generate()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "security" not in document  # no global requirement: health endpoints need no key


def test_every_v1_operation_needs_the_bearer_key_with_its_scope_and_says_so() -> None:
    for method, path, operation in operations(generate()):
        if path in HEALTH_PATHS:
            assert "security" not in operation, (method, path)
            continue
        assert path.startswith("/v1/"), path
        if path in SIGNED_PATHS:
            assert operation["security"] == [], (method, path)
            assert "not by an API key" in operation["description"], (method, path)
            continue
        [requirement] = operation.get("security", [None])
        assert requirement is not None and list(requirement) == ["bearer"], (method, path)
        [scope] = requirement["bearer"]
        assert scope in SCOPES, (method, path, scope)
        assert f"needs the `{scope}` scope" in operation["description"], (method, path)
