"""Google Drive as a source: a folder's files as documents, and decisions from meeting minutes.

Drive v3 through google-api-python-client, built offline from its bundled discovery document,
over `httplib2` with a timeout and `google_auth_httplib2` for the credentials (a service-account
key file, or an authorized-user file). Every request goes through `DriveSession.call`, which
holds the host's slot (`HOST_LIMITS`) and retries rate limits (429, 403 `rateLimitExceeded` /
`userRateLimitExceeded`), 5xx and timeouts with backoff, a bounded number of times.

Incremental sync: a project's Drive folder is small, so every pull lists the whole tree (which
also sees removals at once); what a cursor saves is exporting the minutes. The cursor is a
fingerprint of the tree's file ids and of each minutes doc's id, name, link and modifiedTime.
When the caller allows an incremental pull and the fingerprint is unchanged, the pull returns
every document (unchanged ids, so the merge replaces them in place) with `complete=False` and
no minutes, which keeps the previous minutes; anything else exports every minutes doc and
returns a complete pull.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_errors
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.http import (
    HOST_LIMITS,
    RetryPolicy,
    Sleep,
    Try,
    again,
    retry_after,
    retrying,
    succeeded,
)
from connectors.sources.base import PullRequest, SourceError
from stagecast.config import ConfigError
from stagecast.minutes import meeting_date, parse_minutes
from stagecast.models import Document, MinuteItem, SourcePull
from stagecast.normalise import parse_moment

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/drive.readonly",)
FOLDER = "application/vnd.google-apps.folder"
GOOGLE_DOC = "application/vnd.google-apps.document"
FILE_FIELDS = "id, name, mimeType, modifiedTime, webViewLink, parents"
LIST_FIELDS = f"nextPageToken, files({FILE_FIELDS})"
PAGE_SIZE = 1000  # Drive's largest page: the fewest requests per folder
RATE_LIMITED = frozenset({"ratelimitexceeded", "userratelimitexceeded"})
CURSOR_VERSION = "gdrive-v1"
# The fields a key file needs, checked here so an error can name them without quoting the file.
REQUIRED_FIELDS = {
    "service_account": ("client_email", "private_key", "token_uri"),
    "authorized_user": ("client_id", "client_secret", "refresh_token"),
}
NETWORK_ERRORS = (
    TimeoutError,
    OSError,
    httplib2.HttpLib2Error,
    http.client.HTTPException,
    auth_errors.TransportError,
)


class DriveConfig(Protocol):
    """The attributes of a validated `type: gdrive` entry this source reads."""

    name: str | None
    type: str
    url: str
    folder: str
    minutes_folder: str | None
    max_concurrency: int
    timeout_seconds: float

    def credentials_file(self) -> Path: ...


class DriveRefused(Exception):
    """Drive answered with an error that retrying will not fix (401, 403, 404, 400…)."""

    def __init__(self, status: int, reasons: Sequence[str], what: str) -> None:
        super().__init__(f"HTTP {status} {', '.join(reasons)} while {what}")
        self.status, self.reasons, self.what = status, tuple(reasons), what


# --- credentials ---------------------------------------------------------------------------


def credentials_path(cfg: DriveConfig) -> Path:
    """The key file, following `env:NAME`; a missing variable makes the source unavailable."""
    try:
        return cfg.credentials_file()
    except ConfigError as err:
        raise SourceError(f"Google Drive credentials: {err}") from None


def load_credentials(path: Path) -> Any:
    """Read-only credentials from a key file, by its `type`; errors name the file, not its text."""
    info = _key_file(path)
    kind = info.get("type")
    if kind not in REQUIRED_FIELDS:
        raise SourceError(
            f"Google credentials file {path}: unsupported type "
            "(expected a service_account key or an authorized_user file)"
        )
    missing = [name for name in REQUIRED_FIELDS[kind] if not info.get(name)]
    if missing:
        raise SourceError(f"Google credentials file {path}: {kind} without {', '.join(missing)}")
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        return user_credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
    except (ValueError, TypeError) as err:
        raise SourceError(
            f"Google credentials file {path}: unusable {kind} credentials ({type(err).__name__})"
        ) from None


def _key_file(path: Path) -> dict[str, Any]:
    """The key file's JSON object, or a SourceError that says why it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"Google credentials file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        why = getattr(err, "strerror", None) or type(err).__name__
        raise SourceError(f"Google credentials file {path}: cannot read it ({why})") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise SourceError(f"Google credentials file {path}: not a JSON key file") from None
    if not isinstance(info, dict):
        raise SourceError(f"Google credentials file {path}: not a JSON key file")
    return info


# --- one pull's session --------------------------------------------------------------------


class DriveSession:
    """One pull's authorised Drive client; `call` is the only way a request goes out."""

    def __init__(self, cfg: DriveConfig, policy: RetryPolicy, sleep: Sleep) -> None:
        self.url, self.limit, self.policy, self.sleep = cfg.url, cfg.max_concurrency, policy, sleep
        self.describe = f"Google Drive ({urlsplit(cfg.url).hostname})"
        self.key_file = credentials_path(cfg)
        credentials = load_credentials(self.key_file)
        email = getattr(credentials, "service_account_email", None)
        self.account = (
            f"the service account {email}" if email else f"the account of {self.key_file}"
        )
        self.http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=cfg.timeout_seconds)
        )
        service = build(
            "drive",
            "v3",
            http=self.http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": f"{cfg.url}/drive/v3/"},
        )
        self.files = service.files()
        self.requests_made = 0

    def close(self) -> None:
        """Drop the connections this pull held."""
        self.http.close()

    def call(self, request: Any, what: str) -> Any:
        """Execute one request holding the host's slot, through the one retry engine."""
        result = retrying(self.policy, lambda: self._once(request, what), sleep=self.sleep)
        if result.done:
            return result.value
        raise SourceError(f"{self.describe}: {result.reason} ({what})")

    def _once(self, request: Any, what: str) -> Try[Any]:
        """One try; a refusal that retrying cannot fix raises (`DriveRefused`, `SourceError`)."""
        try:
            with HOST_LIMITS.slot(self.url, self.limit):
                self.requests_made += 1
                return succeeded(request.execute(num_retries=0))
        except HttpError as err:
            return self._retry_http(err, what)
        except auth_errors.RefreshError as err:
            return self._retry_refresh(err)
        except NETWORK_ERRORS as err:
            self.http.close()  # a timed-out connection may still carry the late answer
            return again(_network_problem(err))

    def _retry_http(self, err: HttpError, what: str) -> Try[Any]:
        """Rate limits and 5xx try again (as long as asked); anything else is refused."""
        status, reasons = err.resp.status, error_reasons(err.content)
        limited = status == 429 or (
            status == 403 and any(_norm(r) in RATE_LIMITED for r in reasons)
        )
        if not (limited or status >= 500):
            raise DriveRefused(status, reasons, what)
        asked = retry_after({k.lower(): str(v) for k, v in err.resp.items()})
        return again(" ".join([f"HTTP {status}", *reasons]), asked)

    def _retry_refresh(self, err: auth_errors.RefreshError) -> Try[Any]:
        """A token endpoint hiccup is retried; a refusal of the credentials is final."""
        code = _refresh_code(err)
        if not err.retryable:
            raise SourceError(
                f"{self.describe}: the token endpoint refused the credentials in "
                f"{self.key_file} ({code})"
            )
        return again(f"token endpoint failed ({code})")

    def refusal(self, err: DriveRefused, folders: Sequence[str]) -> str:
        """What an operator should do about a refused request; never quotes credentials."""
        grant = (
            f"{self.account} needs read access to folder {' and '.join(folders)} "
            "(share it with that account as Viewer)"
        )
        reasons = f" ({', '.join(err.reasons)})" if err.reasons else ""
        if err.status == 401:
            return (
                f"{self.describe}: the credentials in {self.key_file} were not accepted "
                f"(HTTP 401) while {err.what}"
            )
        if err.status == 403:
            return (
                f"{self.describe}: access denied{reasons} while {err.what}: {grant}, "
                "and the Google Drive API must be enabled in its project"
            )
        if err.status == 404:
            return f"{self.describe}: not found{reasons} while {err.what}: {grant}"
        return f"{self.describe}: HTTP {err.status}{reasons} while {err.what}"


def error_reasons(content: bytes) -> list[str]:
    """The `reason`s of Google's JSON error body (`errors[]`, and `details[]` ErrorInfo)."""
    try:
        error = json.loads(content.decode("utf-8")).get("error", {})
        items = [*error.get("errors", []), *error.get("details", [])]
        return [
            str(item["reason"]) for item in items if isinstance(item, dict) and "reason" in item
        ]
    except (ValueError, AttributeError, TypeError):
        return []


def _norm(reason: str) -> str:
    """`RATE_LIMIT_EXCEEDED` (ErrorInfo) and `rateLimitExceeded` (errors[]) compare equal."""
    return reason.replace("_", "").lower()


def _network_problem(err: BaseException) -> str:
    if isinstance(err, TimeoutError) or "timed out" in str(err).lower():
        return "timed out"
    return f"connection failed ({type(err).__name__})"


def _refresh_code(err: auth_errors.RefreshError) -> str:
    """The OAuth2 error code (`invalid_grant`…) without the rest of the token response."""
    details = err.args[1] if len(err.args) > 1 else None
    code = details.get("error") if isinstance(details, dict) else None
    return code if isinstance(code, str) else "no usable answer"


# --- listing -------------------------------------------------------------------------------


class FolderTree:
    """Folders listed at most once per pull and walked breadth-first; a cycle is not re-entered."""

    def __init__(self, session: DriveSession) -> None:
        self.session = session
        self._children: dict[str, list[dict[str, Any]]] = {}

    def files_under(self, root: str) -> list[dict[str, Any]]:
        """Every non-folder item below `root`, each folder's own files before its subfolders'."""
        files: list[dict[str, Any]] = []
        queue, seen = deque([root]), {root}
        while queue:
            for item in self.children(queue.popleft()):
                if item.get("mimeType") != FOLDER:
                    files.append(item)
                elif isinstance(item.get("id"), str) and item["id"] not in seen:
                    seen.add(item["id"])
                    queue.append(item["id"])
        return files

    def children(self, folder_id: str) -> list[dict[str, Any]]:
        """The folder's items (not trashed), all pages."""
        if folder_id not in self._children:
            self._children[folder_id] = list(self._pages(folder_id))
        return self._children[folder_id]

    def _pages(self, folder_id: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        tokens_seen: set[str] = set()
        while True:
            page = self.session.call(
                self.session.files.list(
                    q=f"'{_quoted(folder_id)}' in parents and trashed = false",
                    fields=LIST_FIELDS,
                    pageSize=PAGE_SIZE,
                    pageToken=token,
                    supportsAllDrives=True,
                    includeItemsFromAllDrives=True,
                ),
                f"listing folder {folder_id}",
            )
            yield from (f for f in page.get("files", []) if isinstance(f, dict))
            token = page.get("nextPageToken")
            if not token:
                return
            if token in tokens_seen:  # a server repeating itself must not loop us forever
                raise SourceError(f"{self.session.describe}: folder {folder_id} pages repeat")
            tokens_seen.add(token)


def _quoted(value: str) -> str:
    """A value inside a single-quoted Drive query string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when absent or unreadable."""
    try:
        return parse_moment(text)
    except ValueError:
        return None


def to_document(item: dict[str, Any], source: str, warnings: list[str]) -> Document | None:
    """A Drive file as a `Document`; a file without id or name is skipped with a warning."""
    file_id, name = item.get("id"), item.get("name")
    if not (isinstance(file_id, str) and file_id and isinstance(name, str) and name):
        warnings.append(f"skipped a Drive file without an id or a name (id {file_id!r})")
        return None
    modified = parse_time(item.get("modifiedTime"))
    if modified is None:
        # Kept: its presence is what satisfies a required deliverable.
        warnings.append(f"Drive file '{name}' ({file_id}): no readable modifiedTime")
    return Document(
        id=file_id,
        name=name,
        source=source,
        url=item.get("webViewLink"),
        mime_type=item.get("mimeType"),
        modified=modified,
    )


def minutes_day(doc: Document, text: str) -> date | None:
    """The meeting's date from the title or header, else the UTC date of the last edit."""
    found = meeting_date(doc.name, text)
    if found is not None:
        return found
    return doc.modified.date() if doc.modified is not None else None


def fingerprint(
    folders: Sequence[str], documents: Sequence[Document], minutes: Sequence[Document]
) -> str:
    """The cursor: changes when a file comes or goes, or a minutes doc changes at all."""
    state = {
        "folders": list(folders),
        "files": sorted(d.id for d in documents),
        "minutes": sorted(
            [d.id, d.name, d.url, d.modified and d.modified.isoformat()] for d in minutes
        ),
    }
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return f"{CURSOR_VERSION}:{digest[:32]}"


# --- the source ----------------------------------------------------------------------------


class DriveSource:
    """Documents (and minutes) of one Drive folder; no tasks."""

    type = "gdrive"
    fan_out = 1  # one request at a time

    def __init__(
        self, cfg: DriveConfig, *, policy: RetryPolicy | None = None, sleep: Sleep = time.sleep
    ) -> None:
        self.cfg = cfg
        self.name: str = cfg.name or self.type
        self.policy = policy or RetryPolicy(timeout=cfg.timeout_seconds)
        self.sleep = sleep
        self.requests_made = 0

    @property
    def folders(self) -> tuple[str, ...]:
        """The configured folders: the project's, and the minutes' when it has one."""
        extra = (self.cfg.minutes_folder,) if self.cfg.minutes_folder else ()
        return (self.cfg.folder, *extra)

    def pull(self, request: PullRequest | None = None) -> SourcePull:
        """List the folders; export the minutes unless an incremental pull finds them unchanged."""
        with self._session() as session:
            try:
                return self._pull(session, request)
            except DriveRefused as err:
                raise SourceError(session.refusal(err, self.folders)) from None

    @contextmanager
    def _session(self) -> Iterator[DriveSession]:
        session = DriveSession(self.cfg, self.policy, self.sleep)
        try:
            yield session
        finally:
            self.requests_made += session.requests_made
            session.close()

    def _pull(self, session: DriveSession, request: PullRequest | None) -> SourcePull:
        warnings: list[str] = []
        for folder_id in self.folders:
            self._check_folder(session, folder_id)
        tree = FolderTree(session)
        documents = self._documents(
            [item for folder_id in self.folders for item in tree.files_under(folder_id)], warnings
        )
        minutes_docs = self._minutes_docs(tree, documents)
        cursor = fingerprint(self.folders, documents, minutes_docs)
        if request is not None and not request.full and request.cursor == cursor:
            return self._result(documents, (), warnings, cursor, complete=False)
        minutes, exported_all = self._minutes(session, minutes_docs, warnings)
        # A minutes doc that could not be exported is tried again next time: no matching cursor.
        cursor = cursor if exported_all else f"{cursor}:partial"
        return self._result(documents, minutes, warnings, cursor, complete=True)

    def _result(
        self,
        documents: Sequence[Document],
        minutes: Sequence[MinuteItem],
        warnings: list[str],
        cursor: str,
        *,
        complete: bool,
    ) -> SourcePull:
        for warning in warnings:
            log.warning("%s: %s", self.name, warning)
        return SourcePull(
            documents=tuple(documents),
            minutes=tuple(minutes),
            warnings=tuple(warnings),
            cursor=cursor,
            complete=complete,
        )

    def _check_folder(self, session: DriveSession, folder_id: str) -> None:
        """A folder the account cannot see lists as empty; asking for it tells the two apart."""
        found = session.call(
            session.files.get(fileId=folder_id, fields=FILE_FIELDS, supportsAllDrives=True),
            f"opening folder {folder_id}",
        )
        if found.get("mimeType") != FOLDER:
            raise SourceError(
                f"{session.describe}: {folder_id} is not a folder ({found.get('mimeType')}); "
                "configure the id of the folder that holds the documents"
            )

    def _documents(self, items: Sequence[dict[str, Any]], warnings: list[str]) -> list[Document]:
        """Each file once, in the order found (a file may sit in both folders)."""
        documents: dict[str, Document] = {}
        for item in items:
            doc = to_document(item, self.name, warnings)
            if doc is not None and doc.id not in documents:
                documents[doc.id] = doc
        return list(documents.values())

    def _minutes_docs(self, tree: FolderTree, documents: Sequence[Document]) -> list[Document]:
        """The Google Docs below the minutes folder."""
        if not self.cfg.minutes_folder:
            return []
        below = {item.get("id") for item in tree.files_under(self.cfg.minutes_folder)}
        return [d for d in documents if d.id in below and d.mime_type == GOOGLE_DOC]

    def _minutes(
        self, session: DriveSession, docs: Sequence[Document], warnings: list[str]
    ) -> tuple[list[MinuteItem], bool]:
        """Decisions and action items of every minutes doc, and whether all could be read."""
        items: list[MinuteItem] = []
        exported_all = True
        for doc in docs:
            text = self._export(session, doc, warnings)
            if text is None:
                exported_all = False
                continue
            day = minutes_day(doc, text)
            items.extend(
                parse_minutes(text, document=doc.name, url=doc.url, day=day, source=self.name)
            )
        return items, exported_all

    def _export(self, session: DriveSession, doc: Document, warnings: list[str]) -> str | None:
        """A Google Doc as plain text; one that cannot be exported is skipped with a warning."""
        try:
            body = session.call(
                session.files.export(fileId=doc.id, mimeType="text/plain"),
                f"exporting minutes '{doc.name}'",
            )
        except DriveRefused as err:
            if err.status not in (403, 404):
                raise
            warnings.append(f"minutes '{doc.name}' ({doc.id}) could not be exported: {err}")
            return None
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
        return text.removeprefix("\ufeff")
