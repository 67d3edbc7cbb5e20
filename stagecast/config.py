"""The `stagecast.yaml` schema and its loader (SPEC §2).

Loading reports every problem at once, each as `path: message (line N)`, so one `validate` run
shows all that is wrong. Secrets stay references (`env:NAME`, `secret:NAME`) until a connector
resolves them at the moment of use, and no error message ever repeats a secret field's value.
Pure: reads one file; imports no network, database or Prefect code.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from stagecast.slug import slugify

__all__ = [
    "CalendarConfig",
    "ChannelConfig",
    "CharterConfig",
    "Config",
    "ConfigError",
    "Contact",
    "DingTalkChannelConfig",
    "EmailChannelConfig",
    "FeishuChannelConfig",
    "FileChannelConfig",
    "GdriveSourceConfig",
    "JiraSourceConfig",
    "ListenConfig",
    "ProjectConfig",
    "ReportRule",
    "ReportsConfig",
    "RiskConfig",
    "SecretRef",
    "SlackChannelConfig",
    "SmtpConfig",
    "SourceConfig",
    "StageConfig",
    "SyncConfig",
    "TeamsChannelConfig",
    "TrelloExportSourceConfig",
    "TrelloLists",
    "TrelloSourceConfig",
    "WeComChannelConfig",
    "load_config",
    "parse_config",
    "resolve_value",
    "slugify",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_STATE = "sqlite:///.stagecast/state.db"
REPORT_KINDS = (
    "daily_update",
    "weekly_update",
    "stage_report",
    "project_report",
    "risk_alert",
    "charter",
)
# The kinds that run on their own cron; the others follow events (or run once).
SCHEDULED_KINDS = ("daily_update", "weekly_update")

# Fields whose value may be a secret: their input is never quoted back in a message.
SECRET_FIELDS = frozenset({"token", "password", "webhook", "secret", "key", "webhook_secret"})

Loc = tuple[str | int, ...]
# A located problem found by a model's own checks: (loc below the model, message, related loc).
Problem = tuple[Loc, str, Loc | None]

_PROBLEMS = "stagecast_problems"


class ConfigError(Exception):
    """Bad config: every problem found, each `path: message`, so one run shows them all."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by problems: Prefect moves exceptions between processes."""
        return (type(self), (self.problems,))


# --- secrets -------------------------------------------------------------------------------

SecretKind = Literal["env", "secret"]
_REF_NAME = {
    "env": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    "secret": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*"),
}
_REF_HINT = {
    "env": "an environment variable name (letters, digits, _)",
    "secret": "a Prefect Secret block name (letters, digits, _ . -)",
}


class SecretRef:
    """Where a secret lives (`env:NAME` or `secret:NAME`), never the secret itself."""

    __slots__ = ("_where", "kind", "name")

    def __init__(self, kind: SecretKind, name: str, where: str | None = None) -> None:
        self.kind: SecretKind = kind
        self.name = name
        self._where = where

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """`env:NAME` or `secret:NAME`; the error never repeats the text, which may be a secret."""
        prefix, colon, name = text.partition(":")
        if not colon or prefix not in _REF_NAME:
            raise PydanticCustomError(
                "literal_secret", "a literal secret is not allowed; write env:NAME or secret:NAME"
            )
        kind: SecretKind = "env" if prefix == "env" else "secret"
        if not _REF_NAME[kind].fullmatch(name):
            raise PydanticCustomError(
                "secret_ref",
                "{kind}: must be followed by {hint}",
                {"kind": kind, "hint": _REF_HINT[kind]},
            )
        return cls(kind, name)

    def resolve(self) -> str:
        """The value, read only when a connector needs it so it never sits in the config."""
        where = self._where or str(self)
        if self.kind == "secret":
            raise ConfigError(
                [f"{where}: {self} is a Prefect Secret block; the connector using it resolves it"]
            )
        value = os.environ.get(self.name)
        if not value:
            state = "is not set" if value is None else "is empty"
            raise ConfigError([f"{where}: environment variable {self.name} {state}"])
        return value

    def _locate(self, where: str) -> None:
        """Remember the config path, so a resolve error says which field wanted it."""
        self._where = where

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def __repr__(self) -> str:
        return f"SecretRef('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and (self.kind, self.name) == (other.kind, other.name)

    def __hash__(self) -> int:
        return hash((self.kind, self.name))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Validate from `env:`/`secret:` text; dump back to that text."""
        return core_schema.no_info_plain_validator_function(
            _secret_ref, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Editors validating stagecast.yaml see the reference syntax."""
        return {"type": "string", "pattern": r"^(env:[A-Za-z_]\w*|secret:[A-Za-z0-9][\w.-]*)$"}


def _secret_ref(value: object) -> SecretRef:
    """A secret field takes only a reference."""
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("secret_type", "expected env:NAME or secret:NAME")
    return SecretRef.parse(value)


def _ref_or_text(value: object) -> SecretRef | str:
    """Identities (an account email, an SMTP user) may be written out or referenced."""
    if isinstance(value, str) and value.startswith(("env:", "secret:")):
        return SecretRef.parse(value)
    if isinstance(value, SecretRef | str):
        return value
    raise PydanticCustomError("string_type", "expected text")


def resolve_value(value: SecretRef | str) -> str:
    """The text of a field that takes a literal or a reference (`email`, `username`)."""
    return value.resolve() if isinstance(value, SecretRef) else value


RefOrText = Annotated[SecretRef | str, PlainValidator(_ref_or_text)]


# --- field types ---------------------------------------------------------------------------


def _context(info: ValidationInfo, key: str) -> Any:
    """A value the loader passed in the validation context, if any."""
    return info.context.get(key) if isinstance(info.context, dict) else None


def _anchor(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the config file's folder (else the working directory)."""
    try:
        path = value.expanduser()
    except RuntimeError:  # ~someone, and there is no such user here
        raise PydanticCustomError(
            "path", "{user} is not a user on this machine", {"user": value.parts[0]}
        ) from None
    if path.is_absolute():
        return path
    base = _context(info, "base_dir") or Path.cwd()
    return Path(os.path.normpath(Path(base) / path))


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    """A file the run will read must be there when the loader checks files."""
    if _context(info, "check_files") and not _checked(value, Path.is_file):
        what = "not a file" if _checked(value, Path.exists) else "file not found"
        raise PydanticCustomError(
            "file_not_found", "{what}: {path}", {"what": what, "path": _printable(str(value))}
        )
    return value


def _existing_dir(value: Path, info: ValidationInfo) -> Path:
    """A templates folder that is missing would silently fall back to the packaged templates."""
    if _context(info, "check_files") and not _checked(value, Path.is_dir):
        raise PydanticCustomError(
            "dir_not_found", "folder not found: {path}", {"path": _printable(str(value))}
        )
    return value


def _printable(text: str) -> str:
    """Text with its control characters (and line and bidi marks) as JSON escapes: they
    would garble the terminal or split a message; every other character stays as written."""
    return "".join(json.dumps(c)[1:-1] if _is_control(c) else c for c in text)


def _has_control(text: str) -> bool:
    """Whether any character of the text is a control character."""
    return any(_is_control(c) for c in text)


def _is_control(char: str) -> bool:
    """A character that moves the cursor, breaks a line or reorders text, rather than shows."""
    return unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")


def _checked(path: Path, test: Callable[[Path], bool]) -> bool:
    """Ask the file system about a path it may reject outright (too long, a NUL byte)."""
    try:
        return test(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PydanticCustomError(
            "path", "not a usable path ({reason})", {"reason": reason}
        ) from None


def _timezone(value: str) -> str:
    """An IANA zone the machine knows, caught here rather than at the first scheduled run."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone {tz} (an IANA name like Asia/Shanghai or Europe/Berlin)",
            {"tz": _quote(value) or "value"},
        ) from None
    return value


_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\]")


def _web_address(value: str, schemes: tuple[str, ...]) -> bool:
    """A URL the HTTP client can open: a known scheme, an ASCII host name (an international
    one in its xn-- form) or an IP address, a port from 1 to 65535, no spaces or controls."""
    if _has_control(value) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # reading it checks it: a number from 0 to 65535
    except ValueError:
        return False
    host = parts.netloc.rpartition("@")[2]
    if port is not None:
        host = host.rpartition(":")[0]
    return parts.scheme in schemes and port != 0 and bool(_HOST.fullmatch(host))


def _http_url(value: str) -> str:
    """An http(s) API base; a trailing slash is dropped so connectors can append paths."""
    if not _web_address(value, ("http", "https")):
        raise PydanticCustomError("http_url", "expected an http(s) URL like https://example.com")
    return value.rstrip("/")


def _proxy_url(value: str) -> str:
    """A proxy URL; never quoted back, since it may carry a password."""
    if not _web_address(value, ("http", "https", "socks5", "socks5h", "socks4")):
        raise PydanticCustomError(
            "proxy_url", "expected a proxy URL like http://proxy.example:3128"
        )
    return value


_EMAIL = re.compile(r"[^@\s<>,;:\"()\[\]\\\x00-\x1f\x7f]+@[^@\s<>,;:\"()\[\]\\\x00-\x1f\x7f]+")


def _email(value: str) -> str:
    """One bare address: no spaces or line breaks, so it cannot inject a mail header."""
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError(
            "email", "expected one plain address like name@example.com (no spaces or line breaks)"
        )
    return value


def _slug(pattern: str, example: str) -> Callable[[str], str]:
    """A validator for keys used in ids, event names and folder names."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError(
                "slug",
                "use lower-case letters, digits and dashes, e.g. {example}",
                {"example": example},
            )
        return value

    return check


def _channel_name(value: str) -> str:
    """Channel names become outbox folder names, so no slashes and no leading dot."""
    if not re.fullmatch(r"\w[\w.-]*", value):
        raise PydanticCustomError(
            "channel_name", "use letters, digits, '-', '_' or '.' (it names the channel's folder)"
        )
    return value


def _not_yaml_bool(value: object) -> object:
    """YAML reads NO (Norway) as false; say so instead of 'expected text'."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "yaml_bool",
            'YAML read this as {v}; put the code in quotes, e.g. "NO"',
            {"v": str(value).lower()},
        )
    return value


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    """Country codes (and aliases such as UK, CHN) the holidays package has calendars for."""
    return frozenset(holidays_lib.list_supported_countries(include_aliases=True))


def _country(value: str) -> str:
    """A country the holidays package knows, upper-cased as it expects."""
    code = value.upper()
    if code not in _countries():
        raise PydanticCustomError(
            "country",
            "unknown country {code} (a code the holidays package knows, e.g. CN, US, GB, DE)",
            {"code": _quote(value) or "code"},
        )
    return code


_DURATION = re.compile(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*", re.I)
# A report waiting longer than a month for a decision is forgotten, not pending.
MAX_WAIT = timedelta(days=30)


def _duration(value: object) -> timedelta:
    """`24h`, `90m`, `2d`, `1h30m`, or a number of hours: how long something may wait."""
    if isinstance(value, timedelta):
        return _bounded_wait(value / timedelta(minutes=1))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounded_wait(value * 60)
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise PydanticCustomError(
            "duration",
            "expected a duration like 24h, 90m, 2d or 1h30m, not {value}",
            {"value": _quote(value) or "this"},
        )
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return _bounded_wait(days * 24 * 60 + hours * 60 + minutes)


def _bounded_wait(minutes: float) -> timedelta:
    """A wait longer than zero and at most MAX_WAIT, checked before timedelta could overflow."""
    if not math.isfinite(minutes) or minutes > MAX_WAIT / timedelta(minutes=1):
        raise PydanticCustomError(
            "duration", "a duration must be at most {limit}", {"limit": f"{MAX_WAIT.days}d"}
        )
    if minutes <= 0:
        raise PydanticCustomError("duration", "a duration must be longer than zero")
    return timedelta(minutes=minutes)


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
RelPath = Annotated[Path, AfterValidator(_anchor)]
TemplatesDir = Annotated[Path, AfterValidator(_anchor), AfterValidator(_existing_dir)]
TimezoneName = Annotated[str, AfterValidator(_timezone)]
HttpUrlText = Annotated[str, AfterValidator(_http_url)]
ProxyUrl = Annotated[str, AfterValidator(_proxy_url)]
EmailAddress = Annotated[str, AfterValidator(_email)]
ChannelName = Annotated[str, AfterValidator(_channel_name)]
ProjectKey = Annotated[str, AfterValidator(_slug(r"[a-z0-9-]+", "acme-portal"))]
StageKey = Annotated[str, AfterValidator(_slug(r"[a-z0-9][a-z0-9-]*", "requirements"))]
Country = Annotated[str, BeforeValidator(_not_yaml_bool), AfterValidator(_country)]
Concurrency = Annotated[int, Field(ge=1, le=64)]
# A network timeout: finite, and short enough that a stuck server is noticed within a run.
Seconds = Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)]
# A count of days in a risk rule: ten years covers any engagement; more overflows date sums.
Days = Annotated[int, Field(ge=0, le=3650)]
Language = Literal["zh-CN", "en"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Severity = Literal["high", "medium", "low"]


def _fail(problems: Sequence[Problem]) -> None:
    """Raise all of a model's own problems as one error the loader expands, each at its path."""
    if problems:
        summary = "; ".join(message for _, message, _ in problems)
        raise PydanticCustomError(
            _PROBLEMS, "{summary}", {"summary": summary, "problems": problems}
        )


def _duplicates(values: Sequence[str], loc: Callable[[int], Loc], what: str) -> list[Problem]:
    """Each repeat of a value, pointing back at its first use."""
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for i, value in enumerate(values):
        if value in first:
            problems.append((loc(i), f"duplicate {what} '{value}'", loc(first[value])[:-1]))
        first.setdefault(value, i)
    return problems


# --- models --------------------------------------------------------------------------------


class _Model(BaseModel):
    """Unknown keys are errors (they catch typos); a loaded config never changes."""

    # hide_input_in_errors: a ValidationError printed by code that skips the loader must not
    # show a literal secret either.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def _parse_hours(text: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` as two times, the start before the end."""
    match = _HOURS.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise PydanticCustomError("hours", 'expected "HH:MM-HH:MM", e.g. "09:00-18:00"') from None
    if start >= end:
        raise PydanticCustomError("hours", "the start must be before the end")
    return start, end


def _workweek() -> list[Weekday]:
    """Monday to Friday, the default working week."""
    return ["mon", "tue", "wed", "thu", "fri"]


class CalendarConfig(_Model):
    """Working days and hours: when client channels may be messaged, how forecasts count days."""

    country: Country | None = None
    workdays: Annotated[list[Weekday], Field(min_length=1)] = Field(default_factory=_workweek)
    hours: str = "09:00-18:00"
    holidays: list[date] = Field(default_factory=list)
    workday_overrides: list[date] = Field(default_factory=list)

    @field_validator("workdays")
    @classmethod
    def _no_repeated_day(cls, days: list[str]) -> list[str]:
        """A repeated day is a slip worth pointing at."""
        _fail([((i,), f"'{d}' is listed twice", None) for i, d in enumerate(days) if d in days[:i]])
        return days

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, hours: str) -> str:
        """Caught at load time, not at the first deferred delivery."""
        _parse_hours(hours)
        return hours

    @model_validator(mode="after")
    def _day_off_or_on(self) -> CalendarConfig:
        """A date cannot be both a day off and a working day."""
        off = set(self.holidays)
        _fail(
            [
                (("workday_overrides", i), f"{d} is also in holidays; keep it in one list", None)
                for i, d in enumerate(self.workday_overrides)
                if d in off
            ]
        )
        return self

    @property
    def start(self) -> time:
        """When the client's working day starts."""
        return _parse_hours(self.hours)[0]

    @property
    def end(self) -> time:
        """When the client's working day ends."""
        return _parse_hours(self.hours)[1]


class RiskConfig(_Model):
    """Thresholds of the risk flags (SPEC §5)."""

    stale_days: Days = 7
    due_soon_days: Days = 3
    scope_creep_pct: Annotated[int, Field(ge=0, le=1000)] = 20
    forecast_window_days: Annotated[int, Field(ge=1, le=3650)] = 10
    at_risk_horizon_days: Days = 10


class SyncConfig(_Model):
    """The scheduled incremental sync."""

    # At least weekly: a project synced less often has no live status to report.
    every_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60


class DeliveryConfig(_Model):
    """How the ledger treats a delivery whose sender vanished (SPEC §8)."""

    # A claim (`sending`) older than this, by the clock, belongs to a run that died.
    claim_timeout_s: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = 600


def _public_base(value: str) -> str:
    """A base URL that paths are appended to: no query or fragment to append them after."""
    parts = urlsplit(value)
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise PydanticCustomError(
            "public_url",
            "expected a base URL without ?query or #fragment, like https://ops.example",
        )
    return value


class ListenConfig(_Model):
    """`stagecast listen`: where the vendors reach it, and how a burst of changes is gathered."""

    # What Trello signs (with `/webhooks/trello` appended): the address as Trello calls it,
    # in front of any reverse proxy, not the one `listen` binds to.
    public_url: Annotated[HttpUrlText, AfterValidator(_public_base)] | None = None
    # A project's sync starts once its webhooks have been quiet this long (a burst of card
    # moves makes one sync), but never later than `max_wait_seconds` after the first of them.
    debounce_seconds: Annotated[float, Field(ge=0, le=300, allow_inf_nan=False)] = 5.0
    max_wait_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0

    @model_validator(mode="after")
    def _wait_covers_debounce(self) -> ListenConfig:
        """A cap shorter than the quiet time would make the quiet time meaningless."""
        if self.max_wait_seconds < self.debounce_seconds:
            message = "must be at least debounce_seconds"
            _fail([(("max_wait_seconds",), message, None)])
        return self


class Contact(_Model):
    """Someone the client may reach, shown in the charter report."""

    name: NonEmpty
    role: str | None = None
    reach: str | None = None


class CharterConfig(_Model):
    """What the charter report tells a client group on day one."""

    purpose: str | None = None
    scope: str | None = None
    response_time: str | None = None
    contacts: list[Contact] = Field(default_factory=list)


class StageConfig(_Model):
    """A configured milestone: which stage value it matches and when it is due."""

    name: NonEmpty
    key: StageKey | None = None
    match: NonEmpty | None = None
    due: date | None = None
    required_docs: list[NonEmpty] = Field(default_factory=list)

    @property
    def effective_key(self) -> str:
        """The stage's id in events and delivery keys: given, or a slug of the name."""
        return self.key if self.key is not None else slugify(self.name)

    @property
    def effective_match(self) -> str:
        """The source value that puts a task in this stage: given, or the name."""
        return self.match if self.match is not None else self.name


# --- sources -------------------------------------------------------------------------------


class _SourceBase(_Model):
    """What every source entry has: a name unique in its project (default: the type)."""

    name: NonEmpty | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_type(cls, data: Any) -> Any:
        """After loading `name` is always set, so connectors and the ledger can rely on it."""
        if isinstance(data, dict) and data.get("name") is None:
            return {**data, "name": cls.model_fields["type"].default}
        return data


class TrelloLists(_Model):
    """List names added to the default done and doing lists (SPEC §3)."""

    done: list[NonEmpty] = Field(default_factory=list)
    doing: list[NonEmpty] = Field(default_factory=list)


class JiraSourceConfig(_SourceBase):
    """Jira Cloud or Data Center issues selected by JQL."""

    type: Literal["jira"] = "jira"
    url: HttpUrlText
    email: RefOrText | None = None
    token: SecretRef
    jql: NonEmpty
    stage_field: Literal["fixVersion", "sprint", "epic", "label"] = "fixVersion"
    max_concurrency: Concurrency = 8
    timeout_seconds: Seconds = 30.0
    # The Secret of the Jira admin webhook pointing at `stagecast listen`: Jira signs with it.
    webhook_secret: SecretRef | None = None


class TrelloSourceConfig(_SourceBase):
    """A Trello board through the API."""

    type: Literal["trello"] = "trello"
    url: HttpUrlText = "https://api.trello.com"
    board: NonEmpty
    key: SecretRef
    token: SecretRef
    stage_field: Literal["label", "list"] = "label"
    lists: TrelloLists = Field(default_factory=TrelloLists)
    max_concurrency: Concurrency = 8
    timeout_seconds: Seconds = 30.0
    # The API key's secret (Trello's Power-Up admin, "API key" tab): Trello signs webhooks with
    # it, over the body and the callback URL under `listen.public_url`.
    webhook_secret: SecretRef | None = None


class TrelloExportSourceConfig(_SourceBase):
    """A board's "Export as JSON" file: offline, for the demo and tests."""

    type: Literal["trello_export"] = "trello_export"
    path: Annotated[RelPath, AfterValidator(_existing_file)]
    stage_field: Literal["label", "list"] = "label"
    lists: TrelloLists = Field(default_factory=TrelloLists)


class GdriveSourceConfig(_SourceBase):
    """A Google Drive folder of deliverables, and optionally one of meeting minutes."""

    type: Literal["gdrive"] = "gdrive"
    url: HttpUrlText = "https://www.googleapis.com"
    folder: NonEmpty
    credentials: NonEmpty
    minutes_folder: NonEmpty | None = None
    max_concurrency: Concurrency = 8
    timeout_seconds: Seconds = 30.0

    @field_validator("credentials")
    @classmethod
    def _credentials_path(cls, value: str, info: ValidationInfo) -> str:
        """`env:NAME` stays a reference; a path is made absolute against the config's folder."""
        if value.startswith("env:"):
            return str(SecretRef.parse(value))
        return str(_anchor(Path(value), info))

    def credentials_file(self) -> Path:
        """The service-account file, following `env:NAME` at the moment of use."""
        if self.credentials.startswith("env:"):
            return Path(SecretRef.parse(self.credentials).resolve()).expanduser()
        return Path(self.credentials)


SourceConfig = Annotated[
    JiraSourceConfig | TrelloSourceConfig | TrelloExportSourceConfig | GdriveSourceConfig,
    Field(discriminator="type"),
]


# --- channels ------------------------------------------------------------------------------


class _ChannelBase(_Model):
    """What every channel has: who reads it, in which language, whether a person approves."""

    name: ChannelName
    audience: Literal["client", "internal"] = "internal"
    approval: bool = False
    approval_timeout: Duration = timedelta(hours=24)
    mention: list[NonEmpty] = Field(default_factory=list)
    language: Language | None = None
    proxy: ProxyUrl | None = None


class _ChatChannel(_ChannelBase):
    """A chat bot behind a webhook URL, which is itself a secret."""

    webhook: SecretRef
    keyword: NonEmpty | None = None


class SlackChannelConfig(_ChatChannel):
    """Slack incoming webhook."""

    type: Literal["slack"] = "slack"


class TeamsChannelConfig(_ChatChannel):
    """Microsoft Teams Workflows webhook."""

    type: Literal["teams"] = "teams"


class WeComChannelConfig(_ChatChannel):
    """WeCom group bot."""

    type: Literal["wecom"] = "wecom"


class FeishuChannelConfig(_ChatChannel):
    """Feishu/Lark custom bot; messages are signed when `secret` is set."""

    type: Literal["feishu"] = "feishu"
    secret: SecretRef | None = None


class DingTalkChannelConfig(_ChatChannel):
    """DingTalk custom robot; messages are signed when `secret` is set."""

    type: Literal["dingtalk"] = "dingtalk"
    secret: SecretRef | None = None


class SmtpConfig(_Model):
    """The mail server; `ssl` is implicit TLS (port 465), `starttls` upgrades a plain link."""

    host: NonEmpty
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    username: RefOrText | None = None
    password: SecretRef | None = None
    starttls: bool = True
    ssl: bool = False
    # A relay on this machine or a trusted network may speak plain SMTP; saying so is a choice.
    insecure: bool = False
    timeout_seconds: Seconds = 30.0

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpConfig:
        """Both asked for explicitly is a contradiction; with `ssl` alone, starttls is moot."""
        if self.ssl and self.starttls and "starttls" in self.model_fields_set:
            _fail([(("starttls",), "choose ssl (implicit TLS) or starttls, not both", None)])
        return self

    @model_validator(mode="after")
    def _login_in_full(self) -> SmtpConfig:
        """A login needs both; half of one fails every send, so say so now."""
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            _fail([((missing,), f"smtp.{missing} is missing: give both or neither", None)])
        return self

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> SmtpConfig:
        """A login without TLS sends the password readable to anyone on the path."""
        if self.password is not None and not (self.ssl or self.starttls or self.insecure):
            message = (
                "with a password, the login would cross the network unencrypted; "
                "set starttls: true or ssl: true (insecure: true only for a local relay)"
            )
            _fail([(("starttls",), message, None)])
        return self


class EmailChannelConfig(_ChannelBase):
    """Mail over SMTP to a fixed list of addresses."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"] = "email"
    to: Annotated[list[EmailAddress], Field(min_length=1)]
    cc: list[EmailAddress] = Field(default_factory=list)
    from_: EmailAddress = Field(alias="from")
    smtp: SmtpConfig


class FileChannelConfig(_ChannelBase):
    """Writes reports into `<outbox>/<project>/<channel>/`: the local default and the demo's."""

    type: Literal["file"] = "file"


ChannelConfig = Annotated[
    SlackChannelConfig
    | TeamsChannelConfig
    | WeComChannelConfig
    | FeishuChannelConfig
    | DingTalkChannelConfig
    | EmailChannelConfig
    | FileChannelConfig,
    Field(discriminator="type"),
]


# --- reports -------------------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_CRON_ITEM = re.compile(r"(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?")


def _cron_field(text: str, low: int, high: int, names: dict[str, int]) -> str | None:
    """What is wrong with one cron field, or None."""
    for item in text.lower().split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None or (match[1] == "*" and match[2]):
            return f"'{text}' is not a value, range, list or step"
        for part in (match[1], match[2]):
            if part is None or part == "*":
                continue
            number = int(part) if part.isdigit() else names.get(part)
            if number is None or not low <= number <= high:
                return f"'{part}' is out of range {low}-{high}"
        if match[3] is not None and int(match[3]) == 0:
            return "a step must be at least 1"
    return None


def _cron(value: str) -> str:
    """Five cron fields, checked loosely: enough to catch a typo before the schedule is made."""
    fields = value.split()
    if len(fields) != 5:
        raise PydanticCustomError(
            "cron",
            "expected 5 cron fields (minute hour day month weekday), found {n}",
            {"n": len(fields)},
        )
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        problem = _cron_field(text, low, high, names)
        if problem:
            raise PydanticCustomError(
                "cron", "{label} field: {problem}", {"label": label, "problem": problem}
            )
    return value


class ReportRule(_Model):
    """Which channels get a report kind, and its schedule or threshold."""

    channels: list[NonEmpty]
    cron: Annotated[str, AfterValidator(_cron)] | None = None
    min_severity: Severity | None = None


class ReportsConfig(_Model):
    """The report kinds a project sends (SPEC §7); a kind left out is not sent."""

    daily_update: ReportRule | None = None
    weekly_update: ReportRule | None = None
    stage_report: ReportRule | None = None
    project_report: ReportRule | None = None
    risk_alert: ReportRule | None = None
    charter: ReportRule | None = None

    def by_kind(self) -> dict[str, ReportRule]:
        """The configured kinds, in SPEC order."""
        rules = {kind: getattr(self, kind) for kind in REPORT_KINDS}
        return {kind: rule for kind, rule in rules.items() if rule is not None}

    @model_validator(mode="after")
    def _settings_where_they_apply(self) -> ReportsConfig:
        """A cron or threshold on a kind that ignores it would be silently lost."""
        problems: list[Problem] = []
        for kind, rule in self.by_kind().items():
            if rule.cron is not None and kind not in SCHEDULED_KINDS:
                problems.append(
                    (
                        (kind, "cron"),
                        "only daily_update and weekly_update are scheduled; the others follow"
                        " events",
                        None,
                    )
                )
            if rule.min_severity is not None and kind != "risk_alert":
                problems.append(
                    ((kind, "min_severity"), "only risk_alert takes min_severity", None)
                )
        _fail(problems)
        return self


# --- project and top level -----------------------------------------------------------------


class ProjectConfig(_Model):
    """One client engagement: its sources, stages, channels, calendar and language."""

    key: ProjectKey
    name: NonEmpty
    language: Language = "zh-CN"
    timezone: TimezoneName | None = None
    templates: TemplatesDir | None = None
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    charter: CharterConfig | None = None
    sources: Annotated[list[SourceConfig], Field(min_length=1)]
    stages: Annotated[list[StageConfig], Field(min_length=1)] | None = None
    channels: list[ChannelConfig] = Field(default_factory=list)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)

    @property
    def tz(self) -> ZoneInfo:
        """The project's zone (filled from the top level when loaded through `Config`)."""
        return ZoneInfo(self.timezone or DEFAULT_TIMEZONE)

    def internal_channels(self) -> list[ChannelConfig]:
        """Where the team hears about the machinery (alerts, expiries): every internal channel."""
        return [c for c in self.channels if c.audience == "internal"]

    def channel(self, name: str) -> ChannelConfig:
        """A channel by name, or a ConfigError listing the ones there are (for --channel)."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.channels) or "none"
        raise ConfigError([f"unknown channel '{name}' in project {self.key} (channels: {known})"])

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        """Names are unique and reports name channels that exist."""
        _fail(
            [
                *_duplicates(
                    [s.name or s.type for s in self.sources],
                    lambda i: ("sources", i, "name"),
                    "source name",
                ),
                *_stage_problems(self.stages or []),
                *_duplicates(
                    [c.name for c in self.channels],
                    lambda i: ("channels", i, "name"),
                    "channel name",
                ),
                *_report_channel_problems(self),
            ]
        )
        return self


def _stage_problems(stages: Sequence[StageConfig]) -> list[Problem]:
    """Stage names and keys are unique; a name clash is reported once, not again as a key."""
    names = _duplicates([s.name for s in stages], lambda i: ("stages", i, "name"), "stage name")
    clashing = {loc[1] for loc, _, _ in names}
    keys = [
        (loc, message if stages[int(loc[1])].key else f"{message} made from its name", also)
        for loc, message, also in _duplicates(
            [s.effective_key for s in stages], lambda i: ("stages", i, "key"), "stage key"
        )
        if loc[1] not in clashing
    ]
    return names + keys


def _report_channel_problems(project: ProjectConfig) -> list[Problem]:
    """Every channel a report names must be one of the project's channels."""
    names = [c.name for c in project.channels]
    known = ", ".join(dict.fromkeys(names)) or "none configured"
    problems: list[Problem] = []
    for kind, rule in project.reports.by_kind().items():
        for i, name in enumerate(rule.channels):
            loc: Loc = ("reports", kind, "channels", i)
            if name not in names:
                problems.append((loc, f"unknown channel '{name}' (channels: {known})", None))
            elif name in rule.channels[:i]:
                problems.append((loc, f"channel '{name}' is listed twice", None))
    return problems


# The state store is synchronous SQLAlchemy on the drivers stagecast installs: pysqlite (the
# standard library) and psycopg 3. A bare `postgresql://` would make SQLAlchemy reach for
# psycopg2, which is not installed, so it is read as psycopg.
_STATE_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
_STATE_EXAMPLES = "sqlite:///.stagecast/state.db or postgresql+psycopg://user@host/db"
# What SQLAlchemy's URL parser reads after the scheme: [user[:password]@][host][:port][/db][?q]
_DB_URL_REST = re.compile(
    r"(?:[^:/]*(?::[^@]*)?@)?(?:\[[^/?]+\]|[^/:?]+)?(?::(\d*))?(?:/.*)?", re.S
)


def _state_url(value: str, info: ValidationInfo) -> str:
    """A database URL the state store can open; a relative SQLite path is made absolute
    against the config's folder. The URL is never quoted back: it may carry a password."""
    scheme, sep, rest = value.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) or _has_control(value):
        raise PydanticCustomError(
            "state_url", "expected a database URL like {examples}", {"examples": _STATE_EXAMPLES}
        )
    driver = _STATE_DRIVERS.get(scheme.lower())
    if driver is None:
        raise PydanticCustomError(
            "state_url",
            "{scheme} is not supported: the state store runs on SQLite or on PostgreSQL through "
            "psycopg ({examples})",
            {"scheme": _quote(scheme + "://") or "this database", "examples": _STATE_EXAMPLES},
        )
    if driver.startswith("postgresql"):
        return f"{driver}://{_db_location(rest)}"
    if rest == "":
        return f"{driver}://"  # in memory: gone when the process ends, but a valid choice
    match = re.fullmatch(r"/([^?]*)(\?.*)?", rest, re.DOTALL)
    if match is None:
        raise PydanticCustomError(
            "state_url",
            "an SQLite URL has no host: write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db",
        )
    if match[1] in ("", ":memory:") or match[1].startswith("/"):
        return f"{driver}://{rest}"
    return f"{driver}:///{_anchor(Path(match[1]), info)}{match[2] or ''}"


def _db_location(rest: str) -> str:
    """The part after `postgresql://`, if SQLAlchemy can read it (a port must be a number)."""
    match = _DB_URL_REST.fullmatch(rest)
    port = match[1] if match else None
    if match is None or (port and not (len(port) <= 5 and 0 < int(port) < 65536)):
        raise PydanticCustomError(
            "state_url",
            "not a database URL SQLAlchemy can read (user:password@host:port/db, the port a "
            "number from 1 to 65535)",
        )
    return rest


def _with_timezone(project: Any, zone: str) -> Any:
    """A project entry given the top-level zone when it has none of its own."""
    if isinstance(project, dict) and project.get("timezone") is None:
        return {**project, "timezone": zone}
    if isinstance(project, ProjectConfig) and project.timezone is None:
        return project.model_copy(update={"timezone": zone})
    return project


class Config(_Model):
    """The whole `stagecast.yaml`: shared settings and the projects."""

    timezone: TimezoneName = DEFAULT_TIMEZONE
    state: Annotated[str, AfterValidator(_state_url)] = Field(DEFAULT_STATE, validate_default=True)
    outbox: RelPath = Field(Path(".stagecast/outbox"), validate_default=True)
    templates: TemplatesDir | None = None
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    listen: ListenConfig = Field(default_factory=ListenConfig)
    projects: Annotated[list[ProjectConfig], Field(min_length=1)]

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """The config file's folder: what relative paths in it are relative to."""
        return self._base_dir

    @property
    def tz(self) -> ZoneInfo:
        """The top-level zone: how an `--as-of` without an offset is read."""
        return ZoneInfo(self.timezone)

    def project(self, key: str) -> ProjectConfig:
        """A project by key, or a ConfigError listing the keys there are (for --project)."""
        for project in self.projects:
            if project.key == key:
                return project
        known = ", ".join(p.key for p in self.projects)
        raise ConfigError([f"unknown project '{key}' (projects: {known})"])

    @model_validator(mode="before")
    @classmethod
    def _projects_inherit_timezone(cls, data: Any) -> Any:
        """Every loaded project has a concrete timezone: its own, else the top level's."""
        if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
            return data
        zone = data.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(zone, str) or not _is_timezone(zone):
            return data  # the top-level error is reported; projects should not repeat it
        return {**data, "projects": [_with_timezone(p, zone) for p in data["projects"]]}

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        """Project keys are unique; Trello's webhook signatures have the URL they cover;
        secrets learn their paths for resolve errors."""
        _fail(
            [
                *_duplicates(
                    [p.key for p in self.projects], lambda i: ("projects", i, "key"), "project key"
                ),
                *_unsigned_trello_webhooks(self),
            ]
        )
        self._base_dir = Path(_context(info, "base_dir") or Path.cwd())
        _locate_secrets(self, ())
        return self


def _unsigned_trello_webhooks(config: Config) -> list[Problem]:
    """Trello signs the callback URL with the body: without `listen.public_url` no signature
    could be checked, and `listen` would refuse every Trello webhook."""
    if config.listen.public_url is not None:
        return []
    return [
        (
            ("projects", i, "sources", j, "webhook_secret"),
            "Trello signs the callback URL too: set listen.public_url (the https address "
            "Trello calls, e.g. https://ops.example)",
            None,
        )
        for i, project in enumerate(config.projects)
        for j, source in enumerate(project.sources)
        if isinstance(source, TrelloSourceConfig) and source.webhook_secret is not None
    ]


def _is_timezone(value: str) -> bool:
    """Whether `_timezone` accepts the value."""
    try:
        _timezone(value)
    except PydanticCustomError:
        return False
    return True


def _locate_secrets(value: object, loc: Loc) -> None:
    """Tell each SecretRef its path in the file."""
    for where, ref in _references(value, loc):
        ref._locate(_path(where))


# Text fields that may name an environment variable holding a path (`credentials: env:NAME`).
_PATH_REFERENCES = frozenset({"credentials"})


def _references(value: object, loc: Loc) -> Iterator[tuple[Loc, SecretRef]]:
    """Every secret reference in the config, with its path; `credentials: env:NAME` too."""
    if isinstance(value, SecretRef):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            inner = getattr(value, name)
            if name in _PATH_REFERENCES and isinstance(inner, str) and inner.startswith("env:"):
                inner = SecretRef.parse(inner)
            yield from _references(inner, (*loc, field.alias or name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, (*loc, i))


def _unset_variables(config: Config) -> Iterator[tuple[Loc, str]]:
    """Each `env:NAME` whose variable is unset or empty: without it a run would send to some
    channels and then fail the one whose secret is missing. The value is never quoted.
    Prefect Secret blocks are left to the connectors (the core does not talk to Prefect)."""
    for loc, ref in _references(config, ()):
        value = os.environ.get(ref.name) if ref.kind == "env" else "left to the connector"
        if not value:
            state = "is not set" if value is None else "is empty"
            yield loc, f"environment variable {ref.name} {state}"


# --- loading -------------------------------------------------------------------------------


# Bounds on what one config file may cost to read: a real one is a few kilobytes, a few
# hundred values and a handful of levels deep. Past these it is a mistake or an attack
# (`-c /dev/zero`, a "billion laughs" of nested aliases) and is refused before it is expanded.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_VALUES = 100_000
MAX_NESTING = 64
MAX_PROBLEMS_SHOWN = 100


def load_config(path: str | Path, *, check_environment: bool = False) -> Config:
    """Read and validate a config file; raise ConfigError with every problem found.

    With `check_environment`, every `env:NAME` reference must also name a variable that is
    set and not empty: for `validate` and the commands about to pull or send.
    """
    file = Path(path)
    return parse_config(
        _read_config(file),
        file.absolute().parent,
        source_name=str(file),
        check_environment=check_environment,
    )


def _read_config(file: Path) -> str:
    """The file's text, reading at most one byte past the limit whatever the file is."""
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a folder, not a config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read it ({exc.strerror or exc})"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        limit = f"{MAX_CONFIG_BYTES / 2**20:g} MiB"
        raise ConfigError([f"{file}: larger than {limit}; a config file is a few kilobytes"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([f"{file}: not UTF-8 text"]) from None


def parse_config(
    text: str,
    base_dir: Path,
    source_name: str = "stagecast.yaml",
    *,
    check_environment: bool = False,
) -> Config:
    """Validate config text whose relative paths are relative to `base_dir`."""
    data, lines = _parse_yaml(text, source_name)
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {_kind_of(data)}"
        raise ConfigError(
            [f"{source_name}: expected a mapping of settings with 'projects', found {found}"]
        )
    problems: list[tuple[Loc, str]] = list(lines.duplicates)
    unshown = 0
    context = {"base_dir": Path(base_dir).absolute(), "check_files": True}
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        # Explaining an error costs a walk through the schema: explain those that are shown.
        errors = exc.errors(include_url=False)
        problems.extend(_problems_from(errors[:MAX_PROBLEMS_SHOWN]))
        unshown = max(0, len(errors) - MAX_PROBLEMS_SHOWN)
    else:
        # After the file's own checks, so a missing variable never hides a problem in the file.
        if check_environment:
            problems.extend(_unset_variables(config))
    if problems:
        raise ConfigError(_render(problems, lines, source_name, unshown))
    return config


class _Loader(yaml.SafeLoader):
    """SafeLoader that turns what would crash or never finish into YAML errors with a line:
    bad dates (2026-13-01), numbers too long to convert, nesting too deep to compose, more
    values than a config has (parsing costs some microseconds a value)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Composing recurses per level: stop at MAX_NESTING, far before Python's own limit."""
        self._values += 1
        problem = None
        if self._depth >= MAX_NESTING:
            problem = f"nested more than {MAX_NESTING} levels deep"
        elif self._values > MAX_CONFIG_VALUES:
            problem = f"more than {MAX_CONFIG_VALUES:,} values; too large for a config"
        if problem:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, problem, event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A scalar Python cannot hold (an int of 5000 digits) is a problem at its line."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, "cannot read this value (too long or out of range)", node.start_mark
            ) from None

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """Point at the bad date instead of crashing."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"not a valid date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _parse_yaml(text: str, source_name: str) -> tuple[Any, _LineIndex]:
    """The data and where its keys are, or the parser's complaint with a line.

    The node tree is composed once and measured before anything walks it with the aliases
    expanded (the constructor, pydantic, the line index); lines are indexed before
    construction, which rewrites merge keys (`<<: *defaults`) in place.
    """
    try:
        loader = _Loader(text)  # checks the whole text here: a control character stops it
    except yaml.reader.ReaderError as exc:
        raise ConfigError([f"{source_name}: {_bad_character(text, exc)}"]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None, _LineIndex(None)
        _refuse_expansion(root, source_name)
        lines = _LineIndex(root)
        return loader.construct_document(root), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{source_name}: {where}{exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source_name}: {exc}"]) from None
    finally:
        loader.dispose()


def _bad_character(text: str, exc: yaml.reader.ReaderError) -> str:
    """Where the character YAML refuses is, and which it is."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    return f"line {line}, column {column}: character #x{exc.character:04x} is not allowed in YAML"


class _Endless(Exception):
    """An alias used inside the value it names."""

    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _refuse_expansion(root: yaml.Node, source_name: str) -> None:
    """Refuse a document whose aliases make it endless, huge or too deep once written out."""
    try:
        values, depth, distinct = _expanded(root)
    except _Endless as endless:
        mark = endless.node.start_mark
        raise ConfigError(
            [
                f"{source_name}: line {mark.line + 1}, column {mark.column + 1}: an alias is used "
                "inside the value it names, so that value never ends"
            ]
        ) from None
    aliases = " once its aliases (*name) are written out" if values > distinct else ""
    if values > MAX_CONFIG_VALUES:
        too_many = f"more than {MAX_CONFIG_VALUES:,} values{aliases}"
        raise ConfigError([f"{source_name}: {too_many}; too large for a config"])
    if depth > MAX_NESTING:
        raise ConfigError([f"{source_name}: nested more than {MAX_NESTING} levels deep{aliases}"])


def _expanded(root: yaml.Node) -> tuple[int, int, int]:
    """Values and depth of the document with every alias written out (each capped just past
    its limit, so a billion laughs costs what its text does), and how many nodes it has.

    An alias is the same node object in two places; the walk visits each node once, without
    recursion, and meets a node again while inside it only if an alias makes a cycle.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    inside: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            inside.discard(key)
            kids = _children(node)
            size[key] = min(1 + sum(size[id(k)] for k in kids), MAX_CONFIG_VALUES + 1)
            depth[key] = min(1 + max((depth[id(k)] for k in kids), default=0), MAX_NESTING + 1)
        elif key in inside:
            raise _Endless(node)
        elif key not in size:
            inside.add(key)
            stack.append((node, True))
            stack.extend((kid, False) for kid in _children(node))
    return size[id(root)], depth[id(root)], len(size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    """A node's keys and values, or items."""
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _kind_of(value: object) -> str:
    """What YAML produced, in the user's words."""
    return {list: "list", str: "text", int: "number", float: "number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


class _LineIndex:
    """1-based lines of the file's keys and values by path, and keys given twice."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.keys: dict[Loc, int] = {}
        self.values: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, str]] = []
        if root is not None:
            self._walk(root, (), set())

    def _walk(self, node: yaml.Node, loc: Loc, seen: set[int]) -> None:
        """Record the node and its children; an alias cycle is walked once."""
        if id(node) in seen:
            return
        self.values[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self._walk_mapping(node, loc, seen | {id(node)})
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i), seen | {id(node)})

    def _walk_mapping(self, node: yaml.MappingNode, loc: Loc, seen: set[int]) -> None:
        """Keys by line; PyYAML silently keeps the last of two equal keys, so flag that."""
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key_loc = (*loc, key_node.value)
            line = key_node.start_mark.line + 1
            if key_loc in self.keys:
                message = f"key given twice (also line {self.keys[key_loc]})"
                self.duplicates.append((key_loc, message))
            self.keys[key_loc] = line
            self._walk(value_node, key_loc, seen)

    def line(self, loc: Loc) -> int | None:
        """The line of the path's key (else its value), else of its nearest ancestor."""
        for end in range(len(loc), -1, -1):
            probe = loc[:end]
            found = self.keys.get(probe) or self.values.get(probe)
            if found:
                return found
        return None


def _render(
    problems: Iterable[tuple[Loc, str]], lines: _LineIndex, source_name: str, unshown: int = 0
) -> list[str]:
    """`path: message (line N)`, in file order; each one printable line, whatever names the
    file gave (a stage called "\x1b[2J" must not clear the terminal)."""
    rendered: list[tuple[int, str]] = []
    for loc, message in problems:
        line = lines.line(loc)
        suffix = f" (line {line})" if line else ""
        text = f"{_path(loc) or source_name}: {message}{suffix}"
        rendered.append((line or 0, _printable(text)))
    shown = [text for _, text in sorted(rendered, key=lambda pair: pair[0])]
    more = unshown + max(0, len(shown) - MAX_PROBLEMS_SHOWN)
    if more:  # a file wrong everywhere would flood the terminal
        shown = [*shown[:MAX_PROBLEMS_SHOWN], f"{source_name}: and {more:,} more problems"]
    return shown


def _path(loc: Loc) -> str:
    """`projects[0].channels[2].webhook` from a location tuple; an odd key (a typo with a
    space, a control character) is quoted, so the path stays one printable line."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]{1,64}", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part[:64])}]"
    return text


def _problems_from(errors: Iterable[ErrorDetails]) -> Iterator[tuple[Loc, str]]:
    """Pydantic's errors as (location in the file, friendly message)."""
    for err in errors:
        loc, owners, here = _walk_loc(err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind == _PROBLEMS:
            for sub, message, also in ctx["problems"]:
                yield (
                    (*loc, *sub),
                    message if also is None else f"{message} (also {_path((*loc, *also))})",
                )
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            yield (*loc, "type"), _tag_message(ctx.get("tag"), here)
        elif kind == "invalid_key":
            yield loc[:-1], f"key {_yaml_text(err.get('input'))} is not text; put it in quotes"
        else:
            yield loc, _message(err, loc, owners)


def _yaml_text(value: object) -> str:
    """A key YAML read as something else (1, null, a date), as it was likely written."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _quote(str(value)) or "here"


def _tag_message(tag: object, members: list[Any]) -> str:
    """An unknown or missing `type`, with the types there are."""
    expected = ", ".join(t for t in (_tag_of(m) for m in members) if t)
    if tag is None:
        return f"field required (expected one of: {expected})"
    return f"unknown type {_quote(tag) or 'value'} (expected one of: {expected})"


_FIXED = {
    "missing": "field required",
    "string_type": "expected text (put it in quotes)",
    "list_type": "expected a list",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "string_too_short": "must not be empty",
    "path_type": "expected a path",
    "finite_number": "expected a finite number",
}
_BY_PREFIX = {
    "int_": "expected a whole number",
    "float_": "expected a number",
    "bool_": "expected true or false",
    "date_": "expected a date like 2026-10-01",
}


def _message(err: Any, loc: Loc, owners: list[type[BaseModel]]) -> str:
    """A short message in the user's words that never repeats a secret field's value."""
    kind: str = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _FIXED:
        return _FIXED[kind]
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), owners)
    if kind == "literal_error":
        shown = None if any(part in SECRET_FIELDS for part in loc[-1:]) else err.get("input")
        return _not_allowed(shown, ctx.get("expected", ""))
    if kind == "too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"needs at least {ctx.get('min_length')} items"
        )
    bounds = {
        "greater_than_equal": "at least",
        "less_than_equal": "at most",
        "greater_than": "more than",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[kind]} {limit}"
    for prefix, message in _BY_PREFIX.items():
        if kind.startswith(prefix):
            return message
    return str(err["msg"]).removeprefix("Value error, ")


def _unknown_key(key: str, owners: list[type[BaseModel]]) -> str:
    """Unknown keys are usually typos: suggest the closest real one."""
    names = sorted({f.alias or n for m in owners for n, f in m.model_fields.items()})
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return f"unknown key (expected one of: {', '.join(names)})" if names else "unknown key"


def _not_allowed(value: object, expected: str) -> str:
    """A value outside a fixed set, with the set (literal fields are never secrets)."""
    allowed = ", ".join(re.findall(r"'([^']*)'", expected))
    quoted = _quote(value)
    return f"{quoted} is not one of: {allowed}" if quoted else f"expected one of: {allowed}"


def _quote(value: object) -> str:
    """A short, printable input quoted for a message, else nothing."""
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return f"'{value}'"
    return ""


# --- walking pydantic locations through the model types ------------------------------------


def _walk_loc(loc: Sequence[str | int]) -> tuple[Loc, list[type[BaseModel]], list[Any]]:
    """Drop the union tags pydantic inserts; also give the models owning the last key, and the
    types found at the end (the union members, for a bad `type`)."""
    here: list[Any] = [Config]
    owners: list[type[BaseModel]] = []
    clean: list[str | int] = []
    for part in loc:
        member = _union_member(here, part)
        if member is not None:
            here = [member]
            continue
        owners = [t for t in here if _is_model(t)]
        clean.append(part)
        here = [leaf for tp in here for leaf in _step(tp, part)]
    return tuple(clean), owners, here


def _union_member(here: list[Any], part: str | int) -> type[BaseModel] | None:
    """The tagged member when `part` is the tag pydantic put in a discriminated union's loc."""
    models = [t for t in here if _is_model(t)]
    if len(models) < 2 or not isinstance(part, str):
        return None
    return next((m for m in models if _tag_of(m) == part), None)


def _step(tp: Any, part: str | int) -> list[Any]:
    """The types one location step below `tp`."""
    if isinstance(part, int) and get_origin(tp) is list:
        return _leaves(get_args(tp)[0])
    if isinstance(part, str) and _is_model(tp):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return _leaves(field.annotation)
    return []


def _leaves(tp: Any) -> list[Any]:
    """A type with Annotated and unions unwrapped."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _leaves(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [leaf for arg in get_args(tp) for leaf in _leaves(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    """A pydantic model class (not a generic alias such as list[int])."""
    return get_origin(tp) is None and isinstance(tp, type) and issubclass(tp, BaseModel)


def _tag_of(tp: Any) -> str | None:
    """The `type` value a union member is chosen by."""
    field = tp.model_fields.get("type") if _is_model(tp) else None
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    tag = get_args(field.annotation)[0]
    return tag if isinstance(tag, str) else None
