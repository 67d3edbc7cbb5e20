"""`stagecast listen` as Jira and Trello reach it: the app served by uvicorn on a local port,
webhooks from the local Trello server (signed as Trello signs, after Trello's HEAD check at
registration) and Jira deliveries signed as Jira documents, syncs started on the session's real
Prefect server (a `sync/<name>` deployment nobody serves here, so a run stays in flight until
the test ends it), and `stagecast webhooks` against the local Trello."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from connectors.sources.trello_webhook import BoardWebhooks
from flows.listen import Debouncer, listen_app, server
from stagecast.config import load_config
from tests.connectors.fake_jira import issue
from tests.connectors.fake_trello import DOING, DONE, FakeTrello, standard_board
from tests.prefect_server import free_port

T = TypeVar("T")
STAGECAST = Path(sys.executable).with_name("stagecast")
CONFIG = """
timezone: Asia/Shanghai
state: sqlite:///state.db
listen: {{public_url: "{public}", debounce_seconds: 0.5, max_wait_seconds: 5}}
projects:
  - key: cards
    name: 看板
    sources:
      - {{type: trello, url: "{trello}", board: "{board}", key: env:LISTEN_TRELLO_KEY,
          token: env:LISTEN_TRELLO_TOKEN, webhook_secret: env:LISTEN_TRELLO_SECRET}}
  - key: portal
    name: Portal
    sources:
      - {{type: jira, url: "http://127.0.0.1:9", token: env:LISTEN_JIRA_TOKEN,
          jql: "project = PORTAL ORDER BY rank", webhook_secret: env:LISTEN_JIRA_SECRET}}
  - key: unsigned
    name: 无密钥
    sources:
      - {{type: jira, url: "http://127.0.0.1:9", token: env:LISTEN_JIRA_TOKEN, jql: "project = HR"}}
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def listening(app: Any, port: int) -> Iterator[None]:
    """The app on a real uvicorn server on `port`, in a thread, until the block ends."""
    running = server(app, "127.0.0.1", port)
    # In this thread's context: Prefect's settings (the session server's URL) go along.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(running.run,), daemon=True)
    thread.start()
    wait_for("uvicorn to start", lambda: running.started, timeout=30)
    try:
        yield
    finally:
        running.should_exit = True
        thread.join(timeout=15)


@dataclass
class Listening:
    url: str
    config: Path
    fake: FakeTrello
    board: str
    stranger: str
    debouncer: Debouncer
    deployment: str
    jira_secret: str


@pytest.fixture(scope="module")
def listener(tmp_path_factory, prefect_server) -> Iterator[Listening]:
    from flows.sync import sync_flow

    folder = tmp_path_factory.mktemp("listen")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTrello() as fake:
        board = fake.add_board(standard_board())
        stranger = fake.add_board({**standard_board(), "id": "5f00000000000000000000ff"})
        env = {
            "LISTEN_TRELLO_KEY": fake.key,
            "LISTEN_TRELLO_TOKEN": fake.token,
            "LISTEN_TRELLO_SECRET": fake.secret,
            "LISTEN_JIRA_TOKEN": "not-used-here",
            "LISTEN_JIRA_SECRET": secrets.token_urlsafe(24),
        }
        os.environ.update(env)
        cfg = folder / "stagecast.yaml"
        cfg.write_text(CONFIG.format(public=public, trello=fake.url, board=board), "utf-8")
        name = f"listen-{uuid.uuid4().hex[:6]}"
        sync_flow.to_deployment(name=name).apply()  # registered, not served: runs wait
        app = listen_app(cfg, load_config(cfg), name)
        try:
            with listening(app, port):
                yield Listening(
                    public,
                    cfg,
                    fake,
                    board,
                    stranger,
                    app.state.listener.debouncer,
                    f"sync/{name}",
                    env["LISTEN_JIRA_SECRET"],
                )
        finally:
            for key in env:
                os.environ.pop(key, None)


def runs_of(deployment: str, project: str) -> list[Any]:
    """The flow runs of the deployment for one project, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
    return [r for r in runs if r.parameters.get("project") == project]


def jira_delivery(key: str, project: str) -> bytes:
    """A `jira:issue_updated` body as Jira sends it: the issue moved to Done."""
    found = issue(key, "登录页改版", status="Done", category="done")
    found["fields"]["project"] = {"id": "10000", "key": project, "name": project.title()}
    changelog = {
        "id": "1",
        "items": [{"field": "status", "fromString": "Doing", "toString": "Done"}],
    }
    body = {"webhookEvent": "jira:issue_updated", "issue": found, "changelog": changelog}
    return json.dumps(body, ensure_ascii=False).encode()


def post_jira(
    listener: Listening, body: bytes, *, secret: str | None = None, signed: bytes | None = None,
    identifier: str | None = None, signature: str | None = "auto",
) -> httpx.Response:  # fmt: skip
    """POST to /webhooks/jira with Jira's headers; the signature over `signed` (default: the
    body) with `secret` (default: the configured one), or the given header, or none."""
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        mac = hmac.new((secret or listener.jira_secret).encode(), signed or body, hashlib.sha256)
        signature = "sha256=" + mac.hexdigest()
    if signature is not None:
        headers["X-Hub-Signature"] = signature
    headers["X-Atlassian-Webhook-Identifier"] = identifier or uuid.uuid4().hex
    return httpx.post(f"{listener.url}/webhooks/jira", content=body, headers=headers)


def test_a_signed_jira_webhook_starts_the_sync_once_and_a_replay_starts_nothing(listener):
    body = jira_delivery("PORTAL-12", "PORTAL")
    answer = post_jira(listener, body, identifier="delivery-1")
    assert (answer.status_code, answer.json()) == (
        202,
        {"status": "accepted", "projects": ["portal"]},
    )
    wait_for("the portal sync to start", lambda: runs_of(listener.deployment, "portal"))
    wait_for("nothing pending", lambda: listener.debouncer.idle("portal"))
    (run,) = runs_of(listener.deployment, "portal")
    assert run.parameters == {"config": str(listener.config.resolve()), "project": "portal"}
    assert "stagecast-webhook" in run.tags
    # Jira retries a delivery with the same identifier: acted on once.
    again = post_jira(listener, body, identifier="delivery-1")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert listener.debouncer.idle("portal")
    assert len(runs_of(listener.deployment, "portal")) == 1


@pytest.mark.parametrize("why", ["tampered body", "wrong secret", "missing signature"])
def test_a_jira_webhook_with_a_bad_or_missing_signature_is_refused_and_logged_without_it(
    listener, caplog, why
):
    caplog.set_level(logging.INFO, logger="flows.listen")
    body = jira_delivery("PORTAL-13", "PORTAL")
    answer = {
        "tampered body": lambda: post_jira(listener, body.replace(b"Done", b"Todo"), signed=body),
        "wrong secret": lambda: post_jira(listener, body, secret="guessed"),
        "missing signature": lambda: post_jira(listener, body, signature=None),
    }[why]()
    assert answer.status_code == 401
    assert answer.json() == {"status": "refused", "reason": "signature missing or invalid"}
    assert listener.debouncer.idle("portal")
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert line.startswith("refused a Jira webhook from 127.0.0.1: ")
    assert "登录页改版" not in line and "PORTAL-13" not in line
    assert listener.jira_secret not in caplog.text and "sha256=" not in caplog.text


def test_events_for_a_project_or_board_nobody_configured_are_ignored_with_a_log_line(
    listener, caplog
):
    caplog.set_level(logging.INFO, logger="flows.listen")
    ops = post_jira(listener, jira_delivery("OPS-1", "OPS"))
    assert (ops.status_code, ops.json()["status"]) == (200, "ignored")
    assert "no configured project's JQL covers Jira project OPS" in caplog.text
    # The HR project's source has no webhook_secret: its Jira cannot reach it.
    hr = post_jira(listener, jira_delivery("HR-1", "HR"))
    assert (hr.status_code, hr.json()["status"]) == (200, "ignored")
    assert listener.debouncer.idle("unsigned")
    # A board no project uses, with a webhook to us (signed by the same Trello app).
    fake = listener.fake
    stranger = fake.config(listener.stranger, name="stranger")
    BoardWebhooks(stranger).register(f"{listener.url}/webhooks/trello", "stranger")
    fake.move_card(listener.stranger, "5f1000000000000000000002", DONE)
    assert fake.deliveries[-1] == (f"{listener.url}/webhooks/trello", 200)
    assert f"on board {listener.stranger}: no configured project uses the board" in caplog.text


def test_trello_head_check_and_a_forged_trello_webhook(listener):
    head = httpx.head(f"{listener.url}/webhooks/trello")
    assert head.status_code == 200
    body = json.dumps({"action": {"type": "updateCard"}, "model": {"id": listener.board}})
    forged = httpx.post(
        f"{listener.url}/webhooks/trello",
        content=body,
        headers={"X-Trello-Webhook": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert forged.status_code == 401
    assert httpx.get(f"{listener.url}/webhooks/trello").status_code == 405
    assert httpx.get(f"{listener.url}/health").json() == {"status": "ok"}


def test_a_burst_of_card_moves_starts_one_sync_and_never_two_at_once(listener):
    """50 card moves in a burst → one sync; a move while it runs waits for it to end, then
    starts exactly one more."""
    from prefect.client.orchestration import get_client
    from prefect.states import Completed

    fake, board = listener.fake, listener.board
    created = BoardWebhooks(fake.config(board)).register(f"{listener.url}/webhooks/trello", "t")
    assert created.done in ("created", "kept")
    card = "5f1000000000000000000002"
    for i in range(50):
        fake.move_card(board, card, DONE if i % 2 == 0 else DOING)
    delivered = [status for url, status in fake.deliveries[-50:]]
    assert delivered == [202] * 50
    wait_for("the burst's sync", lambda: runs_of(listener.deployment, "cards"), timeout=60)
    wait_for("nothing pending", lambda: listener.debouncer.idle("cards"))
    (first,) = runs_of(listener.deployment, "cards")
    # One more move while that sync is in flight: it waits for the sync to end.
    fake.move_card(board, card, DONE)
    assert fake.deliveries[-1][1] == 202
    assert not listener.debouncer.idle("cards")
    assert len(runs_of(listener.deployment, "cards")) == 1
    with get_client(sync_client=True) as client:  # as the worker would, when the sync is done
        client.set_flow_run_state(first.id, Completed(), force=True)
    wait_for("the next sync", lambda: len(runs_of(listener.deployment, "cards")) == 2)
    assert listener.debouncer.idle("cards")
    later = runs_of(listener.deployment, "cards")[1]
    with get_client(sync_client=True) as client:
        ended = client.read_flow_run(first.id).state.timestamp
    assert later.created > ended


def test_webhooks_register_list_and_remove_the_boards_webhooks(listener, run_cli, tmp_path):
    fake, cfg = listener.fake, str(listener.config)
    callback = f"{listener.url}/webhooks/trello"
    fake.webhooks.clear()
    heads_before = len(fake.seen)
    first = run_cli("webhooks", "register", "-c", cfg)
    assert first.code == 0, first.stdout + first.stderr
    assert f"cards: board {listener.board}: created webhook" in first.stdout
    assert callback in first.stdout
    (hook,) = fake.webhooks.values()
    assert (hook["idModel"], hook["callbackURL"]) == (listener.board, callback)
    assert "cards" in hook["description"]
    assert fake.seen[heads_before:]  # it asked Trello, which checked the URL with a HEAD
    again = run_cli("webhooks", "register", "-c", cfg)
    assert again.code == 0 and "kept webhook" in again.stdout and len(fake.webhooks) == 1
    listed = run_cli("webhooks", "list", "-c", cfg)
    assert f"webhook {hook['id']} → {callback} [active] (stagecast listen)" in listed.stdout
    removed = run_cli("webhooks", "remove", "-c", cfg)
    assert removed.code == 0 and f"removed webhook {hook['id']}" in removed.stdout
    assert fake.webhooks == {}
    assert "no webhooks" in run_cli("webhooks", "list", "-c", cfg).stdout
    # Trello creates nothing when the callback does not answer its HEAD with a 200.
    dead = f"http://127.0.0.1:{free_port()}"
    refused = run_cli("webhooks", "register", "-c", cfg, "--url", dead)
    assert refused.code == 1 and "did not return 200" in refused.stdout
    assert "--url differs from listen.public_url" in refused.stdout
    assert fake.token not in refused.stdout + refused.stderr
    assert fake.webhooks == {}


def test_listen_and_webhooks_refuse_what_cannot_work(tmp_path, run_cli):
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "projects:\n  - {key: p, name: P, sources: "
        '[{type: trello, board: b, key: "env:K", token: "env:T"}]}\n',
        "utf-8",
    )
    out = run_cli("listen", "-c", str(plain))
    assert out.code == 2 and "no jira or trello source has a webhook_secret" in out.stderr
    no_url = run_cli("webhooks", "register", "-c", str(plain))
    assert no_url.code == 2 and "--url: give the public base URL" in no_url.stderr
    signed = tmp_path / "signed.yaml"
    signed.write_text(
        "projects:\n  - {key: p, name: P, sources: [{type: jira, url: https://x.example,"
        ' token: "env:T", jql: project = P, webhook_secret: "env:JIRA_HOOK"}]}\n',
        "utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / "home"), "JIRA_HOOK": "x"}
    unset = subprocess.run(
        [str(STAGECAST), "listen", "-c", str(signed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unset.returncode == 2, unset.stderr
    assert "PREFECT_API_URL is not set" in unset.stderr and "Traceback" not in unset.stderr
