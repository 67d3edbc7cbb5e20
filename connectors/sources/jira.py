"""Jira Cloud and Data Center issues as tasks (SPEC §3), read through the `jira` library, gently.

A pull:
1. knows which Jira this is (`serverInfo`'s `deploymentType`, never guessed from the URL) and
   the ids of Flagged (and Sprint / Epic Link when `stage_field` needs them) from `/field`:
   learnt once a day per site and account and shared by every project (`jira_site.SiteCache`);
   a search that shows them wrong has them learnt again, once, and is retried;
2. searches for only the fields the pipeline reads: Cloud pages `/rest/api/3/search/jql` by
   `nextPageToken` (no total, pages may be short), Data Center pages `/rest/api/2/search` by
   `startAt`/`total`;
3. normalises each issue to a `Task`; a malformed one is skipped with a warning naming it.

So a pull of a project that did not change is one request, and a full pull one per page.

Gentleness (SPEC §9): every HTTP request goes through `_PoliteAdapter`, mounted on the
library's session. It holds one of the host's slots (`HOST_LIMITS`, shared by every project on
that host) and retries by stagecast's `RetryPolicy`: 429/503 wait for `Retry-After`, other 5xx
and timeouts back off with jitter, a bounded number of tries. The library's own retries are off
(`max_retries=0`: its `ResilientSession` then sends once and never sleeps), so the two never
stack.

Incremental pulls search `(<jql>) AND updated >= "<cursor − OVERLAP>"`, see `OVERLAP`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from jira import JIRA, JIRAError
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError

from connectors.http import (
    HOST_LIMITS,
    HostLimits,
    RetryPolicy,
    Try,
    Unavailable,
    again,
    final,
    retrying,
    status_of,
    status_try,
    succeeded,
)
from connectors.secrets import reveal
from connectors.sources.base import PullRequest, SourceError
from connectors.sources.jira_site import (
    SITES,
    FieldIds,
    SiteCache,
    SiteFacts,
    SiteKey,
    site_fields,
)
from stagecast.adf import adf_to_text
from stagecast.config import ConfigError, SecretRef
from stagecast.models import SourcePull, Task, TaskState
from stagecast.normalise import looks_blocked, parse_moment

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]
Issue = Mapping[str, Any]

# Cloud's search/jql allows up to 100 issues a page when fields are asked for; DC's default cap
# is 1000. A page may come back shorter: paging follows the token or the total, never the size.
PAGE_SIZE = 100

# JQL reads `updated >= "yyyy-MM-dd HH:mm"` in the Jira *user's* timezone, which we do not know.
# We write the cursor in UTC and start the window this much earlier. The harmful case is a user
# west of UTC (the window would start late): the most western offset in use is UTC−12, so 12 h
# suffice; 2 h more absorb clock skew between us and Jira and Cloud's search-index lag. Users
# east of UTC only widen the window. Issues seen twice are de-duplicated by id.
OVERLAP = timedelta(hours=14)

# What the pipeline reads; everything else stays on Jira's side (search payloads are big).
BASE_FIELDS: tuple[str, ...] = (
    "summary",
    "status",
    "issuetype",
    "assignee",
    "duedate",
    "created",
    "updated",
    "resolutiondate",
    "statuscategorychangedate",
    "labels",
    "priority",
    "resolution",
    "fixVersions",
    "parent",
    "comment",
)

_STATES: dict[str, TaskState] = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
_EARLIEST = datetime.min.replace(tzinfo=UTC)


# --- HTTP: slots and retries --------------------------------------------------------------


class _PoliteAdapter(HTTPAdapter):
    """Each request holds a slot of the host's limit and is retried by stagecast's policy."""

    def __init__(
        self, url: str, limit: int, policy: RetryPolicy, sleep: Sleep, limits: HostLimits
    ) -> None:
        super().__init__()
        self.url, self.limit, self.limits = url, limit, limits
        self.policy, self.sleep = policy, sleep
        self.describe = f"Jira {urlsplit(url).hostname}"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send through the one retry engine; the first answer not worth retrying is returned
        as it is."""
        path = urlsplit(request.url or "").path

        def warn(reason: str, wait: float) -> None:
            logger.warning("%s: %s; trying again in %.1fs", self.describe, reason, wait)

        result = retrying(
            self.policy, lambda: self._once(request, path, kwargs), sleep=self.sleep, warn=warn
        )
        if result.done and result.value is not None:
            return result.value
        raise Unavailable(f"{self.describe}: {result.reason}", status=status_of(result.reason))

    def _once(
        self, request: requests.PreparedRequest, path: str, kwargs: dict[str, Any]
    ) -> Try[requests.Response]:
        """One try, described for the engine."""
        try:
            response = self._send_in_slot(request, **kwargs)
        except requests.exceptions.SSLError:
            return final(f"TLS failed for {path}")
        except requests.Timeout:
            return again(f"timed out for {path}")
        except (requests.ConnectionError, ChunkedEncodingError) as err:
            return again(f"connection failed ({type(err).__name__}) for {path}")
        retry = status_try(response.status_code, response.headers)
        if retry is None:
            return succeeded(response)
        response.close()
        return replace(retry, reason=f"{retry.reason} for {path}")

    def _send_in_slot(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """One try, the body read while the slot is held (the request ends when the body does)."""
        with self.limits.slot(self.url, self.limit):
            response = super().send(request, **kwargs)
            _ = response.content
        return response


class _Jira(JIRA):
    """The library's client, which never reads `/field` on its own."""

    @property
    def _fields_cache(self) -> dict[str, str]:
        """No translation of field names: we ask for fields by id, so the library need not
        fetch `/field` for every client (its searches would, to translate JQL names)."""
        return {}


class _Clients:
    """A pull's clients, one per REST API version, made when first needed."""

    def __init__(self, make: Callable[[str], JIRA]) -> None:
        self._make = make
        self._made: dict[str, JIRA] = {}

    def __call__(self, api: str) -> JIRA:
        if api not in self._made:
            self._made[api] = self._make(api)
        return self._made[api]


# --- fields and JQL -----------------------------------------------------------------------


class _FactsDisagree(Exception):
    """A search showed the site's remembered facts wrong: learn them again, retry once."""


def _field_missing(issues: list[Any], expected: Iterable[str]) -> str | None:
    """A custom field asked for that no issue of a page carries, not even as null. Jira
    leaves out the fields it does not know, so the field ids we know are out of date."""
    carried = [
        i["fields"]
        for i in issues
        if isinstance(i, Mapping) and isinstance(i.get("fields"), Mapping)
    ]
    if not carried:
        return None
    return next((fid for fid in expected if not any(fid in f for f in carried)), None)


_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def split_order_by(jql: str) -> tuple[str, str]:
    """The query's condition and its `ORDER BY …` clause (found outside quoted text)."""
    for match in _ORDER_BY.finditer(jql):
        if not _inside_quotes(jql[: match.start()]):
            return jql[: match.start()].strip(), jql[match.start() :].strip()
    return jql.strip(), ""


def _inside_quotes(text: str) -> bool:
    """Whether the end of `text` lies inside a JQL string literal."""
    quote: str | None = None
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quote is not None:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
    return quote is not None


def incremental_jql(jql: str, since: datetime) -> str:
    """`(<jql>) AND updated >= "<since in UTC>"`, the user's ORDER BY kept at the end."""
    where, order = split_order_by(jql)
    clause = f'updated >= "{since.astimezone(UTC):%Y-%m-%d %H:%M}"'
    query = f"({where}) AND {clause}" if where else clause
    return f"{query} {order}".strip()


# --- normalisation ------------------------------------------------------------------------


class _SkipIssue(ValueError):
    """Why an issue cannot become a task; the caller names the issue in the warning."""


@dataclass
class Normalised:
    """Tasks by issue id (first-seen order), ids of non-tasks seen, stage dues, warnings."""

    tasks: dict[str, Task] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    stage_dues: dict[str, date] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning for the run's output and the log alike."""
        self.warnings.append(message)
        logger.warning("%s", message)


def normalise_issues(
    issues: Iterable[object], *, source: str, site: str, stage_field: str, ids: FieldIds
) -> Normalised:
    """Turn search results into tasks, skipping malformed issues with a warning naming them."""
    out = Normalised()
    for position, raw in enumerate(issues, start=1):
        if not isinstance(raw, Mapping):
            out.warn(f"issue #{position}: not a JSON object; skipped")
            continue
        try:
            task = _issue_task(raw, source=source, site=site, stage_field=stage_field, ids=ids)
            if task is not None and stage_field == "fixVersion":
                _version_dues(raw, out)
        except _SkipIssue as why:
            out.warn(f"{_label(raw, position)}: {why}; skipped")
            continue
        if task is None:
            out.excluded.append(str(raw.get("id")))
        else:
            out.tasks[task.id] = task
    return out


def _label(raw: Issue, position: int) -> str:
    """How a warning names an issue: its key, else its id, else its place in the results."""
    if isinstance(raw.get("key"), str) and raw["key"]:
        return str(raw["key"])
    return f"issue id {raw['id']}" if raw.get("id") else f"issue #{position}"


def _mapping(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one for null and anything else."""
    return value if isinstance(value, Mapping) else {}


def _name(value: object, *keys: str) -> str | None:
    """The first text among `keys` of a JSON object (a priority's name, a user's displayName)."""
    found = _mapping(value)
    for key in keys or ("name",):
        if isinstance(found.get(key), str) and found[key]:
            return str(found[key])
    return None


def _is_container(issue_type: Mapping[str, Any]) -> bool:
    """Epics (and the levels above them in Premium plans) hold tasks; they are not tasks."""
    level = issue_type.get("hierarchyLevel")
    return issue_type.get("name") == "Epic" or (isinstance(level, int) and level >= 1)


def _is_subtask(issue_type: Mapping[str, Any]) -> bool:
    """Sub-tasks are parts of their parent task."""
    return issue_type.get("subtask") is True or issue_type.get("hierarchyLevel") == -1


def _moment(fields: Mapping[str, Any], name: str) -> datetime | None:
    """An optional timestamp field; unparseable makes the issue malformed."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_moment(value)
    except ValueError:
        raise _SkipIssue(f"unparseable {name} {value!r}") from None


def _day(fields: Mapping[str, Any], name: str) -> date | None:
    """An optional date field (`duedate` is a date in Jira, not a moment)."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _SkipIssue(f"unparseable {name} {value!r}") from None


def _texts(value: object) -> tuple[str, ...]:
    """The strings of a JSON array (labels)."""
    items = value if isinstance(value, list) else []
    return tuple(item for item in items if isinstance(item, str) and item)


def _last_comment(value: object) -> str | None:
    """The newest comment's text: ADF (API v3) flattened, plain text (v2) as it is."""
    comments = _mapping(value).get("comments")
    if not isinstance(comments, list) or not comments:
        return None
    text = adf_to_text(_mapping(comments[-1]).get("body")).strip()
    return text or None


def _issue_task(
    raw: Issue, *, source: str, site: str, stage_field: str, ids: FieldIds
) -> Task | None:
    """The task for one issue; None for epics and sub-tasks."""
    key, issue_id, fields = raw.get("key"), raw.get("id"), raw.get("fields")
    if not isinstance(key, str) or not key:
        raise _SkipIssue("missing key")
    if issue_id in (None, ""):
        raise _SkipIssue("missing id")
    if not isinstance(fields, Mapping):
        raise _SkipIssue("missing fields")
    issue_type = _mapping(fields.get("issuetype"))
    if _is_container(issue_type) or _is_subtask(issue_type):
        return None
    status = _mapping(fields.get("status"))
    category = _mapping(status.get("statusCategory")).get("key")
    if not isinstance(category, str):
        raise _SkipIssue("missing status category")
    state = _STATES.get(category, "todo")
    status_name = _name(status) or ""
    labels = _texts(fields.get("labels"))
    flagged = bool(fields.get(ids.flagged)) if ids.flagged else False
    return Task(
        id=str(issue_id),
        key=key,
        title=str(fields.get("summary") or ""),
        source=source,
        status=status_name,
        state=state,
        url=f"{site}/browse/{key}",
        type=_name(issue_type),
        stage_values=_stage_values(fields, stage_field, ids, labels),
        assignee=_name(fields.get("assignee"), "displayName", "name", "accountId"),
        due=_day(fields, "duedate"),
        created=_moment(fields, "created"),
        updated=_moment(fields, "updated"),
        done_at=_done_at(fields) if state == "done" else None,
        blocked=flagged or looks_blocked((status_name, *labels)),
        labels=labels,
        priority=_name(fields.get("priority")),
        resolution=_name(fields.get("resolution")),
        last_comment=_last_comment(fields.get("comment")),
    )


def _done_at(fields: Mapping[str, Any]) -> datetime | None:
    """When it was resolved, else when its status last changed category (to done)."""
    return _moment(fields, "resolutiondate") or _moment(fields, "statuscategorychangedate")


def _stage_values(
    fields: Mapping[str, Any], stage_field: str, ids: FieldIds, labels: tuple[str, ...]
) -> tuple[str, ...]:
    """The issue's candidate stage values for the configured `stage_field`."""
    if stage_field == "fixVersion":
        return tuple(n for v in _versions(fields) if (n := _name(v)))
    if stage_field == "sprint":
        current = _current_sprint(fields.get(ids.sprint) if ids.sprint else None)
        return (current,) if current else ()
    if stage_field == "epic":
        return _epic(fields, ids)
    return labels


def _versions(fields: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The issue's fix versions, in Jira's order."""
    value = fields.get("fixVersions")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _version_dues(raw: Issue, out: Normalised) -> None:
    """A fix version's `releaseDate` is its stage's due date when the config gives none."""
    for found in _versions(_mapping(raw.get("fields"))):
        name, released = _name(found), found.get("releaseDate")
        if not name or not released or name in out.stage_dues:
            continue
        try:
            out.stage_dues[name] = date.fromisoformat(str(released))
        except ValueError:
            out.warn(
                f"{raw.get('key')}: version {name!r} has an unparseable releaseDate "
                f"{released!r}; its due date is ignored"
            )


def _epic(fields: Mapping[str, Any], ids: FieldIds) -> tuple[str, ...]:
    """The parent epic's summary; on Data Center's Epic Link field, the epic's key."""
    parent = _mapping(fields.get("parent"))
    parent_fields = _mapping(parent.get("fields"))
    if parent and _is_container(_mapping(parent_fields.get("issuetype"))):
        summary = parent_fields.get("summary")
        if isinstance(summary, str) and summary.strip():
            return (summary.strip(),)
        return (str(parent["key"]),) if parent.get("key") else ()
    link = fields.get(ids.epic_link) if ids.epic_link else None
    return (link,) if isinstance(link, str) and link else ()


_SPRINT_PAIR = re.compile(r",(?=\w+=)")


def _sprint(value: object) -> Mapping[str, Any] | None:
    """A sprint as an object (Cloud, DC 8+) or as the old `…Sprint@1a2b[id=1,…]` text."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str) or "[" not in value:
        return None
    body = value[value.index("[") + 1 : value.rindex("]") if "]" in value else None]
    pairs = (part.split("=", 1) for part in _SPRINT_PAIR.split(body) if "=" in part)
    return {k: (None if v == "<null>" else v) for k, v in pairs}


def _sprint_order(found: Mapping[str, Any]) -> tuple[datetime, datetime, int]:
    """Latest sprint first by end, then start, then id (ids grow as sprints are made)."""

    def moment(name: str) -> datetime:
        try:
            return parse_moment(found.get(name))
        except ValueError:
            return _EARLIEST

    try:
        number = int(found.get("id") or -1)
    except (TypeError, ValueError):
        number = -1
    return (moment("endDate"), moment("startDate"), number)


def _current_sprint(value: object) -> str | None:
    """The active sprint's name (the latest active one), else the latest sprint's."""
    sprints = [s for s in map(_sprint, value if isinstance(value, list) else []) if s]
    sprints = [s for s in sprints if isinstance(s.get("name"), str) and s["name"]]
    active = [s for s in sprints if str(s.get("state") or "").lower() == "active"]
    candidates = active or sprints
    return str(max(candidates, key=_sprint_order)["name"]) if candidates else None


# --- the source ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fetched:
    """What one pull read from Jira."""

    issues: list[Any]
    ids: FieldIds


def _reference(token: object) -> str:
    """Where the token comes from (`env:NAME`), never the token: config refuses literals, and
    should one get here anyway it is named by no more than that."""
    return str(token) if isinstance(token, SecretRef) else "a literal"


def _api(deployment: str) -> str:
    """REST API v3 on Cloud (the current search, comments in ADF), v2 on Data Center."""
    return "3" if deployment == "Cloud" else "2"


def _site(url: str) -> str:
    """The site's address without credentials a URL might carry, for links and messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


class JiraSource:
    """The issues a JQL selects on one Jira site (Cloud or Data Center), as tasks.

    `sleep`, `clock`, `policy`, `limits` and `sites` are injectable for tests; the registry
    passes only the config.
    """

    type = "jira"
    fan_out = 1  # one request at a time: pages follow each other by token

    def __init__(
        self,
        cfg: Any,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        limits: HostLimits = HOST_LIMITS,
        sites: SiteCache = SITES,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.cfg = cfg
        self.name: str = cfg.name or "jira"
        self.site = _site(str(cfg.url))
        self.host = urlsplit(self.site).hostname or self.site
        self._sleep = sleep
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._policy = policy or RetryPolicy(timeout=float(cfg.timeout_seconds))
        self._limits = limits
        self._sites = sites
        self._page_size = page_size

    def pull(self, request: PullRequest | None = None) -> SourcePull:
        """Everything the JQL selects, or (incrementally) what changed since the cursor."""
        started = self._clock().astimezone(UTC).replace(microsecond=0)
        since = self._since(request)
        jql = self.cfg.jql if since is None else incremental_jql(self.cfg.jql, since - OVERLAP)
        with self._failures():
            fetched = self._fetch(jql)
        found = normalise_issues(
            fetched.issues,
            source=self.name,
            site=self.site,
            stage_field=self.cfg.stage_field,
            ids=fetched.ids,
        )
        logger.info(
            "Jira %s: %d issues read, %d tasks", self.host, len(fetched.issues), len(found.tasks)
        )
        return SourcePull(
            tasks=tuple(found.tasks.values()),
            stage_dues=found.stage_dues,
            warnings=tuple(found.warnings),
            # The moment the pull started: whatever changes later has `updated` after it.
            cursor=started.isoformat(),
            complete=since is None,
            # Issues that turned into epics or sub-tasks are seen changing: drop them now.
            removed=() if since is None else tuple(found.excluded),
        )

    def _since(self, request: PullRequest | None) -> datetime | None:
        """The cursor to continue from; None means read everything."""
        if request is None or request.full or request.cursor is None:
            return None
        try:
            cursor = datetime.fromisoformat(request.cursor)
        except ValueError:
            logger.warning(
                "Jira %s: unreadable cursor %r; reading everything", self.host, request.cursor
            )
            return None
        return cursor.replace(tzinfo=UTC) if cursor.tzinfo is None else cursor

    # -- talking to Jira --------------------------------------------------------------------

    def _fetch(self, jql: str) -> _Fetched:
        """Every page of the search, the site's facts known or learnt first; facts the search
        shows wrong are learnt again, once, and the search retried."""
        email, token = reveal(self.cfg.email), reveal(self.cfg.token)
        key = SiteKey(self.site, email, _reference(self.cfg.token))
        with ExitStack() as stack:
            clients = _Clients(lambda api: self._client(api, email, token, stack))
            facts, learnt = self._sites.known(key, self._now(), lambda: self._learn(clients))
            try:
                return self._search_with(clients, facts, jql, doubt=not (learnt or facts.checked))
            except _FactsDisagree as why:
                logger.info("Jira %s: %s; asking serverInfo and /field again", self.host, why)
                facts = self._sites.relearn(key, facts, self._now(), lambda: self._learn(clients))
                return self._search_with(clients, facts, jql, doubt=False)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _learn(self, clients: _Clients) -> SiteFacts:
        """Ask `serverInfo` which Jira this is, then `/field` for the custom fields' ids."""
        deployment = str(clients("2").server_info().get("deploymentType") or "Server")
        fields = clients(_api(deployment)).fields()
        return SiteFacts(deployment, site_fields(fields), learnt=self._now())

    def _search_with(
        self, clients: _Clients, facts: SiteFacts, jql: str, *, doubt: bool
    ) -> _Fetched:
        """Every page of the search, on the deployment's API, for the fields we read; in
        `doubt` (facts remembered, not learnt now) the answers are checked against them."""
        client = clients(_api(facts.deployment))
        client.deploymentType = facts.deployment  # what the library's Cloud-only calls check
        ids = facts.fields.for_stage_field(self.cfg.stage_field)
        wanted = [*BASE_FIELDS, *ids.extra()]
        return _Fetched(self._search(client, facts, jql, wanted, doubt=doubt), ids)

    def _client(self, api: str, email: str | None, token: str | None, stack: ExitStack) -> JIRA:
        """A `jira.JIRA` on REST API `api` whose every request goes through our adapter."""
        auth: dict[str, Any] = {"basic_auth": (email, token)} if email else {"token_auth": token}
        client = _Jira(
            server=self.site,
            options={"rest_api_version": api, "check_update": False},
            get_server_info=False,
            max_retries=0,
            timeout=float(self.cfg.timeout_seconds),
            **auth,
        )
        stack.callback(client.close)
        adapter = _PoliteAdapter(
            self.site, self.cfg.max_concurrency, self._policy, self._sleep, self._limits
        )
        client._session.mount("https://", adapter)
        client._session.mount("http://", adapter)
        return client

    def _search(
        self, client: JIRA, facts: SiteFacts, jql: str, wanted: list[str], *, doubt: bool
    ) -> list[Any]:
        """All pages of the search; a 410 (a removed API) says what to do. In `doubt`, a
        missing search API or a custom field on no issue of the first page disagrees."""
        pages = self._cloud_pages if facts.cloud else self._server_pages
        check = [fid for fid in wanted if fid not in BASE_FIELDS] if doubt else []
        issues: list[Any] = []
        try:
            for page in pages(client, jql, wanted):
                if check and page:  # the first page with issues tells
                    if missing := _field_missing(page, check):
                        raise _FactsDisagree(f"the search returned no field {missing}")
                    check = []
                issues.extend(page)
        except JIRAError as err:
            if doubt and err.status_code in (404, 410):
                raise _FactsDisagree(f"the search answered HTTP {err.status_code}") from None
            if err.status_code == 410:
                raise SourceError(self._gone(err, facts.deployment)) from None
            raise
        return issues

    def _cloud_pages(self, client: JIRA, jql: str, wanted: list[str]) -> Iterator[list[Any]]:
        """Cloud's enhanced search: follow `nextPageToken` until there is none (no total)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = client.enhanced_search_issues(
                jql,
                nextPageToken=token,
                maxResults=self._page_size,
                fields=list(wanted),  # the library rewrites the list it is given
                json_result=True,
            )
            yield self._issues_of(page)
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if not token or page.get("isLast") is True:
                return
            if token in seen:
                raise SourceError(f"Jira {self.host}: the search repeated a page; stopped")
            seen.add(token)

    def _server_pages(self, client: JIRA, jql: str, wanted: list[str]) -> Iterator[list[Any]]:
        """Data Center's search: `startAt` advances by what came back, up to `total`."""
        start = 0
        while True:
            page = client.search_issues(
                jql,
                startAt=start,
                maxResults=self._page_size,
                fields=list(wanted),
                json_result=True,
            )
            issues = self._issues_of(page)
            yield issues
            start += len(issues)
            total = page.get("total") if isinstance(page, dict) else None
            if not issues or not isinstance(total, int) or start >= total:
                return

    def _issues_of(self, page: object) -> list[Any]:
        """A search page's issues; anything else means Jira answered something unexpected."""
        issues = page.get("issues") if isinstance(page, dict) else None
        if not isinstance(issues, list):
            raise SourceError(f"Jira {self.host}: a search page has no issue list")
        return issues

    # -- errors for operators (never a secret) --------------------------------------------

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Everything that makes Jira unavailable for this run becomes a `SourceError`."""
        try:
            yield
        except SourceError:
            raise
        except Unavailable as err:
            raise SourceError(str(err)) from None
        except JIRAError as err:
            raise SourceError(self._refused(err)) from None
        except ConfigError as err:
            raise SourceError(f"Jira source {self.name}: {err}") from None
        except requests.exceptions.JSONDecodeError:
            raise SourceError(
                f"Jira {self.host} answered something that is not JSON; check that url "
                f"{self.site} is the Jira site's address"
            ) from None
        except requests.RequestException as err:
            raise SourceError(f"Jira {self.host}: request failed ({type(err).__name__})") from None

    def _refused(self, err: JIRAError) -> str:
        """A Jira error answer in words an operator can act on."""
        status, path = err.status_code, urlsplit(err.url or "").path or "?"
        where = f"Jira {self.host}"
        if status in (401, 403):
            return f"{where} refused the request (HTTP {status} for {path}): {self._check(status)}"
        if status == 400:
            return f"{where} rejected the search (HTTP 400: {err.text}); check jql {self.cfg.jql!r}"
        if status == 404:
            return (
                f"{where}: HTTP 404 for {path}; check that url {self.site} is the Jira site's "
                "address (Data Center: with its context path, e.g. https://host/jira)"
            )
        return f"{where}: HTTP {status} for {path}"

    def _check(self, status: int) -> str:
        """Which credential to check, named by its reference, never by its value."""
        token_ref, email = self.cfg.token, self.cfg.email
        if status == 403:
            return (
                "the credentials were accepted but not allowed; check that the account may "
                "browse the projects in the JQL (after failed logins Jira may also want a "
                "CAPTCHA solved in a browser)"
            )
        if email is None:
            return (
                f"check the personal access token in {token_ref} (Data Center; for Jira Cloud "
                "set `email` too and use an API token)"
            )
        shown = self._email_shown(email)
        return (
            f"check the email {shown} and the API token in {token_ref}: the token must be an "
            "Atlassian API token of that account (id.atlassian.com → Security → API tokens)"
        )

    @staticmethod
    def _email_shown(email: Any) -> str:
        """The account's email (not a secret) and where it comes from."""
        if not str(email).startswith(("env:", "secret:")):
            return str(email)
        try:
            return f"{reveal(email)} ({email})"
        except ConfigError:
            return str(email)

    def _gone(self, err: JIRAError, deployment: str) -> str:
        """A 410: the endpoint is removed; say why we called it and what to do."""
        path = urlsplit(err.url or "").path or "?"
        if path.endswith("/search"):
            return (
                f"Jira answered 410 Gone for {path}: this is Jira Cloud, where that search API "
                f"is removed, yet serverInfo reported deploymentType {deployment!r}. Point url at "
                "the Cloud site itself (https://<site>.atlassian.net), not a proxy that rewrites "
                "serverInfo; stagecast then uses /rest/api/3/search/jql"
            )
        return (
            f"Jira answered 410 Gone for {path}: Atlassian has removed this API; upgrade "
            "stagecast (and the jira library) to a release that uses its replacement"
        )
