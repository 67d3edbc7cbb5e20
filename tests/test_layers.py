"""The core stays pure: no network, database, orchestration or connector code in `stagecast/`."""

from __future__ import annotations

import ast
import re
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


REPORTS = CORE / "reports"
TEMPLATES = CORE.parent / "templates"


def _detail_reads(path: Path) -> list[int]:
    """Lines reading a `.detail` for anything but handing it on whole to a `detail=` field
    (through `source_text`, which makes it one line): no slicing, matching or stripping."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "detail"):
            continue
        if not isinstance(node.ctx, ast.Load):
            continue
        up = parents[node]
        if isinstance(up, ast.Call) and getattr(up.func, "id", "") == "source_text":
            up = parents[up]
        if not (isinstance(up, ast.keyword) and up.arg == "detail"):
            found.append(node.lineno)
    return found


def test_reports_take_risk_facts_from_the_flag_not_from_its_detail():
    """Facts in the model, prose at the edge: a report words a risk from the flag's facts and
    shows its English `detail` only whole, as the fallback for a flag stored without facts;
    nothing parses numbers or names back out of it."""
    reads = {
        str(path.relative_to(CORE.parent)): lines
        for path in sorted(REPORTS.rglob("*.py"))
        if (lines := _detail_reads(path))
    }
    assert reads == {}
    for path in sorted(TEMPLATES.glob("*.j2")):
        text = path.read_text(encoding="utf-8")
        uses = re.findall(r"\.detail\b", text)
        whole = re.findall(r"\{\{ *\w+\.detail *\}\}", text)
        assert len(uses) == len(whole), f"{path.name} does more with a detail than show it"
