"""The README's first session, replayed: every request it shows is sent to the app after
`winback demo` has loaded its default history, and every answer it shows must match.

The README shows answers abridged: a JSON object lists some of the answer's fields, a list shows
its first items (a trailing "..." marks it cut), a CSV shows its first lines. Timestamps move with
the day the README is read, so a shown timestamp matches any timestamp. Figures with decimals
match within 0.1 %: the model fit's optimiser ends a few units in the last place apart on
different CPUs (seen: a predicted CLV of 36,542.76 on Intel, 36,541.67 on AMD); counts, codes
and names must match exactly.
"""

import json
import re
import shlex
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.demo import DEMO_CLIENTS, DEMO_SEED, load_demo
from tests.conftest import NOW, ROOT

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def first_session(readme: str) -> str:
    start = readme.index("## A first session")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def steps(section: str) -> list[tuple[str, str, str]]:
    """(curl command, answer kind, answer text) for each curl block followed by an answer."""
    blocks = FENCE.findall(section)
    out = []
    for (kind, text), following in zip(blocks, [*blocks[1:], ("", "")], strict=True):
        if kind == "sh" and "curl " in text:
            assert following[0] in ("json", "csv"), f"no answer shown after:\n{text}"
            command = " ".join(
                line.split("#", 1)[0].rstrip().rstrip("\\")
                for line in text.splitlines()
                if line.strip().startswith(("curl", "-")) or line.startswith("  ")
            )
            out.append((command, following[0], following[1]))
    return out


def parse_curl(command: str) -> tuple[str, str, dict[str, str], str | None]:
    words = shlex.split(command.replace("| head -3", ""))
    assert words[0] == "curl"
    method, url, headers, body = "GET", "", {}, None
    i = 1
    while i < len(words):
        word = words[i]
        if word == "-X":
            method, i = words[i + 1], i + 2
        elif word == "-H":
            name, value = words[i + 1].split(":", 1)
            headers[name.strip()] = value.strip()
            i += 2
        elif word == "-d":
            body, method, i = words[i + 1], "POST" if method == "GET" else method, i + 2
        elif word == "-s":
            i += 1
        else:
            url, i = word, i + 1
    return method, url.removeprefix("localhost:8000"), headers, body


DECIMAL = re.compile(r"^-?\d+\.\d+$")


def same_figure(shown: Any, actual: Any) -> bool:
    """Equal, or both figures with decimals (floats, or money as text) within 0.1 %."""
    if shown == actual:
        return True
    if isinstance(shown, float) and isinstance(actual, float):
        return actual == pytest.approx(shown, rel=1e-3)
    if isinstance(shown, str) and isinstance(actual, str) and DECIMAL.match(shown):
        return bool(DECIMAL.match(actual)) and float(actual) == pytest.approx(
            float(shown), rel=1e-3
        )
    return False


def matches(shown: Any, actual: Any, path: str = "") -> None:
    if isinstance(shown, dict):
        assert isinstance(actual, dict), path
        for key, value in shown.items():
            assert key in actual, f"{path}.{key} is not in the answer"
            matches(value, actual[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert isinstance(actual, list), path
        cut = bool(shown) and shown[-1] == "..."
        items = shown[:-1] if cut else shown
        assert len(actual) >= len(items) if cut else len(actual) == len(items), path
        for k, item in enumerate(items):
            matches(item, actual[k], f"{path}[{k}]")
    elif isinstance(shown, str) and TIMESTAMP.match(shown):
        assert isinstance(actual, str) and TIMESTAMP.match(actual), f"{path}: {actual!r}"
    else:
        assert same_figure(shown, actual), (
            f"{path}: the README shows {shown!r}, the answer is {actual!r}"
        )


def matches_csv(shown: str, actual: str) -> None:
    lines = actual.splitlines()
    for k, line in enumerate(shown.strip().splitlines()):
        for cell, real in zip(line.split(","), lines[k].split(","), strict=True):
            if TIMESTAMP.match(cell):
                assert TIMESTAMP.match(real), (k, real)
            else:
                assert same_figure(cell, real), f"CSV line {k}: README {cell!r}, answer {real!r}"


async def test_the_readme_first_session_gives_what_it_shows(
    database_url: str,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    keys: dict[str, str],
) -> None:
    await load_demo(database_url, clients=DEMO_CLIENTS, seed=DEMO_SEED, now=NOW)
    section = first_session((ROOT / "README.md").read_text())
    assert "./dev demo" in section and "./dev serve" in section
    walked = steps(section)
    assert len(walked) >= 5
    now = NOW.isoformat().replace("+00:00", "Z")
    for command, kind, shown in walked:
        command = command.replace("$KEY", keys["admin"]).replace("$NOW", now)
        method, path, headers, body = parse_curl(command)
        response = await committed_api.request(
            method, path, headers=headers, content=body.encode() if body else None
        )
        assert response.status_code < 300, (command, response.text)
        if kind == "csv":
            matches_csv(shown, response.text)
        else:
            matches(json.loads(shown), response.json(), path)


def test_the_parser_reads_what_the_readme_writes() -> None:
    method, path, headers, body = parse_curl(
        "curl -s -X POST localhost:8000/v1/events -H 'Authorization: Bearer k' "
        "-H 'content-type: application/json' -d '{\"at\": \"'$NOW'\"}'"
    )
    assert (method, path, headers["Authorization"], body) == (
        "POST",
        "/v1/events",
        "Bearer k",
        '{"at": "$NOW"}',
    )
    with pytest.raises(AssertionError):
        matches({"status": "lost"}, {"status": "active"})
    with pytest.raises(AssertionError):
        matches({"items": [{"id": 1}, "..."]}, {"items": []})
    matches(
        {"at": "2026-01-01T00:00:00Z", "items": [1, "..."]}, {"at": "2027-02-02", "items": [1, 2]}
    )
