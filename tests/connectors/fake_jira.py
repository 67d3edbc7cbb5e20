"""A small local Jira (Cloud or Data Center) that speaks the documented REST shapes, for tests.

It serves what stagecast's Jira source reads, through the real `jira` library:
- `/rest/api/{2,3}/serverInfo` with `deploymentType` (Cloud, Server or DataCenter);
- `/rest/api/{2,3}/field`, with Jira Software's Flagged, Sprint and Epic Link custom fields;
- Cloud: `/rest/api/{2,3}/search/jql` (GET and POST) paged by `nextPageToken` (no total; the
  last page has no token; `page_cap` makes pages smaller than asked), while the old
  `/rest/api/{2,3}/search` answers 410 Gone as on real Cloud;
- Data Center: `/rest/api/2/search` paged by `startAt`/`maxResults`/`total`; no API v3.

Issues are stored in API v3 JSON (ADF comments); v2 answers flatten ADF to plain text, as real
Jira does. A small JQL subset is understood: `project = X`, `project in (X, Y)`, `key = X`,
`updated >= "yyyy-MM-dd HH:mm"` (read in `user_tz`, as Jira reads it in the user's timezone),
joined by AND, in parentheses, and `ORDER BY key|created|updated [ASC|DESC]`; anything else is a
400 like Jira's. A search returns the fields asked for that the site knows (listed in `fields`)
and leaves out the others, as Jira does with ids it does not know. Knobs: credentials (basic
email + token, or a bearer PAT), injected faults (a status with headers, or a slow answer),
latency; it counts requests per path and the peak of requests in flight.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

FLAGGED_ID = "customfield_10021"
SPRINT_ID = "customfield_10020"
EPIC_LINK_ID = "customfield_10014"
SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"

CLOUD_SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)

_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


def _system_field(fid: str, name: str, kind: str, clauses: Sequence[str]) -> dict[str, Any]:
    """A system field as `/field` lists it."""
    return {
        "id": fid,
        "key": fid,
        "name": name,
        "custom": False,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": list(clauses),
        "schema": {"type": kind, "system": fid},
    }


def _custom_field(fid: str, name: str, kind: str, custom: str, **schema: Any) -> dict[str, Any]:
    """A custom field as `/field` lists it (schema.custom names the plugin type)."""
    number = int(fid.rsplit("_", 1)[1])
    return {
        "id": fid,
        "key": fid,
        "name": name,
        "untranslatedName": name,
        "custom": True,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [f"cf[{number}]", name],
        "schema": {"type": kind, "custom": custom, "customId": number, **schema},
    }


FIELDS: list[dict[str, Any]] = [
    _system_field("summary", "Summary", "string", ["summary"]),
    _system_field("status", "Status", "status", ["status"]),
    _system_field("issuetype", "Issue Type", "issuetype", ["issuetype", "type"]),
    _system_field("assignee", "Assignee", "user", ["assignee"]),
    _system_field("duedate", "Due date", "date", ["due", "duedate"]),
    _system_field("created", "Created", "datetime", ["created", "createdDate"]),
    _system_field("updated", "Updated", "datetime", ["updated", "updatedDate"]),
    _system_field("resolutiondate", "Resolved", "datetime", ["resolutiondate", "resolved"]),
    _system_field(
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        ["statusCategoryChangedDate"],
    ),
    _system_field("labels", "Labels", "array", ["labels"]),
    _system_field("priority", "Priority", "priority", ["priority"]),
    _system_field("resolution", "Resolution", "resolution", ["resolution"]),
    _system_field("fixVersions", "Fix versions", "array", ["fixVersion"]),
    _system_field("parent", "Parent", "issuelink", ["parent"]),
    _system_field("comment", "Comment", "comments-page", ["comment"]),
    _system_field("description", "Description", "string", ["description"]),
    _custom_field(
        FLAGGED_ID,
        "Flagged",
        "array",
        "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        items="option",
    ),
    _custom_field(SPRINT_ID, "Sprint", "array", SPRINT_SCHEMA, items="json"),
    _custom_field(EPIC_LINK_ID, "Epic Link", "any", EPIC_LINK_SCHEMA),
]


# --- building issues ----------------------------------------------------------------------


def adf(*paragraphs: str | dict[str, Any]) -> dict[str, Any]:
    """An ADF document: each str is a paragraph of text, each dict an ADF block as given."""
    content = [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} if isinstance(p, str) else p
        for p in paragraphs
    ]
    return {"type": "doc", "version": 1, "content": content}


def version(name: str, release_date: str | None = None, *, released: bool = False) -> dict:
    """A fix version as an issue's `fixVersions` lists it."""
    found = {"self": "", "id": str(10000 + len(name)), "name": name, "archived": False}
    found["released"] = released
    if release_date is not None:
        found["releaseDate"] = release_date
    return found


def sprint(
    sid: int, name: str, state: str = "closed", start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    """A sprint as the Sprint field holds it (Cloud, and Data Center's REST v2 since 8.x)."""
    found: dict[str, Any] = {"id": sid, "name": name, "state": state, "boardId": 1, "goal": ""}
    if start:
        found["startDate"] = start
    if end:
        found["endDate"] = end
    return found


def issue(
    key: str,
    summary: str = "",
    *,
    id: str | None = None,
    status: str = "To Do",
    category: str = "new",
    type: str = "Task",
    subtask: bool = False,
    hierarchy: int | None = None,
    assignee: str | None = None,
    due: str | None = None,
    created: str = "2026-11-02T09:00:00.000+0800",
    updated: str = "2026-11-10T09:00:00.000+0800",
    resolutiondate: str | None = None,
    category_changed: str | None = None,
    labels: Sequence[str] = (),
    priority: str | None = "Medium",
    resolution: str | None = None,
    fix_versions: Sequence[dict[str, Any]] = (),
    sprints: Sequence[dict[str, Any]] = (),
    parent: dict[str, Any] | None = None,
    epic_link: str | None = None,
    flagged: bool = False,
    comments: Sequence[str | dict[str, Any]] = (),
) -> dict[str, Any]:
    """One issue in Jira's REST v3 JSON, with only what the test says and sensible defaults."""
    issue_id = id or str(zlib.crc32(key.encode()) % 10**8)
    level = (
        hierarchy if hierarchy is not None else (-1 if subtask else (1 if type == "Epic" else 0))
    )
    fields: dict[str, Any] = {
        "summary": summary or f"{key} summary",
        "status": {
            "name": status,
            "id": str(1 + len(status)),
            "statusCategory": _CATEGORIES[category],
        },
        "issuetype": {"id": "10001", "name": type, "subtask": subtask, "hierarchyLevel": level},
        "assignee": _user(assignee) if assignee else None,
        "duedate": due,
        "created": created,
        "updated": updated,
        "resolutiondate": resolutiondate,
        "statuscategorychangedate": category_changed or updated,
        "labels": list(labels),
        "priority": {"name": priority, "id": "3"} if priority else None,
        "resolution": {"name": resolution, "id": "10000"} if resolution else None,
        "fixVersions": list(fix_versions),
        "comment": _comments(comments),
        "description": adf(f"Description of {key}"),
        FLAGGED_ID: [{"value": "Impediment", "id": "10019"}] if flagged else None,
        SPRINT_ID: list(sprints) or None,
        EPIC_LINK_ID: epic_link,
    }
    if parent is not None:
        fields["parent"] = parent
    project = key.rsplit("-", 1)[0]
    return {"id": issue_id, "key": key, "self": "", "project": project, "fields": fields}


def parent_of(epic: dict[str, Any]) -> dict[str, Any]:
    """The `parent` field pointing at an issue (an epic, or a sub-task's parent)."""
    f = epic["fields"]
    return {
        "id": epic["id"],
        "key": epic["key"],
        "fields": {
            "summary": f["summary"],
            "status": f["status"],
            "priority": f["priority"],
            "issuetype": f["issuetype"],
        },
    }


def _user(name: str) -> dict[str, Any]:
    """A user as fields show them (Cloud: accountId; display name is what people read)."""
    return {"accountId": f"acc-{abs(hash(name)) % 10**6}", "displayName": name, "active": True}


def _comments(bodies: Sequence[str | dict[str, Any]]) -> dict[str, Any]:
    """The `comment` field: a page of comments, oldest first, bodies in ADF."""
    comments = [
        {
            "id": str(20000 + n),
            "author": _user("王工"),
            "body": adf(body) if isinstance(body, str) else body,
            "created": f"2026-11-0{min(n + 1, 9)}T10:00:00.000+0800",
        }
        for n, body in enumerate(bodies)
    ]
    return {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0}


# --- JQL subset ---------------------------------------------------------------------------


class JqlError(ValueError):
    """A query outside the subset this server understands: a 400 like Jira's."""


_ORDER = re.compile(r"\s*\border\s+by\s+(.+)$", re.IGNORECASE | re.DOTALL)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_ATOM = re.compile(r"^(\w+)\s*(=|>=|>|in)\s*(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Query:
    """A parsed query: conditions on issues, then an order."""

    conditions: tuple[Callable[[dict[str, Any]], bool], ...]
    order: tuple[tuple[str, bool], ...]

    def run(self, issues: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The matching issues, ordered (stable, so the stored order breaks ties)."""
        found = [i for i in issues if all(c(i) for c in self.conditions)]
        for name, descending in reversed(self.order):
            found.sort(key=lambda i, n=name: _sort_key(i, n), reverse=descending)
        return found


def parse_jql(jql: str, user_tz: ZoneInfo) -> Query:
    """Parse the JQL subset; raise JqlError for anything else."""
    order: tuple[tuple[str, bool], ...] = ()
    match = _ORDER.search(jql)
    if match:
        jql = jql[: match.start()]
        order = tuple(_order_term(term) for term in match.group(1).split(","))
    text = jql.strip()
    conditions = tuple(_atom(part, user_tz) for part in _split_and(text)) if text else ()
    return Query(conditions, order)


def _split_and(text: str) -> list[str]:
    """Top-level AND parts, with redundant outer parentheses removed."""
    text = _unwrap(text.strip())
    parts, depth, start = [], 0, 0
    for match in _AND.finditer(text):
        depth = text[: match.start()].count("(") - text[: match.start()].count(")")
        if depth == 0:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    if len(parts) == 1:
        return [text]
    return [atom for part in parts for atom in _split_and(part)]


def _unwrap(text: str) -> str:
    """`(a AND b)` → `a AND b` when the parentheses enclose the whole text."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for n, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and n < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def _value(text: str) -> str:
    """A JQL value: quoted or bare."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _atom(text: str, user_tz: ZoneInfo) -> Callable[[dict[str, Any]], bool]:
    """One condition of the subset."""
    match = _ATOM.match(text.strip())
    if not match or re.search(r"\bor\b", text, re.IGNORECASE):
        raise JqlError(f"Error in the JQL Query: unsupported clause '{text.strip()}'")
    name, op, raw = match.group(1).lower(), match.group(2).lower(), match.group(3)
    value = _value(raw)
    if name == "project" and op == "=":
        return lambda i: i["project"].lower() == value.lower()
    if name == "project" and op == "in":
        wanted = {_value(v).lower() for v in raw.strip().strip("()").split(",")}
        return lambda i: i["project"].lower() in wanted
    if name == "key" and op == "=":
        return lambda i: i["key"] == value
    if name == "updated" and op in (">=", ">"):
        since = _jql_moment(value, user_tz)
        if op == ">=":
            return lambda i: _moment(i["fields"]["updated"]) >= since
        return lambda i: _moment(i["fields"]["updated"]) > since
    raise JqlError(f"Error in the JQL Query: unsupported clause '{text.strip()}'")


def _jql_moment(text: str, user_tz: ZoneInfo) -> datetime:
    """A JQL date or date-time, read in the user's timezone as Jira reads it."""
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=user_tz)
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field 'updated' is invalid.")


def _moment(text: str) -> datetime:
    """An issue timestamp (`2026-11-20T10:15:30.000+0800`)."""
    return datetime.fromisoformat(text)


def _order_term(term: str) -> tuple[str, bool]:
    """`updated DESC` → ("updated", True)."""
    words = term.split()
    if not words or words[0].lower() not in ("key", "created", "updated"):
        raise JqlError(f"Error in the JQL Query: cannot order by '{term.strip()}'")
    return words[0].lower(), len(words) > 1 and words[1].lower() == "desc"


def _sort_key(item: dict[str, Any], name: str) -> Any:
    """What ORDER BY compares: key by project then number; times as moments."""
    if name == "key":
        project, number = item["key"].rsplit("-", 1)
        return (project, int(number))
    return _moment(item["fields"][name])


# --- the server ---------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected answer for requests whose path starts with `path`."""

    path: str
    status: int | None  # None: answer normally, after `delay`
    headers: dict[str, str]
    body: Any
    delay: float
    times: int


@dataclass
class Search:
    """One search request as the server received it."""

    path: str
    jql: str
    fields: list[str]
    max_results: int | None
    token: str | None = None
    start_at: int | None = None


@dataclass
class FakeJira:
    """A Jira site on 127.0.0.1: start it with `with FakeJira(...) as jira:`."""

    deployment: str = "Cloud"
    email: str | None = "pm@acme.example"
    token: str | None = "atl-token-9f8e7d"
    page_cap: int | None = None
    latency: float = 0.0
    user_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    issues: list[dict[str, Any]] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=lambda: [dict(f) for f in FIELDS])
    counts: Counter[str] = field(default_factory=Counter)
    searches: list[Search] = field(default_factory=list)
    peak: int = 0
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def cloud(self) -> bool:
        return self.deployment == "Cloud"

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, *issues: dict[str, Any]) -> FakeJira:
        """Store issues, in order."""
        self.issues.extend(issues)
        return self

    def inject(
        self,
        status: int | None = None,
        *,
        path: str = "/rest/api",
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests under `path` with `status` (or slowly, if None)."""
        with self._lock:
            self._faults.append(Fault(path, status, headers or {}, body, delay, times))

    def requests_to(self, path: str) -> int:
        """How many requests (any method) reached exactly this path."""
        return sum(n for what, n in self.counts.items() if what.split(" ", 1)[1] == path)

    @property
    def total_requests(self) -> int:
        return sum(self.counts.values())

    def __enter__(self) -> FakeJira:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- what the handler calls -----------------------------------------------------------

    def _enter(self, method: str, path: str) -> Fault | None:
        """Count the request, track concurrency, take a matching fault."""
        with self._lock:
            self.counts[f"{method} {path}"] += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            for fault in self._faults:
                if path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _authorised(self, header: str | None) -> bool:
        """Basic email:token when an email is set, else a bearer PAT; no credentials: open."""
        if self.token is None:
            return True
        if self.email is not None:
            pair = f"{self.email}:{self.token}".encode()
            return header == "Basic " + base64.b64encode(pair).decode()
        return header == f"Bearer {self.token}"

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        """Route one request; returns (status, payload)."""
        match = re.fullmatch(r"/rest/api/(2|3|latest)/(.+)", path)
        if not match or (match.group(1) == "3" and not self.cloud):
            return 404, {"errorMessages": [f"null for uri: {path}"]}
        api, resource = match.group(1), match.group(2)
        if resource == "serverInfo":
            return 200, self._server_info()
        if resource == "field":
            return 200, self.fields
        if resource == "search/jql" and self.cloud:
            return self._search_jql(path, api, _params(method, query, body))
        if resource == "search":
            if self.cloud:
                return 410, {"errorMessages": [CLOUD_SEARCH_GONE], "errors": {}}
            return self._search(path, _params(method, query, body))
        return 404, {"errorMessages": [f"null for uri: {path}"]}

    def _server_info(self) -> dict[str, Any]:
        cloud = self.cloud
        return {
            "baseUrl": self.url,
            "displayUrl": self.url,
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 15],
            "deploymentType": self.deployment,
            "buildNumber": 100290 if cloud else 9120015,
            "buildDate": "2026-11-01T00:00:00.000+0000",
            "serverTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "scmInfo": "0" * 40,
            "serverTitle": "Jira",
        }

    def _select(self, jql: str) -> list[dict[str, Any]] | Any:
        """Run the JQL over the stored issues; a tuple (400, body) when it is not understood."""
        try:
            return parse_jql(jql, self.user_tz).run(self.issues)
        except JqlError as err:
            return (400, {"errorMessages": [str(err)], "errors": {}})

    def _search_jql(self, path: str, api: str, params: dict[str, Any]) -> Any:
        """Cloud's enhanced search: token pages, no total, maybe smaller than asked."""
        jql, wanted = str(params.get("jql") or ""), _field_names(params.get("fields"))
        token, asked = params.get("nextPageToken"), _int(params.get("maxResults"), 50)
        with self._lock:
            self.searches.append(Search(path, jql, wanted, asked, token=token))
        found = self._select(jql)
        if isinstance(found, tuple):
            return found
        offset = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                offset, same = int(state["o"]), state["q"] == jql
            except (ValueError, KeyError, TypeError):
                same = False
            if not same:
                message = "The provided next page token is invalid or expired."
                return 400, {"errorMessages": [message], "errors": {}}
        size = max(1, min(asked, self.page_cap or 5000, 5000))
        page = found[offset : offset + size]
        answer: dict[str, Any] = {
            "issues": [self._render(i, api, wanted) for i in page],
            "isLast": offset + size >= len(found),
        }
        if not answer["isLast"]:
            state = json.dumps({"o": offset + size, "q": jql}).encode()
            answer["nextPageToken"] = base64.urlsafe_b64encode(state).decode()
        return 200, answer

    def _search(self, path: str, params: dict[str, Any]) -> Any:
        """Data Center's search: startAt/maxResults/total."""
        jql, wanted = str(params.get("jql") or ""), _field_names(params.get("fields"))
        start, asked = _int(params.get("startAt"), 0), _int(params.get("maxResults"), 50)
        with self._lock:
            self.searches.append(Search(path, jql, wanted, asked, start_at=start))
        found = self._select(jql)
        if isinstance(found, tuple):
            return found
        size = max(0, min(asked, self.page_cap or 1000, 1000))
        page = found[start : start + size]
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(found),
            "issues": [self._render(i, "2", wanted) for i in page],
        }

    def _render(self, stored: dict[str, Any], api: str, wanted: list[str]) -> dict[str, Any]:
        """An issue as a search returns it: requested fields only; v2 bodies as plain text."""
        everything = not wanted or "*all" in wanted or "*navigable" in wanted
        known = {found["id"] for found in self.fields}  # as Jira, leave out fields it lacks
        fields = {
            name: value
            for name, value in stored["fields"].items()
            if (everything or name in wanted) and name in known
        }
        if api != "3" and "comment" in fields:
            fields["comment"] = _plain_comments(fields["comment"])
        if api != "3" and isinstance(fields.get("description"), dict):
            fields["description"] = _plain(fields["description"])
        base = f"{self.url}/rest/api/{api}/issue/{stored['id']}"
        rendered = {"expand": "operations,editmeta,changelog", "id": stored["id"], "self": base}
        if "key" in stored:
            rendered["key"] = stored["key"]
        rendered["fields"] = fields
        return rendered


def _params(method: str, query: dict[str, list[str]], body: Any) -> dict[str, Any]:
    """Search parameters from a GET query (repeated `fields`) or a POST JSON body."""
    if method == "POST" and isinstance(body, dict):
        return body
    params: dict[str, Any] = {name: values[-1] for name, values in query.items()}
    params["fields"] = query.get("fields", [])
    return params


def _field_names(value: Any) -> list[str]:
    """`fields` as a list or comma-separated, repeated or not."""
    items = value if isinstance(value, list) else [value] if value else []
    return [name.strip() for item in items for name in str(item).split(",") if name.strip()]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _plain(doc: Any) -> str:
    """What API v2 shows for an ADF body: its text, paragraphs on their own lines."""
    if isinstance(doc, str):
        return doc
    lines = []
    for block in doc.get("content", []):
        lines.append("".join(n.get("text", "") for n in block.get("content", [])))
    return "\n".join(lines)


def _plain_comments(page: dict[str, Any]) -> dict[str, Any]:
    """A comment page with plain-text bodies (v2)."""
    comments = [{**c, "body": _plain(c["body"])} for c in page.get("comments", [])]
    return {**page, "comments": comments}


def _handler_for(jira: FakeJira) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to one fake site."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fault = jira._enter(method, parts.path)
            try:
                time.sleep(jira.latency + (fault.delay if fault else 0.0))
                status, payload, headers = self._decide(method, parts, raw, fault)
            finally:
                jira._leave()
            self._send(status, payload, headers)

        def _decide(self, method: str, parts: Any, raw: bytes, fault: Fault | None) -> Any:
            if not jira._authorised(self.headers.get("Authorization")):
                body = {"errorMessages": ["You are not authenticated."], "errors": {}}
                return 401, body, {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
            if fault is not None and fault.status is not None:
                body = fault.body if fault.body is not None else {"errorMessages": ["injected"]}
                return fault.status, body, fault.headers
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return 400, {"errorMessages": ["Invalid JSON body"]}, {}
            status, payload = jira.answer(method, parts.path, parse_qs(parts.query), body)
            return status, payload, {}

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read counts, not access logs."""

    return Handler


# --- the shared contract suite's case -----------------------------------------------------


def contract_issues() -> list[dict[str, Any]]:
    """A small standard project: todo, in progress, done, blocked; plus an epic and a sub-task."""
    epic = issue("CASE-10", "门户一期", type="Epic", category="indeterminate", status="In Progress")
    return [
        epic,
        issue("CASE-1", "登录页面 🚀", fix_versions=[version("v1.0", "2026-12-01")]),
        issue(
            "CASE-2",
            "Order API",
            status="In Progress",
            category="indeterminate",
            assignee="张三",
            fix_versions=[version("v1.0", "2026-12-01")],
            parent=parent_of(epic),
        ),
        issue(
            "CASE-3",
            "需求评审",
            status="Done",
            category="done",
            resolution="Done",
            resolutiondate="2026-11-18T16:30:00.000+0800",
            fix_versions=[version("v1.0", "2026-12-01")],
        ),
        issue(
            "CASE-4",
            "Payment gateway",
            status="In Progress",
            category="indeterminate",
            flagged=True,
            fix_versions=[version("v1.1")],
        ),
        issue("CASE-5", "Sub-task of CASE-2", type="Sub-task", subtask=True),
    ]


@contextmanager
def contract_case() -> Iterator[tuple[Any, list[str]]]:
    """A Jira source over a local Cloud site holding the standard project, and its task keys."""
    from connectors.sources.jira import JiraSource
    from stagecast.config import JiraSourceConfig

    variable = f"STAGECAST_FAKE_JIRA_TOKEN_{uuid.uuid4().hex[:8].upper()}"
    with FakeJira() as site, _environment(variable, site.token or ""):
        site.add(*contract_issues())
        cfg = JiraSourceConfig.model_validate(
            {
                "type": "jira",
                "url": site.url,
                "email": site.email,
                "token": f"env:{variable}",
                "jql": "project = CASE",
                "timeout_seconds": 5,
            }
        )
        yield JiraSource(cfg, sleep=lambda seconds: None), ["CASE-1", "CASE-2", "CASE-3", "CASE-4"]


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the duration, then put it back as it was."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
