"""The committed OpenAPI document (openapi/openapi.json), generated from the code."""

import json
from pathlib import Path
from typing import Any

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def generate() -> dict[str, Any]:
    from app.config import Settings
    from app.main import create_app

    return create_app(Settings(database_url="postgresql://unused")).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = OPENAPI_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(generate()))
    return path
