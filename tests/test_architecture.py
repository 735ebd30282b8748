"""The layering of docs/architecture.md holds: import-linter's contracts (pyproject.toml) are
kept. An upward import (a repository importing a service, a core importing the database, kit
importing a domain package) or a cycle between domain packages fails this test."""

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def test_the_contracts_cover_every_domain_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [packages] = [c for c in config["contracts"] if c["name"].startswith("Domain packages")]
    layered = {name.strip() for layer in packages["layers"] for name in layer.split("|")}
    domain = {
        f"app.{p.name}"
        for p in (ROOT / "app").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()
    }
    # packages not built yet hold only an __init__.py
    empty = {f"app.{p.parent.name}" for p in (ROOT / "app").glob("*/__init__.py")} - {
        f"app.{p.parent.name}" for p in (ROOT / "app").glob("*/*.py") if p.name != "__init__.py"
    }
    assert domain - empty <= layered, sorted(domain - empty - layered)
