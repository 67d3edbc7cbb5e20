"""`stagecast listen`: signed Jira and Trello webhooks start a project's sync within seconds.

Prefect's own webhooks exist only in Prefect Cloud; a self-hosted server needs a receiver. This
is a small ASGI app on Starlette, served by uvicorn: Prefect's server is built on them, so they
are installed with stagecast already and add nothing to deploy or audit.

- `POST /webhooks/jira`: 202 `accepted` (the projects' syncs are on their way); 200 `duplicate`
  (this `X-Atlassian-Webhook-Identifier` was acted on already: Jira retried); 200 `ignored` (no
  configured project's JQL covers the issue's Jira project);
- `HEAD /webhooks/trello`: 200, Trello's check of the callback URL when a webhook is created;
- `POST /webhooks/trello`: 202 `accepted`; 200 `ignored` (no configured project uses the board);
- `GET /health`: 200, for the reverse proxy and the service manager.

On both POST routes: 401 when the signature is missing or matches no configured
`webhook_secret` (logged with the sender's address, never the body or a secret); 400 for a
signed body that is not a JSON object; 413 past `MAX_BODY`; 404 when no source of that vendor
has a `webhook_secret`. The vendors' signing rules live with their sources
(`connectors/sources/jira_webhook.py`, `trello_webhook.py`).

Which project: a Trello delivery names its board, matched against each trello source's `board`
(id or shortLink); a Jira delivery names the issue's project, matched against the Jira projects
each jira source's `jql` is bounded to (`project = X`, `project in (…)`; a JQL that names none,
or has an OR, covers every project of the site). Only sources whose secret verified the
signature are candidates.

Debounce (per project): a sync starts once the project's webhooks have been quiet for
`listen.debounce_seconds` (default 5: a burst of card moves makes one sync, and Jira's search
index has caught up with the change), at the latest `listen.max_wait_seconds` (default 30) after
the first of them, and never while the project's previous webhook-started sync is still
scheduled or running: webhooks arriving meanwhile start one more sync when it ends. So a burst
of 50 card moves in 10 s makes one sync, or two when the burst outlasts `max_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.secrets import reveal
from connectors.sources import jira_webhook, trello_webhook
from stagecast.config import Config, ConfigError, JiraSourceConfig, SecretRef, TrelloSourceConfig

log = logging.getLogger("flows.listen")

# A Jira issue with its comments and changelog is tens of kilobytes; this is far past any.
MAX_BODY = 5 * 2**20
# Jira retries a delivery for about 30 minutes; a day of identifiers covers that many times over.
REMEMBER_FOR = 24 * 3600.0
REMEMBERED = 100_000
# How often a pending project asks the server whether its previous sync has ended.
POLL_SECONDS = 1.0
# The tag of runs a webhook started, so the UI shows why a sync ran off-schedule.
RUN_TAG = "stagecast-webhook"


# --- who listens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class JiraReceiver:
    """A jira source with a webhook secret: the project it belongs to and what it covers."""

    project: str
    jql: str
    secret: SecretStr


@dataclass(frozen=True)
class TrelloReceiver:
    """A trello source with a webhook secret: the project it belongs to and its board."""

    project: str
    board: str
    secret: SecretStr


@dataclass(frozen=True)
class Receivers:
    """Every source that takes webhooks, its secret resolved once at start-up (a Prefect Secret
    block costs a request; a webhook must be answered in Jira's 20 s, better in milliseconds)."""

    jira: tuple[JiraReceiver, ...]
    trello: tuple[TrelloReceiver, ...]
    trello_callback: str | None

    @classmethod
    def of(cls, config: Config) -> Receivers:
        """The config's listening sources; a secret that cannot be read is a ConfigError."""
        jira, trello = [], []
        for project in config.projects:
            for cfg in project.sources:
                if isinstance(cfg, JiraSourceConfig) and cfg.webhook_secret is not None:
                    secret = _secret(cfg.webhook_secret)
                    jira.append(JiraReceiver(project.key, cfg.jql, secret))
                if isinstance(cfg, TrelloSourceConfig) and cfg.webhook_secret is not None:
                    secret = _secret(cfg.webhook_secret)
                    trello.append(TrelloReceiver(project.key, cfg.board, secret))
        public = config.listen.public_url
        callback = trello_webhook.callback_url(public) if public else None
        return cls(tuple(jira), tuple(trello), callback)


def _secret(ref: SecretRef) -> SecretStr:
    """A webhook secret's value; an empty one would let anyone sign, so it is refused."""
    value = reveal(ref)
    if not value:
        raise ConfigError([f"{ref}: the webhook secret is empty"])
    return SecretStr(value)


def _verified(receivers: tuple[Any, ...], check: Callable[[str], bool]) -> list[Any]:
    """The receivers whose secret signed the request; each distinct secret is tried once."""
    verdicts: dict[str, bool] = {}
    matched = []
    for receiver in receivers:
        secret = receiver.secret.get_secret_value()
        if secret not in verdicts:
            verdicts[secret] = check(secret)
        if verdicts[secret]:
            matched.append(receiver)
    return matched


class RecentDeliveries:
    """Jira delivery identifiers acted on lately, so a retried delivery is acted on once. In
    memory: one `listen` process per site (a restart forgets, and costs at most one sync)."""

    def __init__(self, keep_for: float = REMEMBER_FOR, at_most: int = REMEMBERED) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._keep_for, self._at_most = keep_for, at_most

    def seen_before(self, identifier: str, now: float | None = None) -> bool:
        """Whether the identifier was remembered already; remember it either way."""
        now = time.monotonic() if now is None else now
        while self._seen and (len(self._seen) > self._at_most or self._oldest() < now):
            self._seen.popitem(last=False)
        known = identifier in self._seen
        self._seen[identifier] = now
        self._seen.move_to_end(identifier)
        return known

    def _oldest(self) -> float:
        """When the oldest remembered identifier is to be forgotten."""
        return next(iter(self._seen.values())) + self._keep_for


# --- starting syncs, debounced ---------------------------------------------------------------


class Syncs(Protocol):
    """Starting a project's sync, and telling whether a started one has ended."""

    async def start(self, project: str) -> Any: ...

    async def ended(self, run: Any) -> bool: ...


class DeploymentSyncs:
    """Runs of the `sync/<name>` deployment on the Prefect server, for whichever process serves
    them (`stagecast serve`, or workers on a pool after `stagecast deploy`)."""

    def __init__(self, deployment: str, config_file: Path) -> None:
        self.deployment = deployment
        self.config_file = str(config_file.resolve())

    async def start(self, project: str) -> Any:
        """Create the run and return its id at once (`timeout=0`): the worker runs it."""
        from prefect.client.orchestration import get_client
        from prefect.deployments import arun_deployment

        # Our own client: one arun_deployment makes for itself is never closed.
        async with get_client() as client:
            run = await arun_deployment(
                self.deployment,
                client=client,
                parameters={"config": self.config_file, "project": project},
                timeout=0,
                as_subflow=False,
                tags=[RUN_TAG],
            )
        return run.id

    async def ended(self, run: Any) -> bool:
        """Whether the run reached a final state (completed, failed, crashed, cancelled)."""
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            found = await client.read_flow_run(run)
        return found.state is not None and found.state.is_final()


@dataclass
class _Burst:
    """Webhooks for one project not yet answered by a sync."""

    first: float
    last: float
    events: int = 1


class Debouncer:
    """One sync per burst of webhooks per project, never two of a project's syncs at once
    (the rule is in the module's docstring). Runs on the server's event loop."""

    def __init__(
        self,
        syncs: Syncs,
        *,
        quiet: float,
        max_wait: float,
        poll: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.syncs, self.quiet, self.max_wait, self.poll = syncs, quiet, max_wait, poll
        self._clock = clock
        self.pending: dict[str, _Burst] = {}
        self.running: dict[str, Any] = {}  # project → its last webhook-started run
        self._workers: dict[str, asyncio.Task[None]] = {}

    def notice(self, project: str) -> None:
        """A verified webhook for the project: its sync is due once the burst is over."""
        now = self._clock()
        burst = self.pending.get(project)
        if burst is None:
            self.pending[project] = _Burst(now, now)
        else:
            burst.last, burst.events = now, burst.events + 1
        if project not in self._workers:
            self._workers[project] = asyncio.get_running_loop().create_task(self._work(project))

    def idle(self, project: str) -> bool:
        """Nothing waits to start for the project (its syncs may still be running)."""
        return project not in self.pending

    async def _work(self, project: str) -> None:
        """Start the project's syncs while webhooks keep coming, one burst at a time."""
        try:
            while project in self.pending:
                await self._burst_over(project)
                await self._previous_ended(project)
                burst = self.pending.pop(project)
                await self._start(project, burst)
        finally:
            self._workers.pop(project, None)

    async def _burst_over(self, project: str) -> None:
        """Sleep until the project has been quiet long enough, or waited long enough."""
        while True:
            burst = self.pending[project]
            due = min(burst.last + self.quiet, burst.first + self.max_wait)
            wait = due - self._clock()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _previous_ended(self, project: str) -> None:
        """Wait for the project's last webhook-started sync to end (a server error counts as
        not yet: it is asked again)."""
        run = self.running.get(project)
        warned = False
        while run is not None:
            try:
                if await self.syncs.ended(run):
                    break
            except Exception as err:  # the server briefly away: ask again, say so once
                if not warned:
                    log.warning("%s: cannot read sync run %s (%s); asking again", project, run, err)
                    warned = True
            await asyncio.sleep(self.poll)
        self.running.pop(project, None)

    async def _start(self, project: str, burst: _Burst) -> None:
        """Start one sync for the burst; a failure is logged (the schedule catches up)."""
        try:
            run = await self.syncs.start(project)
        except Exception as err:  # no server, no such deployment: the schedule is the net
            log.error(
                "%s: could not start its sync for %d webhook(s): %s: %s; the scheduled sync "
                "will pick the changes up",
                project,
                burst.events,
                type(err).__name__,
                err,
            )
            return
        self.running[project] = run
        log.info("%s: sync run %s started for %d webhook(s)", project, run, burst.events)

    async def close(self) -> None:
        """Stop waiting (the service is stopping); say which projects had changes unsynced."""
        for project in sorted(self.pending):
            log.warning(
                "%s: %d webhook(s) not synced yet; the scheduled sync will pick them up",
                project,
                self.pending[project].events,
            )
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


# --- the routes ------------------------------------------------------------------------------


def _status(code: int, status: str, **more: Any) -> JSONResponse:
    return JSONResponse({"status": status, **more}, status_code=code)


async def _body(request: Request) -> bytes | None:
    """The raw body (signatures cover its exact bytes), or None past MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _sender(request: Request) -> str:
    """Who sent it, for the log (the proxy's client when uvicorn trusts the proxy)."""
    return request.client.host if request.client else "unknown"


class Listener:
    """The webhook routes: verify, find the projects, hand them to the debouncer."""

    def __init__(self, receivers: Receivers, debouncer: Debouncer) -> None:
        self.receivers, self.debouncer = receivers, debouncer
        self.deliveries = RecentDeliveries()

    async def jira(self, request: Request) -> Response:
        """A Jira admin webhook."""
        if not self.receivers.jira:
            return _status(404, "not listening", reason="no jira source has a webhook_secret")
        body = await _body(request)
        if body is None:
            return _status(413, "too large")
        header = request.headers.get(jira_webhook.SIGNATURE_HEADER)
        matched: list[JiraReceiver] = _verified(
            self.receivers.jira, lambda secret: jira_webhook.signed_by(secret, body, header)
        )
        if not matched:
            return self._refused("Jira", request, header, jira_webhook.SIGNATURE_HEADER)
        delivery = request.headers.get(jira_webhook.IDENTIFIER_HEADER)
        if delivery and self.deliveries.seen_before(delivery):
            log.info("Jira delivery %s again (a retry): acted on already", delivery)
            return _status(200, "duplicate")
        event = jira_webhook.read_event(body)
        if event is None:
            return _status(400, "not a JSON object")
        projects = sorted({r.project for r in matched if jira_webhook.covers(r.jql, event)})
        about = f"Jira {event.kind} of {event.issue or 'no issue'}"
        if not projects:
            log.info(
                "ignored %s: no configured project's JQL covers Jira project %s",
                about,
                event.project_key or "(none)",
            )
            return _status(200, "ignored", reason="no configured project uses this Jira project")
        return self._accept(about, projects)

    async def trello(self, request: Request) -> Response:
        """A Trello webhook, or Trello's HEAD when one is created."""
        if not self.receivers.trello or self.receivers.trello_callback is None:
            return _status(404, "not listening", reason="no trello source has a webhook_secret")
        if request.method == "HEAD":
            return Response(status_code=200)
        body = await _body(request)
        if body is None:
            return _status(413, "too large")
        header = request.headers.get(trello_webhook.SIGNATURE_HEADER)
        callback = self.receivers.trello_callback
        matched: list[TrelloReceiver] = _verified(
            self.receivers.trello,
            lambda secret: trello_webhook.signed_by(secret, body, callback, header),
        )
        if not matched:
            return self._refused("Trello", request, header, trello_webhook.SIGNATURE_HEADER)
        event = trello_webhook.read_event(body)
        if event is None:
            return _status(400, "not a JSON object")
        projects = sorted({r.project for r in matched if r.board in event.boards})
        board = min(event.boards, default="(none)")
        about = f"Trello {event.kind} on board {board}"
        if not projects:
            log.info("ignored %s: no configured project uses the board", about)
            return _status(200, "ignored", reason="no configured project uses this board")
        return self._accept(about, projects)

    async def health(self, request: Request) -> Response:
        return _status(200, "ok")

    def _refused(self, vendor: str, request: Request, header: str | None, name: str) -> Response:
        """401, logged with who sent it and why; never the body, the header's value or a key."""
        why = f"no {name} header" if not header else f"{name} matches no {vendor} webhook_secret"
        log.warning("refused a %s webhook from %s: %s", vendor, _sender(request), why)
        return _status(401, "refused", reason="signature missing or invalid")

    def _accept(self, about: str, projects: list[str]) -> Response:
        for project in projects:
            self.debouncer.notice(project)
        log.info("%s → sync of %s (debounced)", about, ", ".join(projects))
        return _status(202, "accepted", projects=projects)


def create_app(receivers: Receivers, debouncer: Debouncer) -> Starlette:
    """The ASGI app; stopping it stops the debouncer's waits."""
    listener = Listener(receivers, debouncer)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await debouncer.close()

    app = Starlette(
        routes=[
            Route("/webhooks/jira", listener.jira, methods=["POST"]),
            Route("/webhooks/trello", listener.trello, methods=["HEAD", "POST"]),
            Route("/health", listener.health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.listener = listener
    return app


def listen_app(config_file: Path, config: Config, name: str) -> Starlette:
    """The service for a config: its receivers and the `sync/<name>` deployment's runs."""
    receivers = Receivers.of(config)
    syncs = DeploymentSyncs(f"sync/{name}", config_file)
    debouncer = Debouncer(
        syncs, quiet=config.listen.debounce_seconds, max_wait=config.listen.max_wait_seconds
    )
    return create_app(receivers, debouncer)


def server(app: Starlette, host: str, port: int) -> Any:
    """A uvicorn server for the app. Behind a proxy on this machine it takes the client's
    address from X-Forwarded-For (`FORWARDED_ALLOW_IPS` names other proxies); no websockets,
    no access log (each webhook's fate is logged once, by the listener)."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, ws="none", lifespan="on"
    )
    return uvicorn.Server(config)


def serve(app: Starlette, host: str, port: int) -> None:
    """Serve until stopped (SIGTERM, Ctrl-C)."""
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    server(app, host, port).run()
