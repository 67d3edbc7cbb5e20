"""The vendors' signing rules and payload readings, against signatures computed the vendors'
documented way in the test (Jira: `sha256=` + hex HMAC-SHA256 of the raw body; Trello: the fake
server's base64 HMAC-SHA1 of the body followed by the callback URL), never with our own code."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from connectors.sources import jira_webhook, trello_webhook
from tests.connectors.fake_jira import issue
from tests.connectors.fake_trello import trello_signature

SECRET = "It's a Secret to Everybody"
CALLBACK = "https://ops.example/stagecast/webhooks/trello"


def jira_payload(key: str = "PORTAL-12", project: str | None = "PORTAL") -> bytes:
    """An `jira:issue_updated` delivery as Jira documents it: the issue moved to Done."""
    found = issue(key, "登录页改版", status="Done", category="done")
    if project is not None:
        found["fields"]["project"] = {"id": "10000", "key": project, "name": "ACME Portal"}
    body = {
        "timestamp": 1795000000000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "acc-1", "displayName": "王工"},
        "issue": found,
        "changelog": {
            "id": "10100",
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": "3",
                    "fromString": "In Progress",
                    "to": "10001",
                    "toString": "Done",
                }
            ],
        },
    }
    return json.dumps(body, ensure_ascii=False).encode()


def jira_signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_jira_signature_made_as_jira_documents_it_is_accepted():
    body = jira_payload()
    assert jira_webhook.signed_by(SECRET, body, jira_signed(body))
    assert jira_webhook.signed_by(
        SECRET, body, jira_signed(body).upper().replace("SHA256", "sha256")
    )


@pytest.mark.parametrize(
    "why",
    ["tampered body", "wrong secret", "missing header", "empty header", "other scheme", "bare hex"],
)
def test_a_jira_signature_that_does_not_fit_is_refused(why):
    body = jira_payload()
    good = jira_signed(body)
    header, sent = {
        "tampered body": (good, body.replace(b"Done", b"Todo")),
        "wrong secret": (jira_signed(body, "another secret"), body),
        "missing header": (None, body),
        "empty header": ("", body),
        "other scheme": ("sha1=" + hashlib.sha1(body).hexdigest(), body),
        "bare hex": (good.removeprefix("sha256="), body),
    }[why]
    assert not jira_webhook.signed_by(SECRET, sent, header)


def test_a_trello_signature_from_the_fake_trello_is_accepted_and_a_changed_one_is_not():
    body = json.dumps({"action": {"type": "updateCard"}, "model": {"id": "b"}}).encode()
    signed = trello_signature(SECRET, body, CALLBACK)
    assert trello_webhook.signed_by(SECRET, body, CALLBACK, signed)
    assert not trello_webhook.signed_by(SECRET, body + b" ", CALLBACK, signed)
    assert not trello_webhook.signed_by("another secret", body, CALLBACK, signed)
    # Trello signs the exact callback URL: another path, or the proxy's inner address, fails.
    assert not trello_webhook.signed_by(SECRET, body, CALLBACK + "/", signed)
    assert not trello_webhook.signed_by(
        SECRET, body, "http://127.0.0.1:8787/webhooks/trello", signed
    )
    assert not trello_webhook.signed_by(SECRET, body, CALLBACK, None)
    assert not trello_webhook.signed_by(SECRET, body, CALLBACK, "not base64 at all ✗")


def test_a_unicode_body_is_signed_over_its_utf8_bytes():
    body = json.dumps({"action": {"data": {"card": {"name": "设计评审 ✅"}}}}, ensure_ascii=False)
    raw = body.encode()
    assert trello_webhook.signed_by(SECRET, raw, CALLBACK, trello_signature(SECRET, raw, CALLBACK))
    assert jira_webhook.signed_by(SECRET, raw, jira_signed(raw))


def test_a_jira_delivery_names_its_event_issue_and_project():
    event = jira_webhook.read_event(jira_payload())
    assert event == jira_webhook.JiraEvent(
        "jira:issue_updated", "PORTAL-12", "PORTAL", "10000", "ACME Portal"
    )
    # A delivery whose issue carries no project (a comment's trimmed issue): the key's prefix.
    trimmed = jira_webhook.read_event(jira_payload("OPS-7", project=None))
    assert trimmed is not None and trimmed.project_key == "OPS"
    assert jira_webhook.read_event(b"[1, 2]") is None
    assert jira_webhook.read_event(b"\xff not json") is None


@pytest.mark.parametrize(
    ("jql", "projects"),
    [
        ("project = PORTAL", {"PORTAL"}),
        ("project=portal ORDER BY updated DESC", {"PORTAL"}),
        ('project in (PORTAL, "ACME Portal", 10000) AND status != Done',
         {"PORTAL", "ACME PORTAL", "10000"}),
        ("(project = A) AND project in (A, B)", {"A"}),
        ('summary ~ "project = X or y" AND project = Y', {"Y"}),
        ("project = PORTAL OR labels = urgent", None),  # an OR could widen it: cannot tell
        ("project != PORTAL", None),
        ("NOT project in (PORTAL)", None),
        ("labels = acme", None),
        ("filter = 10010", None),
    ],
)  # fmt: skip
def test_the_jira_projects_a_source_jql_is_bounded_to(jql, projects):
    expected = None if projects is None else frozenset(projects)
    assert jira_webhook.jql_projects(jql) == expected


def test_an_issue_is_covered_by_a_jql_naming_its_project_by_key_id_or_name():
    event = jira_webhook.read_event(jira_payload())
    assert event is not None
    assert jira_webhook.covers("project = PORTAL", event)
    assert jira_webhook.covers("project = 10000", event)
    assert jira_webhook.covers('project = "acme portal"', event)
    assert jira_webhook.covers("labels = acme", event)  # names no project: a sync decides
    assert not jira_webhook.covers("project in (OPS, HR)", event)


def test_a_trello_delivery_names_its_board_by_id_and_short_link():
    body = {
        "action": {
            "id": "5f15a00000000000000000c1",
            "type": "updateCard",
            "data": {
                "board": {"id": "5f0000000000000000000001", "shortLink": "CGKHU6vL"},
                "listBefore": {"id": "l1", "name": "Doing"},
                "listAfter": {"id": "l2", "name": "Done"},
            },
        },
        "model": {"id": "5f0000000000000000000001", "shortUrl": "https://trello.com/b/CGKHU6vL"},
    }
    event = trello_webhook.read_event(json.dumps(body).encode())
    assert event == trello_webhook.TrelloEvent(
        "updateCard", frozenset({"5f0000000000000000000001", "CGKHU6vL"})
    )
    assert trello_webhook.read_event(b'"text"') is None


def test_the_callback_is_under_the_public_base_url():
    assert trello_webhook.callback_url("https://ops.example/stagecast/") == CALLBACK
