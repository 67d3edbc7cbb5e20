"""`stagecast demo`: the whole job on the bundled workspace, from fresh state, at pinned dates.

The workspace (examples/demo) holds a board export for "today" and earlier ones in `history/`,
the last of them "yesterday". The demo syncs the earlier ones in date order, then runs today's
daily update, so the report has real changes to tell: a stage that completed overnight, work
added, work newly blocked; then, as the `stagecast.stage.completed` event would, the completed
stage's report, which reads the history for the risks the stage met and what made it late.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from stagecast.changes import PROJECT_COMPLETED, STAGE_COMPLETED
from stagecast.output import RunResult

# The checkout's `examples/demo`; an installed wheel carries it as `flows/demo_workspace/`.
_CHECKOUT_DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
DEMO_SOURCE = (
    _CHECKOUT_DEMO if _CHECKOUT_DEMO.is_dir() else Path(__file__).with_name("demo_workspace")
)
PROJECT = "acme-portal"
YESTERDAY = "2026-11-19T17:30:00+08:00"
TODAY = "2026-11-20T17:30:00+08:00"
BOARD = Path("exports") / "acme-board.json"
HISTORY = Path("history") / "acme-board-2026-11-19.json"
# A month on, the last stage done: the board the project wrap-up is made from.
WRAP_UP_DAY = "2026-12-18T17:30:00+08:00"
WRAP_UP = Path("wrap-up") / "acme-board-2026-12-18.json"


@dataclass(frozen=True)
class DemoRun:
    """What the demo did: yesterday's sync, today's daily update, the sync a month on in which
    the project completes, and the files it wrote."""

    workdir: Path
    yesterday: RunResult
    today: RunResult
    wrap_up: RunResult
    reports: list[Path]

    @property
    def charts(self) -> list[Path]:
        """The burn-up charts written beside the HTML reports."""
        return [p for p in self.reports if p.suffix == ".png"]


def fresh_workspace(workdir: Path) -> Path:
    """Copy the bundled workspace into `workdir`, wiping any earlier run; return its config."""
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(DEMO_SOURCE, workdir, ignore=shutil.ignore_patterns(".stagecast"))
    return workdir / "stagecast.yaml"


def run_demo(workdir: Path) -> DemoRun:
    """Sync the earlier boards, then today's: the daily update, the stage report of the stage
    that completed, the weekly update; then a month on, the last stage done: the stage reports
    and the project wrap-up. Everything goes to the outbox."""
    from flows.daily_update import daily_update_flow
    from flows.runtime import run_flow
    from flows.sync import sync_flow
    from flows.weekly_update import weekly_update_flow
    from stagecast.config import load_config

    config = fresh_workspace(workdir)
    for earlier in sorted((workdir / HISTORY.parent).glob("acme-board-*.json")):
        if earlier.name < HISTORY.name:  # the weeks before yesterday (ISO dates sort), oldest first
            shutil.copyfile(earlier, workdir / BOARD)
            run_flow(sync_flow, str(config), PROJECT, f"{earlier.stem[-10:]}T17:30:00+08:00")
    shutil.copyfile(workdir / HISTORY, workdir / BOARD)
    yesterday = run_flow(sync_flow, str(config), PROJECT, YESTERDAY)
    shutil.copyfile(DEMO_SOURCE / BOARD, workdir / BOARD)
    today = run_flow(daily_update_flow, str(config), PROJECT, TODAY)
    _as_triggered(config, today, TODAY)
    run_flow(weekly_update_flow, str(config), PROJECT, TODAY)  # it is a Friday
    shutil.copyfile(workdir / WRAP_UP, workdir / BOARD)
    wrap_up = run_flow(sync_flow, str(config), PROJECT, WRAP_UP_DAY)
    _as_triggered(config, wrap_up, WRAP_UP_DAY)
    outbox = load_config(config).outbox
    reports = sorted(p for p in outbox.rglob("*") if p.is_file() and _shown(p, outbox))
    return DemoRun(workdir, yesterday, today, wrap_up, reports)


def _as_triggered(config: Path, result: RunResult, as_of: str) -> None:
    """What the deployments' event triggers do: a stage report per completed stage, then the
    wrap-up when the project completed."""
    from flows.project_report import project_report_flow
    from flows.runtime import run_flow
    from flows.stage_report import stage_report_flow

    for event in result.projects[0].events:
        if event.type == STAGE_COMPLETED:
            run_flow(stage_report_flow, str(config), PROJECT, event.payload["stage"], as_of)
    if any(e.type == PROJECT_COMPLETED for e in result.projects[0].events):
        run_flow(project_report_flow, str(config), PROJECT, as_of)


def _shown(path: Path, outbox: Path) -> bool:
    """A report, not the outbox's own bookkeeping (its state marker, its sent journal)."""
    return not any(part.startswith(".") for part in path.relative_to(outbox).parts)
