"""A local Google Drive v3 and OAuth2 token endpoint, for driving the real client libraries.

It speaks the documented shapes: `files.list` with `q`, `pageSize` and `pageToken`
(an inaccessible parent lists as empty, as Drive does), `files.get`, `files.export` to
text/plain, Google's JSON error bodies, and the token endpoint's JWT-bearer grant (the
assertion's RS256 signature is checked against the test key). Knobs script faults (403
rateLimitExceeded, 429, 5xx storms, permission errors), slow answers and smaller pages;
counters record every request and the most in flight at once.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FOLDER = "application/vnd.google-apps.folder"
GOOGLE_DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF = "application/pdf"
READONLY_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCOUNT = "stagecast-reader@acme-delivery.iam.gserviceaccount.com"

_LIST_QUERY = re.compile(
    r"^'(?P<parent>(?:[^'\\]|\\.)+)' in parents and trashed = false"
    r"(?: and modifiedTime > '(?P<since>[^']+)')?$"
)


@dataclass
class DriveFile:
    """One file or folder as Drive stores it."""

    id: str
    name: str
    mime_type: str
    parents: tuple[str, ...]
    modified: str = "2026-11-18T02:00:00.000Z"
    created: str = "2026-11-01T02:00:00.000Z"
    text: str = ""
    trashed: bool = False

    def resource(self) -> dict[str, Any]:
        """The `File` resource, with the fields the connector asks for."""
        return {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "modifiedTime": self.modified,
            "createdTime": self.created,
            "webViewLink": web_view_link(self.id, self.mime_type),
        }


def web_view_link(file_id: str, mime_type: str) -> str:
    """The link Drive gives to open a file in the browser."""
    if mime_type == FOLDER:
        return f"https://drive.google.com/drive/folders/{file_id}"
    if mime_type == GOOGLE_DOC:
        return f"https://docs.google.com/document/d/{file_id}/edit?usp=drivesdk"
    return f"https://drive.google.com/file/d/{file_id}/view?usp=drivesdk"


@dataclass
class Fault:
    """A scripted error answer for the next `times` Drive API requests whose path has `path`."""

    status: int
    reason: str
    message: str = ""
    retry_after: str | None = None
    times: int = 1
    path: str = ""


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]


@dataclass
class FakeDrive:
    """The server's state and knobs; tests set them before (or between) pulls."""

    files: dict[str, DriveFile] = field(default_factory=dict)
    public_key: rsa.RSAPublicKey | None = None
    hidden: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    delay: float = 0.0
    delay_times: int | None = None  # how many Drive API answers are slow; None: all of them
    max_page: int | None = None
    token_lifetime: int = 3600
    seen: list[Seen] = field(default_factory=list)
    token_requests: int = 0
    peak_in_flight: int = 0
    base_url: str = ""
    _in_flight: int = 0
    _tokens: set[str] = field(default_factory=set)
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    # --- building the drive -------------------------------------------------------------

    def add(self, file_id: str, name: str, mime_type: str, *parents: str, **extra: Any) -> None:
        """Put a file (or a folder) into the drive under `parents`."""
        self.files[file_id] = DriveFile(file_id, name, mime_type, tuple(parents), **extra)

    def folder(self, file_id: str, name: str, *parents: str) -> None:
        """Put a folder into the drive."""
        self.add(file_id, name, FOLDER, *parents)

    # --- what the tests read ------------------------------------------------------------

    def api_requests(self, kind: str = "") -> list[Seen]:
        """Drive API requests (not token requests) whose path contains `kind`."""
        return [s for s in self.seen if s.path.startswith("/drive/") and kind in s.path]

    def exports(self) -> list[Seen]:
        """The export requests made."""
        return [s for s in self.seen if s.path.endswith("/export")]

    # --- serving ------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes):
        """Answer one request: `(status, headers, body bytes)`."""
        with self._lock:
            self.seen.append(Seen(method, path, query))
        if method == "POST" and path == "/token":
            return self._token(body)
        if not path.startswith("/drive/v3/"):
            return _json(404, {"error": "no such endpoint"})
        if not self._authorised(headers.get("Authorization", "")):
            return _google_error(401, "authError", "Invalid Credentials")
        fault = self._next_fault(path)
        if fault is not None:
            return self._fault(fault)
        return self._drive(method, path[len("/drive/v3/") :], query)

    def slow_down(self, path: str) -> None:
        """Delay a Drive API answer when the knobs say so; the wait ends when the server stops."""
        if not self.delay or not path.startswith("/drive/"):
            return
        with self._lock:
            if self.delay_times is not None:
                if self.delay_times <= 0:
                    return
                self.delay_times -= 1
        self._stop.wait(self.delay)

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
                    fault.times -= 1
                    return fault
        return None

    def _fault(self, fault: Fault):
        status, headers, body = _google_error(
            fault.status, fault.reason, fault.message or _MESSAGES.get(fault.reason, "Error")
        )
        if fault.retry_after is not None:
            headers = {**headers, "Retry-After": fault.retry_after}
        return status, headers, body

    def _drive(self, method: str, rest: str, query: dict[str, str]):
        if method != "GET":
            return _google_error(405, "methodNotAllowed", "Method not allowed")
        if rest == "files":
            return self._list(query)
        match = re.fullmatch(r"files/([^/]+)(/export)?", rest)
        if match is None:
            return _google_error(404, "notFound", "Not Found")
        file_id = unquote(match.group(1))
        return self._export(file_id, query) if match.group(2) else self._get(file_id)

    def _visible(self, file_id: str) -> DriveFile | None:
        found = self.files.get(file_id)
        return None if found is None or file_id in self.hidden else found

    def _get(self, file_id: str):
        found = self._visible(file_id)
        if found is None:
            return _not_found(file_id)
        return _json(200, found.resource())

    def _export(self, file_id: str, query: dict[str, str]):
        found = self._visible(file_id)
        if found is None:
            return _not_found(file_id)
        if found.mime_type != GOOGLE_DOC:
            return _google_error(
                403, "fileNotExportable", "Export only supports Docs Editors files."
            )
        if query.get("mimeType") != "text/plain":
            return _google_error(400, "badRequest", "The requested conversion is not supported.")
        # Drive's text/plain export of a Google Doc starts with a byte order mark.
        return 200, {"Content-Type": "text/plain"}, ("\ufeff" + found.text).encode("utf-8")

    def _list(self, query: dict[str, str]):
        match = _LIST_QUERY.match(query.get("q", ""))
        if match is None:
            return _google_error(400, "invalid", "Invalid Value", location="q")
        parent = re.sub(r"\\(.)", r"\1", match.group("parent"))
        since = match.group("since")
        children = [
            f
            for f in self.files.values()
            if parent in f.parents
            and not f.trashed
            and parent not in self.hidden
            and f.id not in self.hidden
            and (since is None or f.modified > since)
        ]
        size = min(int(query.get("pageSize", "100")), 1000, self.max_page or 1000)
        offset = _page_offset(query.get("pageToken"), query["q"])
        if offset is None:
            return _google_error(400, "invalid", "Invalid Value", location="pageToken")
        page: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [f.resource() for f in children[offset : offset + size]],
        }
        if offset + size < len(children):
            page["nextPageToken"] = _page_token(query["q"], offset + size)
        return _json(200, page)

    # --- OAuth2 -------------------------------------------------------------------------

    def issue_token(self) -> str:
        """A new access token the Drive endpoints accept."""
        with self._lock:
            token = f"ya29.fake-{next(self._counter)}"
            self._tokens.add(token)
        return token

    def _authorised(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        with self._lock:
            return scheme == "Bearer" and token in self._tokens

    def _token(self, body: bytes):
        with self._lock:
            self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode("ascii")).items()}
        if form.get("grant_type") != JWT_BEARER:
            return _json(400, {"error": "unsupported_grant_type"})
        problem = self._bad_assertion(form.get("assertion", ""))
        if problem is not None:
            return _json(400, {"error": "invalid_grant", "error_description": problem})
        token = self.issue_token()
        return _json(
            200,
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"},
        )

    def _bad_assertion(self, assertion: str) -> str | None:
        """Why a service account's signed JWT is refused, or None when it is good."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(signature_b64)
        except ValueError:
            return "not a JWT"
        if header.get("alg") != "RS256":
            return "not RS256"
        if self.public_key is not None:
            try:
                self.public_key.verify(
                    signature,
                    f"{header_b64}.{claims_b64}".encode("ascii"),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except InvalidSignature:
                return "Invalid JWT Signature."
        # google-auth always addresses the assertion to Google's token endpoint, wherever
        # the key file's token_uri points.
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return "Invalid JWT: audience"
        if READONLY_SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid JWT: scope"
        if not claims.get("exp", 0) > time.time():
            return "Invalid JWT: Token must be a short-lived token"
        return None


_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "backendError": "Backend Error",
    "insufficientFilePermissions": "The user does not have sufficient permissions for this file.",
    "accessNotConfigured": "Drive API has not been used in project 1234 before or it is disabled.",
}


def _json(status: int, payload: Any):
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(payload).encode()


def _google_error(status: int, reason: str, message: str, *, location: str | None = None):
    """Google's documented JSON error body for the Drive API."""
    detail: dict[str, Any] = {"domain": _domain(reason), "reason": reason, "message": message}
    if location is not None:
        detail.update(location=location, locationType="parameter")
    return _json(status, {"error": {"code": status, "message": message, "errors": [detail]}})


def _domain(reason: str) -> str:
    return (
        "usageLimits" if reason.endswith(("RateLimitExceeded", "rateLimitExceeded")) else "global"
    )


def _not_found(file_id: str):
    message = f"File not found: {file_id}."
    return _google_error(404, "notFound", message, location="fileId")


def _page_token(q: str, offset: int) -> str:
    raw = json.dumps({"q": q, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _page_offset(token: str | None, q: str) -> int | None:
    """Where a page token continues; None when it is not one of ours for this query."""
    if token is None:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except ValueError:
        return None
    return state["offset"] if state.get("q") == q else None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _handler(drive: FakeDrive) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle's algorithm and
            # the client's delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            drive.enter()
            try:
                drive.slow_down(parts.path)
                status, headers, payload = drive.handle(
                    method, parts.path, query, self.headers, body
                )
            finally:
                drive.leave()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(drive: FakeDrive) -> Iterator[str]:
    """Run the server on 127.0.0.1 on a free port; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(drive))
    server.daemon_threads = True
    drive.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield drive.base_url
    finally:
        drive._stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


# --- credentials ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def signing_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for this test run (generated once: it takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_file(folder: Path, token_uri: str, *, name: str = "sa.json") -> Path:
    """Write a service-account key file whose token endpoint is the fake server."""
    pem = signing_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    info = {
        "type": "service_account",
        "project_id": "acme-delivery",
        "private_key_id": "0123456789abcdef",
        "private_key": pem.decode("ascii"),
        "client_email": ACCOUNT,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }
    path = folder / name
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def authorized_user_file(folder: Path, drive: FakeDrive) -> Path:
    """Write an authorized-user file holding a live access token the fake accepts.

    google-auth always refreshes a user's token at Google's own endpoint (it ignores the file's
    `token_uri`), so the file carries an unexpired token and no refresh happens offline.
    """
    token = drive.issue_token()
    expiry = datetime.now(UTC) + timedelta(hours=1)
    info = {
        "type": "authorized_user",
        "client_id": "client-123.apps.googleusercontent.com",
        "client_secret": "client-secret",
        "refresh_token": "1//refresh-token",
        "token": token,
        "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    path = folder / "user.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@contextmanager
def running_drive(
    tmp_path: Path, drive: FakeDrive | None = None
) -> Iterator[tuple[FakeDrive, Path]]:
    """A served drive that checks JWTs against the test key, and a key file that points at it."""
    drive = drive if drive is not None else FakeDrive()
    drive.public_key = signing_key().public_key()
    with serving(drive) as url:
        yield drive, service_account_file(tmp_path, f"{url}/token")


# --- a small project drive, shared by the tests and the contract suite ----------------------

ROOT = "1RootFolderAcme"
MINUTES = "1MinutesFolder"


def project_drive() -> FakeDrive:
    """A project folder with a subfolder, deliverables, and a minutes folder of two Docs."""
    drive = FakeDrive()
    drive.folder(ROOT, "ACME 客户门户", "0Shared")
    drive.folder("1Design", "设计", ROOT)
    drive.add("f-req", "需求规格说明书 v2.docx", DOCX, ROOT, modified="2026-11-17T09:30:00.000Z")
    drive.add("f-plan", "Project plan", SHEET, ROOT)
    drive.add("f-arch", "架构设计 draft.pdf", PDF, "1Design")
    drive.add("f-old", "old notes.txt", "text/plain", ROOT, trashed=True)
    drive.folder(MINUTES, "会议纪要", ROOT)
    drive.add(
        "m-1",
        "2026-11-16 周会纪要",
        GOOGLE_DOC,
        MINUTES,
        modified="2026-11-16T10:00:00.000Z",
        text="周会\n参会：王工、张三\n- 决定：采用方案 A\n- 待办：张三 周五前提交接口文档\n",
    )
    drive.add(
        "m-2",
        "Kickoff notes",
        GOOGLE_DOC,
        MINUTES,
        modified="2026-11-10T15:30:00.000Z",
        text="Kickoff\n* Decision: weekly demo on Fridays\n1. TODO: share the staging URL\n",
    )
    return drive


PROJECT_DOCUMENTS = (
    "需求规格说明书 v2.docx",
    "Project plan",
    "架构设计 draft.pdf",
    "2026-11-16 周会纪要",
    "Kickoff notes",
)


@contextmanager
def contract_case(tmp_path: Path) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """A Drive source against a served project drive, and the document names it must return."""
    from connectors.sources.base import build_source
    from stagecast.config import GdriveSourceConfig

    with running_drive(tmp_path, project_drive()) as (_, key_file):
        cfg = GdriveSourceConfig(
            url=_base(key_file),
            folder=ROOT,
            credentials=str(key_file),
            minutes_folder=MINUTES,
            timeout_seconds=5,
        )
        yield build_source(cfg), PROJECT_DOCUMENTS


def _base(key_file: Path) -> str:
    """The fake server's URL, read back from the key file's token endpoint."""
    token_uri = json.loads(key_file.read_text(encoding="utf-8"))["token_uri"]
    return str(token_uri).removesuffix("/token")
