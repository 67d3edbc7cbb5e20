"""The `stagecast` command line (SPEC §10).

Exit codes: 0 success; 1 the run finished but a source was unavailable (or a delivery failed or
was held); 2 bad input or config, in which case nothing was pulled, stored or sent.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress
from rich.table import Table

from stagecast.calendar import parse_as_of
from stagecast.config import Config, ConfigError, ProjectConfig, load_config
from stagecast.output import ProjectRun, run_json

app = typer.Typer(
    help="Keeps a delivery team's clients informed: sync boards, compute progress and risks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True)
stdout = Console()

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The stagecast.yaml to use.", show_default=True)
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Evaluation moment, ISO 8601 (default: now)."),
]


def _setup_logging() -> None:
    """Logs go to stderr: rich on a terminal, plain lines otherwise."""
    handler: logging.Handler
    if stderr.is_terminal:
        handler = RichHandler(console=stderr, show_path=False, show_time=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def _fail(problems: Sequence[str], code: int = 2) -> NoReturn:
    """Print each problem on its own line and stop with `code`."""
    for problem in problems:
        stderr.print(problem, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _load(path: Path) -> Config:
    """The validated config, or every problem with its path and exit 2."""
    try:
        return load_config(path)
    except ConfigError as err:
        _fail(err.problems)


def _as_of(text: str | None, config: Config) -> datetime:
    """`--as-of`, or now, as an aware moment."""
    if text is None:
        return datetime.now(config.tz)
    try:
        return parse_as_of(text, config.tz)
    except ValueError as err:
        _fail([str(err)])


def _projects(config: Config, key: str | None) -> list[ProjectConfig]:
    """All projects, or the one `--project` names."""
    if key is None:
        return list(config.projects)
    chosen = [p for p in config.projects if p.key == key]
    if not chosen:
        known = ", ".join(p.key for p in config.projects)
        _fail([f"--project: unknown project '{key}' (projects: {known})"])
    return chosen


@contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[str], None]]:
    """A step reporter: a progress bar on a terminal, plain lines on stderr otherwise."""
    if not stderr.is_terminal:
        yield lambda line: print(line, file=sys.stderr)
        return
    with Progress(console=stderr, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda line: bar.advance(task)


@app.command()
def validate(config: ConfigOption = Path("stagecast.yaml")) -> None:
    """Check the config and print every problem with its path in the file."""
    _setup_logging()
    loaded = _load(config)
    names = ", ".join(p.key for p in loaded.projects)
    stdout.print(f"{config}: OK ({len(loaded.projects)} project(s): {names})", markup=False)


@app.command()
def sync(
    config: ConfigOption = Path("stagecast.yaml"),
    project: Annotated[str | None, typer.Option(help="Only this project (its key).")] = None,
    as_of: AsOfOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Pull every source, compute progress and risks, store the snapshot, report the changes."""
    _setup_logging()
    loaded = _load(config)
    moment = _as_of(as_of, loaded)
    chosen = _projects(loaded, project)
    runs = _sync_all(loaded, chosen, moment)
    if as_json:
        sys.stdout.write(json.dumps(run_json(moment, runs, loaded.tz), ensure_ascii=False))
        sys.stdout.write("\n")
    else:
        _print_summary(runs)
    if not all(s.ok for r in runs for s in r.snapshot.sources):
        raise typer.Exit(1)


def _sync_all(
    config: Config, projects: Sequence[ProjectConfig], as_of: datetime
) -> list[ProjectRun]:
    """Sync each project against the state store, one transaction per project."""
    from connectors.store import StateStore
    from flows.sync import sync_project

    store = StateStore(config.state)
    runs: list[ProjectRun] = []
    try:
        with _progress(len(projects), "syncing") as advance:
            for project in projects:
                result = sync_project(project, store, as_of)
                runs.append(ProjectRun(result.snapshot, result.events))
                snap = result.snapshot
                advance(
                    f"synced {project.key}: {snap.progress.total} tasks, "
                    f"{len(snap.risks)} risks, {len(result.events)} new events"
                )
    finally:
        store.close()
    return runs


def _print_summary(runs: Sequence[ProjectRun]) -> None:
    """A table per project: each stage's figures and the risks."""
    for run in runs:
        snap = run.snapshot
        table = Table(title=f"{snap.project} @ {snap.as_of.isoformat()}")
        for column in ("stage", "done/total", "due", "forecast", "status"):
            table.add_column(column)
        for s in snap.stages:
            due = s.due.isoformat() if s.due else "—"
            forecast = s.forecast.isoformat() if s.forecast else "—"
            table.add_row(s.name, f"{s.done}/{s.total}", due, forecast, s.status)
        stdout.print(table)
        for r in snap.risks:
            stdout.print(f"  [{r.severity}] {r.code} {r.subject}: {r.detail}", markup=False)


def main() -> None:
    """Console entry point."""
    app()
