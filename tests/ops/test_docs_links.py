"""The product documents itself: every link in the README and docs/ points at a file in this
repository (nothing outside it, such as the development-only ../shared/SPEC.md)."""

import re

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(page) -> None:  # type: ignore[no-untyped-def]
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


def test_no_page_sends_the_reader_to_the_development_spec() -> None:
    for page in PAGES:
        assert "shared/SPEC" not in page.read_text(), page.name


def test_the_user_docs_cover_what_the_readme_promises() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    for name in ("events.md", "churn.md", "tiers.md", "plans.md", "reason-codes.md", "policy.md"):
        assert (ROOT / "docs" / name).exists() and name in index, name
