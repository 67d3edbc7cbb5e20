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


CONNECTORS = CORE.parent / "connectors"


def _sleeps_in_a_loop(path: Path) -> list[int]:
    """Lines of `for`/`while` loops that call a sleep or a back-off: a retry loop of its own."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.For | ast.While):
            continue
        for inner in ast.walk(node):
            name = ""
            if isinstance(inner, ast.Call):
                func = inner.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("backoff", "sleep", "_sleep"):
                found.append(node.lineno)
                break
    return found


def test_one_retry_engine():
    """Every source and channel retries through `connectors.http.retrying` (and paces through
    its `Pacer`): no connector keeps a retry loop of its own."""
    vendors = [*(CONNECTORS / "sources").glob("*.py"), *(CONNECTORS / "channels").glob("*.py")]
    loops = {
        str(path.relative_to(CONNECTORS)): lines
        for path in sorted(vendors)
        if (lines := _sleeps_in_a_loop(path))
    }
    assert loops == {}
