"""The `stagecast` command line (SPEC §10).

Exit codes: 0 success; 1 the run finished but a source was unavailable (or a delivery failed or
was held); 2 bad input or config, in which case nothing was pulled, stored or sent.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress
from rich.table import Table

from flows.runtime import local_runs, run_flow
from stagecast.calendar import parse_as_of
from stagecast.config import REPORT_KINDS, Config, ConfigError, ProjectConfig, load_config
from stagecast.ledger import BAD_OUTCOMES, LEDGER_STATES
from stagecast.output import RunResult, pending_json, run_json

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
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Evaluation moment, ISO 8601 (default: now)."),
]
InitOption = Annotated[
    bool,
    typer.Option(
        "--init",
        help="Start a new, empty state database where the outbox shows an earlier one.",
    ),
]
# Moments outside these years are typos (0001-01-01), and date arithmetic near the ends of
# Python's calendar overflows.
AS_OF_YEARS = (1970, 2999)


def _setup_logging() -> None:
    """Logs go to stderr: rich on a terminal, plain lines otherwise."""
    handler: logging.Handler
    if stderr.is_terminal:
        handler = RichHandler(console=stderr, show_path=False, show_time=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)  # Prefect's INFO lines belong in the UI, not here
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def _fail(problems: Sequence[str], code: int = 2) -> NoReturn:
    """Print each problem on its own line and stop with `code`."""
    for problem in problems:
        stderr.print(problem, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _load(path: Path, *, secrets: bool = False) -> Config:
    """The validated config, or every problem with its path and exit 2. With `secrets`, for
    the commands about to pull or send, every `env:` variable must be set too: a missing one
    stops the run before any channel is sent to, not after the others were."""
    try:
        return load_config(path, check_environment=secrets)
    except ConfigError as err:
        _fail(err.problems)


def _as_of(text: str | None, config: Config) -> datetime:
    """`--as-of`, or now, as an aware moment."""
    if text is None:
        return datetime.now(config.tz)
    try:
        moment = parse_as_of(text, config.tz)
    except (ValueError, OverflowError) as err:
        _fail([f"--as-of: {err}"])
    low, high = AS_OF_YEARS
    if not low <= moment.year <= high:
        _fail([f"--as-of: {text} is outside the years {low}-{high}"])
    return moment


def _check_state(config: Config, init: bool = False) -> None:
    """Open (and migrate) the state database before any work, so a missing, damaged or
    unreachable one stops the command with one line, nothing pulled or sent."""
    from connectors.state import StateUnavailable, open_state

    try:
        open_state(config.state, config.outbox, init=init).close()
    except StateUnavailable as err:
        _fail([str(err)], err.exit_code)


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
def _progress(total: int, what: str) -> Iterator[None]:
    """Follow the flow's steps: a progress bar on a terminal, plain lines on stderr otherwise."""
    from flows.progress import listen

    if stderr.is_terminal:
        with Progress(console=stderr, transient=True) as bar:
            task = bar.add_task(what, total=total)
            stop = listen(lambda line: bar.advance(task))
            try:
                yield
            finally:
                stop()
        return
    stop = listen(lambda line: print(line, file=sys.stderr))
    try:
        yield
    finally:
        stop()


@app.command()
def validate(config: ConfigOption = Path("stagecast.yaml")) -> None:
    """Check the config and print every problem with its path in the file."""
    _setup_logging()
    loaded = _load(config, secrets=True)
    names = ", ".join(p.key for p in loaded.projects)
    stdout.print(f"{config}: OK ({len(loaded.projects)} project(s): {names})", markup=False)


@app.command()
def sync(
    config: ConfigOption = Path("stagecast.yaml"),
    project: Annotated[str | None, typer.Option(help="Only this project (its key).")] = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    init: InitOption = False,
) -> None:
    """Pull every source, compute progress and risks, store the snapshot, report the changes."""
    _setup_logging()
    loaded = _load(config)
    moment = _as_of(as_of, loaded)
    chosen = _projects(loaded, project)
    _check_state(loaded, init)
    from flows.sync import sync_flow

    with local_runs(), _progress(len(chosen), "syncing"):
        result = run_flow(sync_flow, str(config), project, moment.isoformat())
    _finish(_document(result, loaded), as_json)


RISK_CODES = (
    "overdue",
    "blocked",
    "stale",
    "unassigned",
    "stage_late",
    "stage_at_risk",
    "scope_creep",
    "missing_deliverable",
    "source_unavailable",
)


@app.command()
def report(
    kind: Annotated[str, typer.Argument(help=" | ".join(REPORT_KINDS))],
    project: Annotated[str, typer.Option(help="The project (its key).")],
    config: ConfigOption = Path("stagecast.yaml"),
    stage: Annotated[
        str | None, typer.Option(help="stage_report: the stage (its name or key).")
    ] = None,
    risk: Annotated[
        str | None,
        typer.Option(help="risk_alert: the risk, as CODE:SUBJECT (e.g. overdue:PORTAL-12)."),
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    as_of: AsOfOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Store, emit and send nothing; print each rendering.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Send even if this period was already sent.")] = False,
    as_json: JsonOption = False,
    init: InitOption = False,
) -> None:
    """Sync, render one report and deliver it to the report's channels (or just --channel)."""
    _setup_logging()
    if kind not in REPORT_KINDS:
        _fail([f"KIND: unknown report kind '{kind}' (expected one of: {', '.join(REPORT_KINDS)})"])
    _check_report_target(kind, stage, risk)
    loaded = _load(config, secrets=True)
    moment = _as_of(as_of, loaded)
    chosen = _projects(loaded, project)[0]
    if channel is not None and channel not in {c.name for c in chosen.channels}:
        known = ", ".join(c.name for c in chosen.channels) or "none"
        _fail([f"--channel: unknown channel '{channel}' in {chosen.key} (channels: {known})"])
    if stage is not None:
        _check_stage(chosen, stage)
    _check_state(loaded, init)
    if risk is not None:
        _check_risk(loaded, chosen, risk, moment)
    common = (str(config), chosen.key)
    options = {"as_of": moment.isoformat(), "channel": channel, "dry_run": dry_run, "force": force}
    with local_runs():
        document = _document(_report_flow(kind, common, stage, risk, options), loaded)
    if dry_run and not as_json:
        _print_previews(document)
    _finish(document, as_json)


def _check_report_target(kind: str, stage: str | None, risk: str | None) -> None:
    """--stage for stage reports, --risk CODE:SUBJECT for alerts, neither elsewhere."""
    if kind == "stage_report" and not stage:
        _fail(["--stage: a stage report needs the stage (its name or key)"])
    if kind == "risk_alert":
        code, colon, subject = (risk or "").partition(":")
        if not colon or not subject or code not in RISK_CODES:
            _fail([f"--risk: expected CODE:SUBJECT with CODE one of {', '.join(RISK_CODES)}"])
    if stage and kind != "stage_report":
        _fail([f"--stage: only for stage_report, not {kind}"])
    if risk and kind != "risk_alert":
        _fail([f"--risk: only for risk_alert, not {kind}"])


def _check_stage(project: ProjectConfig, stage: str) -> None:
    """--stage names one of the project's stages, by name or key."""
    names = [(s.name, s.effective_key) for s in project.stages]
    if any(stage in pair for pair in names):
        return
    known = ", ".join(f"{name} ({key})" for name, key in names) or "none"
    _fail([f"--stage: no stage '{stage}' in {project.key} (stages: {known})"])


def _check_risk(config: Config, project: ProjectConfig, risk: str, moment: datetime) -> None:
    """--risk names something the project has: a task, stage or source of its last sync (a
    project never synced yet is given the benefit of the doubt)."""
    from datetime import timedelta

    from connectors.store import StateStore

    with StateStore(config.state) as store:
        last = store.latest_before(project.key, moment + timedelta(microseconds=1))
    if last is None:
        return
    subject = risk.partition(":")[2]
    known = {t.key for t in last.tasks} | {s.name for s in last.sources}
    known |= {name for s in last.stages for name in (s.name, s.key)}
    known |= {f.subject for f in last.risks}
    if subject not in known:
        raised = ", ".join(f"{f.code}:{f.subject}" for f in last.risks[:10]) or "none"
        _fail(
            [
                f"--risk: '{subject}' is no task, stage or source of {project.key} as of its last"
                f" sync ({last.as_of.isoformat()}); risks raised then: {raised}"
            ]
        )


# Each report kind's flow: (module, flow function).
REPORT_FLOWS = {
    "daily_update": ("flows.daily_update", "daily_update_flow"),
    "weekly_update": ("flows.weekly_update", "weekly_update_flow"),
    "stage_report": ("flows.stage_report", "stage_report_flow"),
    "project_report": ("flows.project_report", "project_report_flow"),
    "risk_alert": ("flows.risk_alert", "risk_alert_flow"),
    "charter": ("flows.charter", "charter_flow"),
}


def _report_flow(
    kind: str, common: tuple[str, str], stage: str | None, risk: str | None, options: dict[str, Any]
) -> RunResult:
    """Run the flow of one report kind (imported only when asked for: the CLI starts fast)."""
    import importlib

    module, name = REPORT_FLOWS[kind]
    report_flow = getattr(importlib.import_module(module), name)
    if kind == "stage_report":
        options = {**options, "stage": stage or ""}
    if kind == "risk_alert":
        options = {**options, "risk": risk or ""}
    return run_flow(report_flow, *common, **options)


def _zones(config: Config) -> dict[str, Any]:
    """Each project's timezone, for the moments the JSON shows in the client's zone."""
    return {p.key: p.tz for p in config.projects}


def _document(result: RunResult, config: Config) -> dict[str, Any]:
    """The SPEC's JSON document of a run."""
    return run_json(result, config.tz, _zones(config))


@app.command("deliver-pending")
def deliver_pending_command(
    config: ConfigOption = Path("stagecast.yaml"),
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    init: InitOption = False,
) -> None:
    """Send what is due (deferred, approved, failed reports); expire unanswered approvals; catch
    up a missed daily update; decide deliveries whose sender died."""
    _setup_logging()
    loaded = _load(config, secrets=True)
    moment = _as_of(as_of, loaded)
    _check_state(loaded, init)
    from flows.deliver_pending import deliver_pending_flow

    with local_runs():
        result = run_flow(deliver_pending_flow, str(config), moment.isoformat())
    document = pending_json(result, loaded.tz, _zones(loaded))
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        for d in document["deliveries"]:
            stdout.print(f"{d['id']}  {d['report']} → {d['channel']}: {d['status']}", markup=False)
        if not document["deliveries"]:
            stdout.print("nothing is due", markup=False)
    if result.problems:
        raise typer.Exit(1)


@app.command()
def deliveries(
    config: ConfigOption = Path("stagecast.yaml"),
    status: Annotated[str | None, typer.Option(help="Only deliveries in this state.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the delivery ledger with ids, oldest first."""
    _setup_logging()
    loaded = _load(config)
    from connectors.store import StateStore

    if status is not None and status not in LEDGER_STATES:
        _fail([f"--status: unknown state '{status}' (states: {', '.join(sorted(LEDGER_STATES))})"])
    _check_state(loaded)
    with StateStore(loaded.state) as store:
        rows = [_ledger_json(e) for e in store.deliveries(status=status)]
    if as_json:
        sys.stdout.write(json.dumps({"deliveries": rows}, ensure_ascii=False) + "\n")
        return
    table = Table()
    for column in ("id", "project", "report", "period", "channel", "status", "not before", "note"):
        table.add_column(column)
    for r in rows:
        note = r["last_error"] or r["reason"] or ""
        table.add_row(
            r["id"],
            r["project"],
            r["report"],
            r["period"],
            r["channel"],
            r["status"],
            r["not_before"] or "",
            note,
        )
    stdout.print(table)


@app.command()
def approve(
    id: Annotated[str, typer.Argument(help="The delivery id (from `stagecast deliveries`).")],
    config: ConfigOption = Path("stagecast.yaml"),
    by: Annotated[str | None, typer.Option(help="Who approves (default: your user name).")] = None,
) -> None:
    """Approve a report awaiting approval: its waiting run (if served) resumes and sends it in
    the client's window, else the next deliver-pending does."""
    _decide(config, id, approve=True, by=by, reason=None)


@app.command()
def reject(
    id: Annotated[str, typer.Argument(help="The delivery id (from `stagecast deliveries`).")],
    reason: Annotated[str, typer.Option(help="Why it must not be sent.")],
    config: ConfigOption = Path("stagecast.yaml"),
    by: Annotated[str | None, typer.Option(help="Who rejects (default: your user name).")] = None,
) -> None:
    """Reject a report awaiting approval, with a reason; it is never sent."""
    _decide(config, id, approve=False, by=by, reason=reason)


def _decide(config: Path, id: str, *, approve: bool, by: str | None, reason: str | None) -> None:
    """Record a person's decision on a delivery awaiting approval."""
    _setup_logging()
    loaded = _load(config)
    from connectors.store import LedgerConflict, StateStore
    from flows.delivery import decide_approval

    who = by or getpass.getuser()
    _check_state(loaded)
    with StateStore(loaded.state) as store:
        try:
            entry = decide_approval(store, id, approve=approve, by=who, reason=reason)
        except KeyError:
            _fail([f"ID: no delivery '{id}' (see `stagecast deliveries`)"])
        except LedgerConflict as err:
            _fail([f"ID: {err}; only a delivery awaiting approval can be decided"])
        stdout.print(f"{entry.id} {entry.status} by {who}", markup=False)
        if entry.flow_run is not None:
            from flows.approval import resume_waiting_run

            with local_runs():
                said = resume_waiting_run(store, entry, who)
            if said:
                stdout.print(said, markup=False)


@app.command()
def resolve(
    id: Annotated[str, typer.Argument(help="The delivery id (from `stagecast deliveries`).")],
    delivered: Annotated[
        bool, typer.Option("--delivered", help="It did arrive: record it as sent.")
    ] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="It did not arrive (or was fixed): send it again.")
    ] = False,
    config: ConfigOption = Path("stagecast.yaml"),
    by: Annotated[str | None, typer.Option(help="Who decides (default: your user name).")] = None,
) -> None:
    """Settle a delivery whose fate is `unknown` (a request left without an answer), or send a
    `failed` one again that waits for a config change."""
    _setup_logging()
    if delivered == resend:
        _fail(["resolve: give exactly one of --delivered and --resend"])
    loaded = _load(config)
    _check_state(loaded)
    from connectors.store import LedgerConflict, StateStore
    from flows.delivery import resolve as settle

    who = by or getpass.getuser()
    with StateStore(loaded.state) as store:
        try:
            outcome = settle(store, loaded, id, delivered=delivered, by=who)
        except KeyError:
            _fail([f"ID: no delivery '{id}' (see `stagecast deliveries`)"])
        except LedgerConflict as err:
            _fail([f"ID: {err}"])
    stdout.print(f"{outcome.id} {outcome.status} ({who})", markup=False)
    if outcome.bad:
        raise typer.Exit(1)


def _ledger_json(entry: Any) -> dict[str, Any]:
    """A ledger entry for `deliveries --json` (no rendered content)."""
    moment = lambda v: v.isoformat() if v else None  # noqa: E731
    return {
        "id": entry.id,
        "project": entry.project,
        "report": entry.report,
        "period": entry.period,
        "channel": entry.channel,
        "status": entry.status,
        "not_before": moment(entry.not_before),
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "decided_by": entry.decided_by,
        "decided_at": moment(entry.decided_at),
        "reason": entry.reason,
        "created_at": moment(entry.created_at),
        "updated_at": moment(entry.updated_at),
        "flow_run": entry.flow_run,
        "parts_done": entry.parts_done,
        "in_flight": entry.in_flight,
        "retryable": entry.retryable,
        "claimed_by": entry.claimed_by,
    }


NameOption = Annotated[
    str,
    typer.Option(
        "--name",
        help="The deployments' name (flow/NAME): one per config served on the same server.",
    ),
]


def _deployments(config: Path, name: str, pool: str | None = None) -> tuple[Config, list[Any]]:
    """Check the config and the server, then register the deployments; exit 2 if either fails."""
    _setup_logging()
    loaded = _load(config, secrets=True)
    from deployments.register import ServerUnavailable, check_server, ensure_process_pool, register

    try:
        api = check_server()
        if pool is not None:
            ensure_process_pool(pool)
        built, registered = register(config, loaded, name, work_pool=pool)
    except ServerUnavailable as err:
        _fail([str(err)])
    table = Table(title=f"stagecast deployments on {api}")
    for column in ("deployment", "schedules", "triggers"):
        table.add_column(column)
    for r in registered:
        table.add_row(r.name, ", ".join(r.schedules) or "—", str(r.triggers or "—"))
    stderr.print(table)
    return loaded, built


@app.command()
def serve(
    config: ConfigOption = Path("stagecast.yaml"),
    name: NameOption = "stagecast",
) -> None:
    """Serve every deployment from this process: schedules, event triggers, approvals, alerts.

    Needs a Prefect server (PREFECT_API_URL). Runs until stopped; stopping pauses the
    schedules until the next `serve`.
    """
    _, built = _deployments(config, name)
    from deployments.register import serve as serve_deployments

    stderr.print("Serving; runs show in the Prefect UI. Stop with Ctrl-C.", highlight=False)
    serve_deployments(built)


@app.command()
def deploy(
    pool: Annotated[str, typer.Option(help="The process work pool (created if missing).")],
    config: ConfigOption = Path("stagecast.yaml"),
    name: NameOption = "stagecast",
) -> None:
    """Register every deployment on a process work pool, for `prefect worker start --pool`."""
    _deployments(config, name, pool)
    stderr.print(
        f"Registered. Start workers with: prefect worker start --pool {pool}", highlight=False
    )


LISTEN_PORT = 8787


@app.command()
def listen(
    config: ConfigOption = Path("stagecast.yaml"),
    host: Annotated[
        str, typer.Option(help="The address to bind; behind a reverse proxy, 127.0.0.1.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to bind.")] = LISTEN_PORT,
    name: NameOption = "stagecast",
) -> None:
    """Receive signed Jira and Trello webhooks and start the projects' syncs within seconds.

    Routes: POST /webhooks/jira, HEAD|POST /webhooks/trello; syncs are debounced per project.
    Needs a Prefect server (PREFECT_API_URL) where `stagecast serve` (or `deploy` and workers)
    runs the `sync/NAME` deployment. Secrets: `webhook_secret:` on the jira and trello sources.
    """
    _setup_logging()
    loaded = _load(config)
    if not _listening_sources(loaded):
        _fail(
            [
                f"{config}: no jira or trello source has a webhook_secret, so no webhook could "
                "be verified; add webhook_secret: env:NAME to the sources that should push"
            ]
        )
    from deployments.register import ServerUnavailable, check_server
    from flows.listen import listen_app
    from flows.listen import serve as serve_webhooks
    from flows.runtime import apply_prefect_defaults

    apply_prefect_defaults()
    try:
        api = check_server()
        app_ = listen_app(config, loaded, name)
    except ServerUnavailable as err:
        _fail([str(err)])
    except ConfigError as err:
        _fail(err.problems)
    _warn_unless_deployed(f"sync/{name}")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)  # a service: each webhook's fate is worth a line
    stderr.print(
        f"Listening on http://{host}:{port} (POST /webhooks/jira, HEAD|POST /webhooks/trello); "
        f"starting sync/{name} on {api}. Stop with Ctrl-C.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    serve_webhooks(app_, host, port)


def _listening_sources(config: Config) -> list[Any]:
    """The jira and trello sources that take webhooks (have a webhook_secret)."""
    return [
        cfg
        for p in config.projects
        for cfg in p.sources
        if getattr(cfg, "webhook_secret", None) is not None
    ]


def _warn_unless_deployed(deployment: str) -> None:
    """Say so when nothing would run the syncs `listen` starts (a wrong --name, say)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            stderr.print(
                f"warning: no deployment {deployment} on the server yet: webhooks will not start"
                " syncs until `stagecast serve` (or `deploy`) registers it with the same --name",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


webhooks_app = typer.Typer(
    help="Create, list and remove the Trello webhooks of the configured boards (Jira's are "
    "created in Jira's admin: see the README).",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="The public base URL Trello calls, in front of any proxy (default: "
        "listen.public_url); the callback is URL/webhooks/trello.",
    ),
]


@webhooks_app.command("register")
def webhooks_register(config: ConfigOption = Path("stagecast.yaml"), url: UrlOption = None) -> None:
    """Create each configured board's webhook to `listen`; an existing one is kept.

    Trello checks the callback with a HEAD first, so `stagecast listen` must answer there."""
    loaded, callback = _webhooks_setup(config, url, needed=True)
    failed = False
    for keys, cfg in _trello_boards(loaded):
        where = f"{', '.join(keys)}: board {cfg.board}"
        if cfg.webhook_secret is None:
            _say(f"{where}: skipped (no webhook_secret: listen could not verify its webhooks)")
            continue
        about = _about(keys)
        failed |= not _on_board(cfg, where, lambda hooks, a=about: [hooks.register(callback, a)])
    if failed:
        raise typer.Exit(1)


@webhooks_app.command("list")
def webhooks_list(config: ConfigOption = Path("stagecast.yaml"), url: UrlOption = None) -> None:
    """List the webhooks on each configured board (ours marked: they call URL/webhooks/trello)."""
    from connectors.sources.base import SourceError
    from connectors.sources.trello_webhook import BoardWebhooks

    loaded, callback = _webhooks_setup(config, url, needed=False)
    failed = False
    for keys, cfg in _trello_boards(loaded):
        where = f"{', '.join(keys)}: board {cfg.board}"
        try:
            board, hooks = BoardWebhooks(cfg).listed()
        except SourceError as err:
            _say(f"{where}: {err}")
            failed = True
            continue
        where += f" (id {board})" if board != cfg.board else ""
        if not hooks:
            _say(f"{where}: no webhooks")
        for hook in hooks:
            state = "active" if hook.active else "inactive (Trello stopped it after failures)"
            ours = " (stagecast listen)" if hook.callback == callback else ""
            _say(f"{where}: webhook {hook.id} → {hook.callback} [{state}]{ours}")
    if failed:
        raise typer.Exit(1)


@webhooks_app.command("remove")
def webhooks_remove(config: ConfigOption = Path("stagecast.yaml"), url: UrlOption = None) -> None:
    """Remove each configured board's webhooks to URL/webhooks/trello; others stay."""
    loaded, callback = _webhooks_setup(config, url, needed=True)
    failed = False
    for keys, cfg in _trello_boards(loaded):
        where = f"{', '.join(keys)}: board {cfg.board}"
        failed |= not _on_board(cfg, where, lambda hooks: hooks.remove(callback))
    if failed:
        raise typer.Exit(1)


def _webhooks_setup(config: Path, url: str | None, *, needed: bool) -> tuple[Config, str]:
    """The config and the callback URL (from --url, else listen.public_url); exit 2 without."""
    from urllib.parse import urlsplit

    from connectors.sources.trello_webhook import callback_url

    _setup_logging()
    loaded = _load(config)
    if not _trello_boards(loaded):
        _fail([f"{config}: no trello source: no board to manage webhooks on"])
    public = url or loaded.listen.public_url
    if public is None:
        if needed:
            _fail(["--url: give the public base URL Trello calls (or set listen.public_url)"])
        return loaded, ""
    parts = urlsplit(public)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        _fail([f"--url: expected a base URL like https://ops.example, not {public!r}"])
    public_set = loaded.listen.public_url
    if url and public_set and public_set.rstrip("/") != url.rstrip("/"):
        _say(
            f"warning: --url differs from listen.public_url ({public_set}): listen checks "
            "Trello's signatures against listen.public_url, so they would not match"
        )
    return loaded, callback_url(public)


def _trello_boards(config: Config) -> list[tuple[list[str], Any]]:
    """Each configured Trello board once (with the projects using it): webhooks belong to a
    token and a board, so two projects on one board share one webhook."""
    from stagecast.config import TrelloSourceConfig

    boards: dict[tuple[str, str, str], tuple[list[str], Any]] = {}
    for p in config.projects:
        for cfg in p.sources:
            if isinstance(cfg, TrelloSourceConfig):
                keys, _ = boards.setdefault((cfg.url, cfg.board, str(cfg.token)), ([], cfg))
                keys.append(p.key)
    return list(boards.values())


def _on_board(cfg: Any, where: str, act: Any) -> bool:
    """Do `act` with the board's webhooks, print each outcome; False when Trello failed."""
    from connectors.sources.base import SourceError
    from connectors.sources.trello_webhook import BoardWebhooks

    try:
        outcomes = act(BoardWebhooks(cfg))
    except SourceError as err:
        _say(f"{where}: {err}")
        return False
    if not outcomes:
        _say(f"{where}: nothing to remove")
    for outcome in outcomes:
        hook = outcome.webhook
        _say(f"{where}: {outcome.done} webhook {hook.id} → {hook.callback}")
    return True


def _about(keys: list[str]) -> str:
    """The webhook's description in Trello: who made it and for what."""
    return f"stagecast listen: {', '.join(keys)}"


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where to build the demo workspace (wiped first).")
    ] = Path(".stagecast/demo"),
) -> None:
    """Run the whole pipeline on the bundled demo workspace at its pinned date, from fresh state."""
    _setup_logging()
    started = time.perf_counter()
    from flows.demo import TODAY, WRAP_UP_DAY, YESTERDAY, run_demo

    stderr.print(f"Building the demo workspace in {workdir} …", highlight=False)
    with local_runs():
        run = run_demo(workdir)
    today = _document(run.today, load_config(run.workdir / "stagecast.yaml"))
    stdout.print(f"stagecast demo: synced the board up to {YESTERDAY}, then as of {TODAY}")
    _print_summary(today)
    for project in today["projects"]:
        for event in project["events"]:
            about = event.get("stage") or f"{event.get('code')} {event.get('subject')}"
            stdout.print(f"  event {event['type']}: {about}", markup=False)
    stdout.print(f"Then as of {WRAP_UP_DAY} the last stage completes:")
    for event in run.wrap_up.projects[0].events:
        about = event.payload.get("stage") or event.payload["project"]
        stdout.print(f"  event {event.type}: {about}", markup=False)
    stdout.print("Reports in the outbox:")
    for path in run.reports:
        if path.suffix != ".png":
            stdout.print(f"  {_shown(path)}", markup=False, highlight=False, soft_wrap=True)
    stdout.print("Burn-up charts (beside the HTML that shows them):")
    for path in run.charts:
        stdout.print(f"  {_shown(path)}", markup=False, highlight=False, soft_wrap=True)
    elapsed = time.perf_counter() - started
    config = _shown(run.workdir / "stagecast.yaml")
    stdout.print(f"Done in {elapsed:.1f} s. The demo's config: {config}", soft_wrap=True)
    _finish(today, as_json=None)


def _shown(path: Path) -> str:
    """A path relative to where the user stands, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _finish(document: dict[str, Any], as_json: bool | None) -> None:
    """Print the result (None: already shown) and exit 1 when a source or delivery failed."""
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    elif as_json is not None:
        _print_summary(document)
    projects = document["projects"]
    sources_ok = all(s["ok"] for p in projects for s in p["sources"])
    delivered = all(d["status"] not in BAD_OUTCOMES for p in projects for d in p["deliveries"])
    if not (sources_ok and delivered):
        raise typer.Exit(1)


def _print_previews(document: dict[str, Any]) -> None:
    """Each channel's rendering, for --dry-run without --json."""
    for project in document["projects"]:
        for d in project["deliveries"]:
            stdout.rule(f"{project['key']} → {d['channel']}")
            stdout.print(d.get("preview", ""), markup=False, highlight=False)


def _print_summary(document: dict[str, Any]) -> None:
    """A table per project: each stage's figures, then the risks and deliveries."""
    for project in document["projects"]:
        table = Table(title=f"{project['key']} @ {document['as_of']}")
        for column in ("stage", "done/total", "due", "forecast", "status"):
            table.add_column(column)
        for s in project["stages"]:
            done = f"{s['done']}/{s['total']}"
            table.add_row(s["name"], done, s["due"] or "—", s["forecast"] or "—", s["status"])
        stdout.print(table)
        for r in project["risks"]:
            line = f"  [{r['severity']}] {r['code']} {r['subject']}: {r['detail']}"
            stdout.print(line, markup=False, soft_wrap=True)
        for d in project["deliveries"]:
            stdout.print(f"  {d['report']} → {d['channel']}: {d['status']}", markup=False)


def main() -> None:
    """Console entry point: whatever goes wrong, one line on stderr, never a traceback
    (`STAGECAST_DEBUG=1` shows it)."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("stopped", highlight=False)
        sys.exit(130)
    except Exception as err:  # the last line of defence: the message, not the stack
        if _is_usage_error(err):
            err.show()  # type: ignore[attr-defined]
            sys.exit(err.exit_code)  # type: ignore[attr-defined]
        if os.environ.get("STAGECAST_DEBUG"):
            raise
        text = str(err).splitlines()[0] if str(err) else ""
        stderr.print(
            f"stagecast: unexpected error: {type(err).__name__}: {text}"
            " (STAGECAST_DEBUG=1 shows where)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(err: Exception) -> bool:
    """Typer's own (vendored click) usage errors: they know how to show themselves."""
    return callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int)
