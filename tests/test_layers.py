"""The core stays pure: no network, database, orchestration or connector code in `stagecast/`."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "stagecast"
FORBIDDEN = {
    "prefect",
    "httpx",
    "sqlalchemy",
    "alembic",
    "connectors",
    "flows",
    "jira",
    "googleapiclient",
    "google",
    "smtplib",
    "requests",
    "psycopg",
    "socket",
    "urllib.request",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_core_imports_no_io_or_orchestration():
    offenders = {
        str(path.relative_to(CORE.parent)): sorted(
            name for name in _imports(path) if _forbidden(name)
        )
        for path in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 8, "the core should be found and scanned"
