"""What a Jira pull must know of the site before it searches, learnt once a day per site.

Before its search a pull needs two facts: which Jira this is (`serverInfo`'s `deploymentType`
decides the search API) and the ids of the custom fields it reads (Flagged, Sprint, Epic Link,
from `/field`). Asked by every pull, they were two of every three requests of a sync in which
nothing changed (60 projects on one host: 180 requests for 60 searches). `SiteCache` keeps
them per site and account, shared by every project of the process:

- projects pulling at the same time wait for the one pull that is learning them (single
  flight), and share its answer, or its failure: a dead host fails every waiting pull at
  once, never one after another;
- they are kept for `KEEP` (a day), or until a search shows them wrong — the search API is
  missing (a 404 or 410: the deployment changed) or a custom field asked for comes back on no
  issue (Jira leaves out fields it does not know: the field was deleted or re-created). The
  pull then learns them again, once, and retries its search; facts learnt again that way
  (`checked`) are trusted until they expire, so a field an admin hid from some projects costs
  one extra `/field` a day, not one per sync.

Persisted, when a folder is given (`persist_in`): one small JSON file per site and account, so
the next process — every served run is one — starts knowing them. Sound because what is kept
is little, public to every user of the site, and checked by every search that uses it: the
deployment type and three field ids, never a response body; the account is named by its email
and by its token's *reference* (`env:JIRA_TOKEN`), never by the token or a digest of it. A file
is written whole or not at all (a temporary file renamed over it), so concurrent workers never
read half of one; one that cannot be read is learnt again; a folder that cannot be written only
costs the two requests again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

KEEP = timedelta(days=1)
FORMAT = 1  # of the stored file; another number is ignored and learnt again

SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"


@dataclass(frozen=True)
class FieldIds:
    """Custom field ids found on this site; None when absent or not needed."""

    flagged: str | None = None
    sprint: str | None = None
    epic_link: str | None = None

    def extra(self) -> list[str]:
        """The custom fields to ask the search for."""
        return [fid for fid in (self.flagged, self.sprint, self.epic_link) if fid]

    def for_stage_field(self, stage_field: str) -> FieldIds:
        """Only what a source with this `stage_field` reads: Sprint and Epic Link cost bytes."""
        return FieldIds(
            flagged=self.flagged,
            sprint=self.sprint if stage_field == "sprint" else None,
            epic_link=self.epic_link if stage_field == "epic" else None,
        )


def site_fields(fields: Iterable[Mapping[str, Any]]) -> FieldIds:
    """Flagged by name, Sprint and Epic Link by their Jira Software schema types."""
    flagged = sprint = epic_link = None
    for found in fields:
        fid, schema = found.get("id"), found.get("schema")
        custom = schema.get("custom") if isinstance(schema, Mapping) else None
        if not isinstance(fid, str):
            continue
        if flagged is None and found.get("name") == "Flagged":
            flagged = fid
        if sprint is None and custom == SPRINT_SCHEMA:
            sprint = fid
        if epic_link is None and custom == EPIC_LINK_SCHEMA:
            epic_link = fid
    return FieldIds(flagged=flagged, sprint=sprint, epic_link=epic_link)


@dataclass(frozen=True)
class SiteKey:
    """A site as one account sees it: its address, the account's email (None with a personal
    access token) and where the token comes from (`env:NAME`), never the token."""

    site: str
    account: str | None
    token: str

    def file_name(self) -> str:
        """A name for the stored file that says nothing of the site or the account."""
        text = json.dumps([self.site, self.account, self.token])
        return hashlib.sha256(text.encode()).hexdigest()[:32] + ".json"


@dataclass(frozen=True)
class SiteFacts:
    """The deployment type (Cloud, Server, DataCenter), every custom field id a source may
    read, when they were learnt, and whether they were learnt again after a search disagreed."""

    deployment: str
    fields: FieldIds
    learnt: datetime
    checked: bool = False

    @property
    def cloud(self) -> bool:
        return self.deployment == "Cloud"

    def fresh_at(self, now: datetime) -> bool:
        """Learnt less than `KEEP` ago (and not in the future: the clock may have moved)."""
        return timedelta(0) <= now - self.learnt < KEEP


Learn = Callable[[], SiteFacts]


class SiteCache:
    """Site facts by `SiteKey`, in memory and (with a folder) on disk; safe across threads."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._guard = threading.Lock()
        self._memory: dict[SiteKey, SiteFacts] = {}
        self._flights: dict[SiteKey, Future[SiteFacts]] = {}

    def persist_in(self, folder: Path | None) -> None:
        """Keep the facts in `folder` too (None: in memory only), for the processes after us."""
        self._folder = folder

    def known(self, key: SiteKey, now: datetime, learn: Learn) -> tuple[SiteFacts, bool]:
        """The site's facts, and whether they were learnt just now (by us or a pull we waited
        for) rather than remembered."""
        with self._guard:
            facts = self._memory.get(key)
        if facts is None or not facts.fresh_at(now):
            facts = self._read(key) or facts  # another process may have learnt them
        if facts is not None and facts.fresh_at(now):
            return self._remember(key, facts, now), False
        return self._learn_once(key, now, learn, replacing=facts), True

    def _remember(self, key: SiteKey, facts: SiteFacts, now: datetime) -> SiteFacts:
        """Keep facts read from disk unless memory holds fresh ones: every pull of the
        process then holds the very same facts, and can say which ones it found wrong."""
        with self._guard:
            current = self._memory.get(key)
            if current is None or not current.fresh_at(now):
                self._memory[key] = current = facts
            return current

    def relearn(self, key: SiteKey, wrong: SiteFacts, now: datetime, learn: Learn) -> SiteFacts:
        """Facts a search showed wrong, learnt again and marked `checked`; a pull that finds
        them learnt again already takes those."""

        def checked() -> SiteFacts:
            return replace(learn(), checked=True)

        return self._learn_once(key, now, checked, replacing=wrong)

    def _learn_once(
        self, key: SiteKey, now: datetime, learn: Learn, *, replacing: SiteFacts | None
    ) -> SiteFacts:
        """Learn the facts unless another pull is at it (then wait for its outcome) or has
        just replaced `replacing`."""
        with self._guard:
            current = self._memory.get(key)
            if current is not None and current != replacing and current.fresh_at(now):
                return current
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leading:
            return flight.result()
        try:
            facts = learn()
        except BaseException as err:
            with self._guard:
                del self._flights[key]
            flight.set_exception(err)
            raise
        with self._guard:
            self._memory[key] = facts
            del self._flights[key]
        flight.set_result(facts)
        self._write(key, facts)
        return facts

    # -- on disk ------------------------------------------------------------------------------

    def _read(self, key: SiteKey) -> SiteFacts | None:
        """The stored facts of `key`; None when there are none or they cannot be read."""
        if self._folder is None:
            return None
        try:
            stored = json.loads((self._folder / key.file_name()).read_text(encoding="utf-8"))
            return _facts_from(stored, key)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _write(self, key: SiteKey, facts: SiteFacts) -> None:
        """Store the facts for the next process; failing to costs only requests, so it warns."""
        if self._folder is None:
            return
        stored = {
            "format": FORMAT,
            "site": key.site,
            "account": key.account,
            "token": key.token,
            "deployment": facts.deployment,
            "flagged": facts.fields.flagged,
            "sprint": facts.fields.sprint,
            "epic_link": facts.fields.epic_link,
            "learnt": facts.learnt.isoformat(),
            "checked": facts.checked,
        }
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            _write_whole(self._folder / key.file_name(), json.dumps(stored, indent=1))
        except OSError as err:
            logger.warning(
                "Jira site facts not kept in %s: %s", self._folder, err.strerror or type(err)
            )


# Every Jira source of the process shares what it learns (`JiraSource(sites=...)` for tests).
SITES = SiteCache()


def site_facts_folder(outbox: Path) -> Path:
    """Where the site facts of an outbox's runs are kept: beside its charts, a dot-folder the
    outbox's listing leaves out (`SITES.persist_in(site_facts_folder(config.outbox))`)."""
    return outbox / ".jira"


def _facts_from(stored: Mapping[str, Any], key: SiteKey) -> SiteFacts | None:
    """Facts from a stored file, if it is of this format and of this very site and account."""
    if stored.get("format") != FORMAT or [stored["site"], stored["account"], stored["token"]] != [
        key.site,
        key.account,
        key.token,
    ]:
        return None
    ids = [stored[name] for name in ("flagged", "sprint", "epic_link")]
    if not isinstance(stored["deployment"], str) or not all(
        fid is None or isinstance(fid, str) for fid in ids
    ):
        return None
    learnt = datetime.fromisoformat(stored["learnt"])
    if learnt.tzinfo is None:
        return None
    return SiteFacts(stored["deployment"], FieldIds(*ids), learnt, bool(stored.get("checked")))


def _write_whole(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
