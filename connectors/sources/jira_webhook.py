"""Jira's admin webhooks as `stagecast listen` receives them: the signature, the delivery's
identity, and which issue and Jira project a delivery is about.

What Jira documents (Cloud, and Data Center 10):
- an admin webhook created with a Secret signs every request: `X-Hub-Signature:
  sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>` (WebSub's `method=signature`);
  a webhook without a secret sends no header, and `listen` refuses it;
- `X-Atlassian-Webhook-Identifier` names the delivery and stays the same when Jira retries it
  (Cloud retries on 408, 409, 425, 429, 5xx and timeouts, for up to about 30 minutes), so a
  receiver that remembers it acts once;
- the body: `webhookEvent` (`jira:issue_created`, `jira:issue_updated`, `jira:issue_deleted`,
  `comment_created`…), the `issue` with its `key` and `fields.project` (`id`, `key`, `name`),
  and for an update the `changelog` of what changed.

Which configured Jira source an issue belongs to is read from the source's own JQL, the query
its sync runs: see `jql_projects`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.sources.jira import split_order_by

SIGNATURE_HEADER = "X-Hub-Signature"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
_SCHEME = "sha256="


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` value Jira sends for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def signed_by(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret`, compared in constant time.
    A missing header, another scheme or a malformed digest is simply not a match."""
    if not header or header[: len(_SCHEME)].lower() != _SCHEME:
        return False
    given = header[len(_SCHEME) :].strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(given, signature(secret, body)[len(_SCHEME) :].encode())


@dataclass(frozen=True)
class JiraEvent:
    """What a delivery is about: its event name, the issue and the issue's Jira project."""

    kind: str
    issue: str | None
    project_key: str | None
    project_id: str | None
    project_name: str | None

    def names(self) -> frozenset[str]:
        """How JQL may name the project (key, id or name), upper-cased as JQL compares."""
        found = (self.project_key, self.project_id, self.project_name)
        return frozenset(name.upper() for name in found if name)


def read_event(body: bytes) -> JiraEvent | None:
    """The event of a verified body; None when it is not a JSON object (nothing to act on).

    The project comes from `issue.fields.project`, else from the issue key's prefix
    (`PORTAL-12` → `PORTAL`): some events (a comment's) carry a trimmed issue.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, Mapping):
        return None
    issue = _mapping(payload.get("issue"))
    project = _mapping(_mapping(issue.get("fields")).get("project"))
    key = _text(issue.get("key"))
    project_key = _text(project.get("key")) or (key.rpartition("-")[0] or None if key else None)
    return JiraEvent(
        kind=_text(payload.get("webhookEvent")) or "unknown",
        issue=key,
        project_key=project_key,
        project_id=_text(project.get("id")),
        project_name=_text(project.get("name")),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    """A string or number from the payload as text; anything else is absent."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


# `project = X`, `project in (X, "Y Z", 10000)`: the clauses that bound a query to projects.
_PROJECT_CLAUSE = re.compile(r"(?<![\w.])project\s*(?:(=)\s*(\S+)|in\s*\(([^)]*)\))", re.IGNORECASE)
_OR = re.compile(r"(?<![\w.])or(?![\w.])", re.IGNORECASE)
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def jql_projects(jql: str) -> frozenset[str] | None:
    """The Jira projects (keys, ids or names, upper-cased) a source's JQL is bounded to, or
    None when the query does not say: it names no project, or an OR could widen it.

    Only positive clauses count (`project = X`, `project in (…)`), joined by AND (each one
    narrows the set further); `project != X` or `NOT IN` alone bound nothing. Quoted text
    (`summary ~ "project = X or y"`) is masked first, so words inside it are not clauses.
    """
    where, _ = split_order_by(jql)
    strings: list[str] = []

    def hide(match: re.Match[str]) -> str:
        strings.append(match.group(0))
        return f"\x00{len(strings) - 1}\x00"

    masked = _STRING.sub(hide, where)
    if _OR.search(masked):
        return None
    bound: frozenset[str] | None = None
    for match in _PROJECT_CLAUSE.finditer(masked):
        before = masked[: match.start()].rstrip()
        if re.search(r"(?<![\w.])not$", before, re.IGNORECASE):
            continue  # NOT project in (…): a negative clause bounds nothing
        values = [match.group(2)] if match.group(1) else match.group(3).split(",")
        names = frozenset(_unquote(v.strip(), strings).upper() for v in values if v.strip())
        bound = names if bound is None else bound & names
    return bound


def _unquote(value: str, strings: list[str]) -> str:
    """A JQL value as written: a masked string restored without its quotes, or the bare word
    (a trailing parenthesis of an enclosing group dropped)."""
    value = value.rstrip(")")
    found = re.fullmatch(r"\x00(\d+)\x00", value)
    if found:
        return re.sub(r"\\(.)", r"\1", strings[int(found[1])][1:-1])
    return value


def covers(jql: str, event: JiraEvent) -> bool:
    """Whether an issue event may concern the source with this JQL: its project is one the
    JQL names, or the JQL names none (then a sync decides, which costs one incremental pull)."""
    projects = jql_projects(jql)
    if projects is None:
        return True
    return bool(projects & event.names())
