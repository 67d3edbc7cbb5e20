"""Hostile configs (SPEC §2, §10, §11): whatever the file holds, `stagecast validate` exits 2
with problems that each name a path into the file or the file itself, never a traceback, and
soon. Nothing else may run on a config that `validate` would refuse, so this is the gate.

Hypothesis breaks a valid config (the SPEC's example, with every source and channel type and the
top-level `delivery` block) the ways people and attackers do: values of the wrong kind, numbers
out of range, unknown and misspelt keys, required keys deleted, bad URLs, random text and bytes,
deep nesting and aliases. The explicit cases below pin inputs that once hung the loader, crashed
a later run with a traceback, or passed `validate` when they should not have.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from stagecast.config import (
    Config,
    ConfigError,
    DeliveryConfig,
    EmailChannelConfig,
    GdriveSourceConfig,
    JiraSourceConfig,
    ListenConfig,
    RiskConfig,
    SmtpConfig,
    SyncConfig,
    TrelloSourceConfig,
    load_config,
)

EXAMPLE = Path(__file__).parents[1] / "stagecast" / "configs" / "example.yaml"
REPO = Path(__file__).parents[2]
CATEGORY = "hostile config"
SECRET = "s3cret-value-never-shown"  # what every variable the config references holds
# A refusal takes milliseconds; this bound is for slow CI machines, and far below a hang.
QUICK = 5.0
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Loc = tuple[str | int, ...]


# --- the workspace and the command ---------------------------------------------------------


@dataclass
class Workspace:
    """A folder with the files the example config names, and the example as data."""

    folder: Path
    data: dict[str, Any]

    def write(self, text: str | bytes) -> Path:
        """The config file holding exactly `text`."""
        path = self.folder / "stagecast.yaml"
        if isinstance(text, str):
            text = text.encode("utf-8")
        path.write_bytes(text)
        return path

    def write_data(self, data: Any) -> Path:
        """The config file holding `data` as YAML."""
        return self.write(dump(data))


def dump(data: Any) -> str:
    """YAML as a person would write it (block style, keys in order, Chinese as is)."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The SPEC's example with every field the fuzz aims at written out, and every variable
    it references set (`validate` checks them), so each refusal is the mutation's doing."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "exports").mkdir()
    (folder / "exports" / "board.json").write_text("{}", encoding="utf-8")
    (folder / "templates-local").mkdir()
    (folder / "acme-templates").mkdir()
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["delivery"] = {"claim_timeout_s": 600}
    data["listen"] = {"public_url": "https://ops.example", "debounce_seconds": 5}
    data["listen"]["max_wait_seconds"] = 30
    project = data["projects"][0]
    project["sources"][0]["timeout_seconds"] = 30
    project["channels"][0]["approval_timeout"] = "24h"
    project["channels"][1]["smtp"]["timeout_seconds"] = 30
    with pytest.MonkeyPatch.context() as environment:
        for name in referenced_variables(data):
            environment.setenv(name, SECRET)
        yield Workspace(folder, data)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


RUNNER = CliRunner()
# Built once: `CliRunner.invoke` rebuilds the whole command tree each call, which would be
# half of each case's time.
COMMAND = typer.main.get_command(app)


def validate(path: Path | str) -> Outcome:
    """`stagecast validate -c PATH` in this process, as `CliRunner.invoke` runs it; an
    exception escapes and fails the test."""
    started = time.perf_counter()
    with RUNNER.isolation() as (stdout, stderr, _):
        try:
            COMMAND.main(["validate", "-c", str(path)], prog_name="stagecast")
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        shown = stdout.getvalue().decode(), stderr.getvalue().decode()
    return Outcome(code, *shown, time.perf_counter() - started)


# A path into the file as the loader writes it: projects[0].channels[2].webhook, with an odd
# key quoted (projects[0]["a b"]).
_PART = r'(?:[\w-]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])'
WHERE = re.compile(rf"{_PART}(?:\.[\w-]+|\[\d+\]|\[\"(?:[^\"\\]|\\.)*\"\])*: \S")


def assert_refused(out: Outcome, path: Path, *fragments: str) -> None:
    """Exit 2, each problem on its own line naming a path or the file, no traceback, no
    secret, soon."""
    shown = out.stdout + out.stderr
    assert out.code == 2, shown
    assert "Traceback" not in shown and SECRET not in shown
    assert out.stdout == ""
    problems = out.stderr.splitlines()
    assert problems, "refused without saying why"
    for problem in problems:
        assert problem.startswith(f"{path}: ") or WHERE.match(problem), problem
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, problems)
    assert out.seconds < QUICK


def assert_handled(out: Outcome, path: Path) -> None:
    """A mutation that may leave the config valid: accepted cleanly, or refused properly."""
    if out.code == 0:
        assert "OK" in out.stdout and "Traceback" not in out.stderr
        assert out.seconds < QUICK
    else:
        assert_refused(out, path)


# --- walking the example -------------------------------------------------------------------


def locations(node: Any, loc: Loc = ()) -> Iterator[Loc]:
    """Every value's path, the containers' included."""
    yield loc
    if isinstance(node, dict):
        for key, value in node.items():
            yield from locations(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from locations(value, (*loc, i))


def mappings(node: Any) -> list[Loc]:
    """The paths of every mapping (where a key can be added, removed or misspelt)."""
    return [loc for loc in locations(node) if isinstance(get(node, loc), dict)]


def get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def replaced(data: Any, loc: Loc, value: Any) -> Any:
    """A copy of `data` with the value at `loc` replaced or added (the root too)."""
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    if isinstance(data, list):
        assert isinstance(head, int)
        return [replaced(v, rest, value) if i == head else v for i, v in enumerate(data)]
    return {**data, head: replaced(data.get(head), rest, value)}


def without(data: Any, loc: Loc) -> Any:
    """A copy of `data` without the key at `loc`."""
    parent = dict(get(data, loc[:-1]))
    del parent[loc[-1]]
    return replaced(data, loc[:-1], parent)


def path_of(loc: Loc) -> str:
    """`projects[0].channels[2].webhook`, as the loader names a place in the file."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def schema_keys(model: Any = Config, seen: set[Any] | None = None) -> set[str]:
    """Every key any part of the config knows, so a generated key is surely unknown."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys |= {name, field.alias or name}
        for inner in _models_in(field.annotation):
            keys |= schema_keys(inner, seen)
    return keys


def _models_in(annotation: Any) -> Iterator[Any]:
    """The pydantic models an annotation mentions, at any depth."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        yield from _models_in(meta)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _models_in(origin)


KNOWN_KEYS = schema_keys() | {EmailChannelConfig.model_fields["from_"].alias or "from"}
NOT_UNKNOWN = KNOWN_KEYS | {"<<"}  # YAML's merge key: a merge, not a key


# --- values --------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
containers = st.one_of(
    st.lists(st.one_of(scalars, st.none()), max_size=3),
    st.dictionaries(st.text(max_size=8), st.one_of(scalars, st.none()), max_size=3),
)


def other_kind(value: Any) -> st.SearchStrategy[Any]:
    """A value of another kind: a container for a scalar, a scalar (never null) for a
    container. Each is wrong wherever it lands in this config."""
    return scalars if isinstance(value, dict | list) else containers


# Every number in the example, and the model field it is: just outside its bounds is wrong.
NUMBERS: dict[Loc, tuple[Any, str]] = {
    ("delivery", "claim_timeout_s"): (DeliveryConfig, "claim_timeout_s"),
    **{("listen", name): (ListenConfig, name) for name in ("debounce_seconds", "max_wait_seconds")},
    **{("projects", 0, "risk", name): (RiskConfig, name) for name in RiskConfig.model_fields},
    ("projects", 0, "sync", "every_minutes"): (SyncConfig, "every_minutes"),
    **{
        ("projects", 0, "sources", i, name): (model, name)
        for i, model in ((0, JiraSourceConfig), (1, TrelloSourceConfig), (3, GdriveSourceConfig))
        for name in ("max_concurrency", "timeout_seconds")
    },
    ("projects", 0, "channels", 1, "smtp", "port"): (SmtpConfig, "port"),
    ("projects", 0, "channels", 1, "smtp", "timeout_seconds"): (SmtpConfig, "timeout_seconds"),
}


def bounds(model: Any, name: str) -> tuple[float, float]:
    """The lowest and highest value a number field takes (ge/gt, le/lt)."""
    low, high = -math.inf, math.inf
    for rule in model.model_fields[name].metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    return low, high


APPROVAL_TIMEOUT: Loc = ("projects", 0, "channels", 0, "approval_timeout")
BAD_WAITS = ["31d", "99999999999d", "745h", "0m", "0h0m", "soon", "-3", "1e400", "1d1", ""]


def out_of_range(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers just or far outside [low, high], and the floats that are no number at all."""
    assert math.isfinite(low) and math.isfinite(high)
    return st.one_of(
        st.integers(min_value=-(10**30), max_value=math.ceil(low) - 1),
        st.integers(min_value=math.floor(high) + 1, max_value=10**30),
        st.sampled_from([math.inf, -math.inf, math.nan]),
    )


# Keys without which the config cannot mean anything; deleting one is always an error there.
REQUIRED: list[Loc] = [
    ("projects",),
    *(
        ("projects", 0, *rest)
        for rest in [
            ("key",),
            ("name",),
            ("sources",),
            ("sources", 0, "type"),
            ("sources", 0, "url"),
            ("sources", 0, "token"),
            ("sources", 0, "jql"),
            ("sources", 1, "board"),
            ("sources", 1, "key"),
            ("sources", 1, "token"),
            ("sources", 2, "path"),
            ("sources", 3, "folder"),
            ("sources", 3, "credentials"),
            ("stages", 0, "name"),
            ("charter", "contacts", 0, "name"),
            ("channels", 0, "type"),
            ("channels", 0, "name"),
            ("channels", 0, "webhook"),
            ("channels", 1, "to"),
            ("channels", 1, "from"),
            ("channels", 1, "smtp"),
            ("channels", 1, "smtp", "host"),
            ("channels", 2, "webhook"),
            ("channels", 3, "webhook"),
            ("reports", "daily_update", "channels"),
            ("reports", "risk_alert", "channels"),
        ]
    ),
]

URLS: list[Loc] = [
    ("state",),
    ("projects", 0, "sources", 0, "url"),
    ("projects", 0, "sources", 1, "url"),
    ("projects", 0, "sources", 3, "url"),
    ("projects", 0, "channels", 2, "proxy"),
]
BAD_URLS = [
    "mysql://x/y",
    "postgres://u@h/db",
    "postgresql+asyncpg://u@h/db",
    "postgresql+psycopg2://u@h/db",
    "sqlite+aiosqlite:///x.db",
    "oracle://scott@h/xe",
    "postgresql://u@h:port/db",
    "postgresql://u@h:99999/db",
    "http://",
    "https://",
    "ftp://files.example",
    "http://[::1",
    "https://h.example:99999",
    "https://h.example:0",
    "https://exa mple.com",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "",
    " ",
    "\x00",
    "https://h.example/\x1b[2J",
    "//h.example",
    "h.example",
]


# --- the fuzz ------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_value_of_the_wrong_kind_is_named(workspace, reliability_tally, data):
    """A list where a value belongs (or a value where a list or mapping belongs) anywhere in
    the file: refused at that path, before it reaches code that would trip over it."""
    reliability_tally.record(f"{CATEGORY}: wrong kinds")
    loc = data.draw(st.sampled_from(list(locations(workspace.data))))
    value = data.draw(other_kind(get(workspace.data, loc)))
    path = workspace.write_data(replaced(workspace.data, loc, value))
    out = validate(path)
    assert_refused(out, path)
    assert path_of(loc) in out.stderr if loc else str(path) in out.stderr


@FUZZ
@given(data=st.data())
def test_any_other_value_is_accepted_or_named(workspace, reliability_tally, data):
    """Any scalar anywhere: some are fine (a name is a name), the rest are named."""
    reliability_tally.record(f"{CATEGORY}: other values")
    loc = data.draw(st.sampled_from(list(locations(workspace.data))))
    value = data.draw(st.one_of(scalars, st.none()))
    path = workspace.write_data(replaced(workspace.data, loc, value))
    assert_handled(validate(path), path)


@FUZZ
@given(data=st.data())
def test_numbers_out_of_range_are_named(workspace, reliability_tally, data):
    """Every bounded number, just or far out of bounds (or inf/nan): refused at its path,
    not crashing a sync later in date arithmetic or a timeout."""
    reliability_tally.record(f"{CATEGORY}: out-of-range numbers")
    loc = data.draw(st.sampled_from(sorted(NUMBERS, key=str)))
    value = data.draw(out_of_range(*bounds(*NUMBERS[loc])))
    path = workspace.write_data(replaced(workspace.data, loc, value))
    assert_refused(validate(path), path, f"{path_of(loc)}: ")


@FUZZ
@given(wait=st.one_of(st.sampled_from(BAD_WAITS), st.integers(721, 10**30)))
def test_approval_timeouts_out_of_range_are_named(workspace, reliability_tally, wait):
    """A wait of 0, of more than 30 days, or too long for a date to hold: named, not an
    OverflowError from timedelta."""
    reliability_tally.record(f"{CATEGORY}: out-of-range numbers")
    path = workspace.write_data(replaced(workspace.data, APPROVAL_TIMEOUT, wait))
    assert_refused(validate(path), path, f"{path_of(APPROVAL_TIMEOUT)}: ")


@FUZZ
@given(data=st.data())
def test_unknown_keys_are_named(workspace, reliability_tally, data):
    """Any key the schema does not know, in any mapping, however odd its characters: an
    `unknown key` problem on one printable line."""
    reliability_tally.record(f"{CATEGORY}: unknown keys")
    loc = data.draw(st.sampled_from(mappings(workspace.data)))
    key = data.draw(st.text(min_size=1, max_size=30).filter(lambda k: k not in NOT_UNKNOWN))
    value = data.draw(scalars)
    mapping = {**get(workspace.data, loc), key: value}
    path = workspace.write_data(replaced(workspace.data, loc, mapping))
    assert_refused(validate(path), path, "unknown key")


@FUZZ
@given(data=st.data())
def test_misspelt_keys_are_named(workspace, reliability_tally, data):
    """A real key with one character dropped, doubled, swapped or changed: named, not
    silently ignored with its default taking over."""
    reliability_tally.record(f"{CATEGORY}: misspelt keys")
    loc = data.draw(st.sampled_from(mappings(workspace.data)))
    mapping = get(workspace.data, loc)
    key = data.draw(st.sampled_from(sorted(mapping)))
    typo = data.draw(misspelt(key).filter(lambda k: k not in NOT_UNKNOWN))
    edited = {typo if k == key else k: v for k, v in mapping.items()}
    path = workspace.write_data(replaced(workspace.data, loc, edited))
    out = validate(path)
    assert_refused(out, path)
    # A misspelt `type` leaves nothing to check the other keys against: it is missing.
    assert "unknown key" in out.stderr or f"{path_of((*loc, key))}: field required" in out.stderr


def misspelt(key: str) -> st.SearchStrategy[str]:
    """One slip of the fingers in `key`."""
    at = st.integers(min_value=0, max_value=len(key) - 1)
    letter = st.characters(min_codepoint=32, max_codepoint=126)
    return st.one_of(
        at.map(lambda i: key[:i] + key[i + 1 :]),
        at.map(lambda i: key[:i] + key[i] + key[i:]),
        st.tuples(at, letter).map(lambda p: key[: p[0]] + p[1] + key[p[0] + 1 :]),
        st.tuples(at, letter).map(lambda p: key[: p[0]] + p[1] + key[p[0] :]),
        st.just(key.upper()),
    ).filter(lambda k: k != key and k != "")


@FUZZ
@given(loc=st.sampled_from(REQUIRED))
def test_deleted_required_keys_are_named(workspace, reliability_tally, loc):
    """A required key left out: `field required` at its path."""
    reliability_tally.record(f"{CATEGORY}: deleted required keys")
    path = workspace.write_data(without(workspace.data, loc))
    assert_refused(validate(path), path, f"{path_of(loc)}: field required")


@FUZZ
@given(data=st.data())
def test_bad_urls_are_named(workspace, reliability_tally, data):
    """Databases the store cannot open and web addresses the HTTP client cannot: named at
    their path (the URL itself is not quoted: it may hold a password)."""
    reliability_tally.record(f"{CATEGORY}: bad URLs")
    loc = data.draw(st.sampled_from(URLS))
    url = data.draw(st.sampled_from(BAD_URLS))
    path = workspace.write_data(replaced(workspace.data, loc, url))
    out = validate(path)
    assert_refused(out, path, f"{path_of(loc)}: ")
    assert "pw-in-url" not in out.stderr


@FUZZ
@given(data=st.data())
def test_any_url_accepted_is_one_the_store_and_client_can_open(workspace, reliability_tally, data):
    """Random URLs: whatever `validate` accepts, SQLAlchemy (the state store) and httpx (the
    sources and chat channels) can parse, so a run cannot fail on it later."""
    reliability_tally.record(f"{CATEGORY}: bad URLs")
    loc = data.draw(st.sampled_from(URLS))
    scheme = st.sampled_from(["http", "https", "socks5", "sqlite", "postgresql", "mysql", "x"])
    rest = st.text(max_size=30)
    url = data.draw(st.one_of(rest, st.tuples(scheme, rest).map(lambda p: f"{p[0]}://{p[1]}")))
    path = workspace.write_data(replaced(workspace.data, loc, url))
    out = validate(path)
    assert_handled(out, path)
    if out.code == 0:
        accepted = get(load_config(path).model_dump(by_alias=True), loc)
        assert_opens(loc, accepted)


def assert_opens(loc: Loc, url: str) -> None:
    """The URL parses the way the code that uses it parses it."""
    if loc == ("state",):
        engine = sa.create_engine(url)  # checks the URL's form; connects to nothing
        engine.dispose()
        assert (engine.dialect.name, engine.dialect.driver) in {
            ("sqlite", "pysqlite"),
            ("postgresql", "psycopg"),
        }
    else:
        assert httpx.URL(url).host


@FUZZ
@given(text=st.one_of(st.text(max_size=2000), st.text(alphabet="{}[]:,-&*!|>'\"#%@` \n\tab01")))
def test_random_text_is_refused(workspace, reliability_tally, text):
    """Text that is not a config (or not YAML at all): refused naming the file or a path."""
    reliability_tally.record(f"{CATEGORY}: random text and bytes")
    path = workspace.write(text)
    assert_refused(validate(path), path)


@FUZZ
@given(blob=st.binary(max_size=2000))
def test_random_bytes_are_refused(workspace, reliability_tally, blob):
    """Bytes, not UTF-8, control characters: refused naming the file."""
    reliability_tally.record(f"{CATEGORY}: random text and bytes")
    path = workspace.write(blob)
    assert_refused(validate(path), path)


@FUZZ
@given(data=st.data())
def test_damaged_files_are_accepted_or_named(workspace, reliability_tally, data):
    """The valid file with bytes deleted, inserted or changed, as a bad merge or a truncated
    copy leaves it: accepted if it still means something, else refused properly."""
    reliability_tally.record(f"{CATEGORY}: damaged files")
    text = dump(workspace.data).encode("utf-8")
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        cut = data.draw(st.integers(min_value=0, max_value=40))
        patch = data.draw(st.binary(max_size=8))
        text = text[:at] + patch + text[at + cut :]
    path = workspace.write(text)
    assert_handled(validate(path), path)


@settings(FUZZ, max_examples=25)  # each deep case costs the scanner a little more
@given(
    depth=st.integers(min_value=1, max_value=1500),
    opener=st.sampled_from(["[", "{a: ", "[{a: "]),
    where=st.sampled_from([(), ("projects", 0, "name"), ("projects", 0, "channels", 0)]),
)
def test_deep_nesting_is_refused(workspace, reliability_tally, depth, opener, where):
    """Brackets nested past any config's depth: a problem with a line, not a RecursionError."""
    reliability_tally.record(f"{CATEGORY}: deep nesting")
    closer = "".join({"[": "]", "{": "}"}[c] for c in reversed(opener) if c in "[{")
    nested = opener * depth + "x" + closer * depth
    marker = "NESTED-HERE"
    text = dump(replaced(workspace.data, where, marker)).replace(marker, nested, 1)
    path = workspace.write(text)
    assert_refused(validate(path), path)


@FUZZ
@given(
    width=st.integers(min_value=2, max_value=12),
    levels=st.integers(min_value=1, max_value=12),
    used_at=st.sampled_from([("projects",), ("projects", 0, "channels", 0, "mention"), ("x",)]),
)
def test_alias_expansions_are_refused_quickly(workspace, reliability_tally, width, levels, used_at):
    """Nested aliases of any width and depth, a 'billion laughs' included: refused in
    milliseconds, without building the expansion."""
    reliability_tally.record(f"{CATEGORY}: aliases")
    anchors = laughs(width, levels)
    marker = "USED-HERE"
    text = anchors + dump(replaced(workspace.data, used_at, marker)).replace(
        f"'{marker}'", f"*l{levels - 1}", 1
    ).replace(marker, f"*l{levels - 1}", 1)
    path = workspace.write(text)
    assert_refused(validate(path), path)


def laughs(width: int, levels: int) -> str:
    """`l0: &l0 [x, x, …]`, then each level a list of `width` aliases to the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@FUZZ
@given(
    shape=st.sampled_from(
        [
            "&a [*a]",
            "&a {k: *a}",
            "&a [1, [2, *a]]",
            "*nowhere",
            "&a [1]\nagain: &a [2]",
            "{<<: 1}",
            "{<<: [1, 2]}",
            "!!python/object:os.system 'true'",
            "!!binary '#not base64'",
            "!!timestamp 2026-13-45",
            "!!int 12abc",
            "!!set {a, b}",
            "!!omap [a: 1, a: 2]",
            "? [complex, key]\n  : value",
        ]
    ),
    used_at=st.sampled_from([("x",), ("projects", 0, "charter")]),
)
def test_cycles_and_tags_are_refused(workspace, reliability_tally, shape, used_at):
    """An alias inside its own anchor, an undefined one, bad merges and tags that build Python
    objects or cannot be read: refused with the file's name or a path, nothing run."""
    reliability_tally.record(f"{CATEGORY}: aliases")
    marker = "SHAPE-HERE"
    text = dump(replaced(workspace.data, used_at, marker)).replace(marker, shape, 1)
    path = workspace.write(text)
    assert_refused(validate(path), path)


# --- the cases that once hung, crashed or passed -------------------------------------------

# `a: &a [x,x,x,x,x,x,x,x,x]`, `b: &b [*a,*a,…]`, … to `i`: 9^9 values written in 324 bytes.
BOMB = (
    "".join(
        f"{name}: &{name} [{','.join([f'*{before}' if before else 'x'] * 9)}]\n"
        for before, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
    )
    + "projects: [*i,*i]\n"
)


def run_validate_bounded(config: str, memory: int = 1 << 30, seconds: float = 60) -> Outcome:
    """`stagecast validate -c CONFIG` in a child process that may use `memory` bytes and
    `seconds`, so a regression fails this test instead of taking the machine down."""
    boot = (
        "import resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
        "from flows.cli import app; sys.argv[0] = 'stagecast'; app()"
    )
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", boot, "validate", "-c", config],
            capture_output=True,
            text=True,
            timeout=seconds,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"validate -c {config} still running after {seconds} s")
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)


def test_a_324_byte_alias_bomb_is_refused_in_seconds(tmp_path, reliability_tally):
    """Nine levels of nine aliases (9^9 values from 324 bytes) once made `validate` run for
    minutes and take gigabytes: refused before anything expands them, naming the file."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    path = tmp_path / "stagecast.yaml"
    path.write_text(BOMB, encoding="utf-8")
    assert len(BOMB.encode()) == 324
    out = run_validate_bounded(str(path))
    assert out.code == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"{path}: more than 100,000 values once its aliases")
    assert out.seconds < 20


def test_dev_zero_is_refused_after_reading_one_mebibyte(reliability_tally):
    """`-c /dev/zero` once read until memory ran out: the loader reads at most 1 MiB + 1 byte
    of any file, whatever its kind, and refuses a larger one."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    out = run_validate_bounded("/dev/zero", memory=1 << 30)
    assert out.code == 2, out.stderr[-2000:]
    assert out.stderr == "/dev/zero: larger than 1 MiB; a config file is a few kilobytes\n"
    assert out.seconds < 20


def test_a_file_over_one_mebibyte_is_refused(workspace, reliability_tally):
    """A config padded past 1 MiB (a log pasted in, a wrong file) is refused by its size."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    padding = "# " + "x" * 2**20 + "\n"
    path = workspace.write(padding + dump(workspace.data))
    assert_refused(validate(path), path, "larger than 1 MiB")


def test_the_unbroken_config_is_valid(workspace, reliability_tally):
    """The fuzz breaks a config that is valid to begin with, so each refusal is its doing."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    out = validate(workspace.write_data(workspace.data))
    assert out.code == 0, out.stderr
    assert "OK (1 project(s): acme-portal)" in " ".join(out.stdout.split())


def test_every_number_in_the_schema_has_bounds(reliability_tally):
    """Each int and float field has a lower and an upper bound, so no number in the file can
    overflow the date arithmetic or the timeouts of a run (a new field must choose its own)."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    unbounded = [
        f"{model.__name__}.{name}"
        for model in schema_models()
        for name, field in model.model_fields.items()
        if number_type(field.annotation) and not all(map(math.isfinite, bounds(model, name)))
    ]
    assert unbounded == []
    assert {m for m, _ in NUMBERS.values()} >= {
        m
        for m in schema_models()
        if any(number_type(f.annotation) for f in m.model_fields.values())
    }


def schema_models() -> set[Any]:
    """Every model the config is made of."""
    found: set[Any] = set()
    schema_keys(Config, found)
    return found


def number_type(annotation: Any) -> bool:
    """Whether a field holds an int or float (a bool is neither, here)."""
    return annotation in (int, float) or any(
        arg in (int, float) for arg in getattr(annotation, "__args__", ()) or ()
    )


def test_a_mysql_state_is_refused_naming_what_is_accepted(workspace, reliability_tally):
    """`state: mysql://…` once passed validate and failed when the store opened it."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    path = workspace.write_data({**workspace.data, "state": "mysql://u:pw-in-url@db/stagecast"})
    out = validate(path)
    assert_refused(out, path, "state: 'mysql://' is not supported", "SQLite", "PostgreSQL")
    assert "sqlite:///" in out.stderr and "postgresql+psycopg://" in out.stderr
    assert "pw-in-url" not in out.stderr


def test_a_bare_postgresql_url_opens_with_psycopg(workspace, reliability_tally):
    """`postgresql://` makes SQLAlchemy pick psycopg2, which is not installed: the loader
    reads it as psycopg (installed), so the store opens what validate accepted."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    url = "postgresql://stagecast@db.internal:5432/stagecast?sslmode=require"
    config = load_config(workspace.write_data({**workspace.data, "state": url}))
    assert (
        config.state == "postgresql+psycopg://stagecast@db.internal:5432/stagecast?sslmode=require"
    )
    assert sa.make_url(config.state).get_driver_name() == "psycopg"


def test_a_forecast_window_of_a_hundred_million_days_is_refused(workspace, reliability_tally):
    """`forecast_window_days: 100000000` once passed validate and crashed the sync in date
    arithmetic with a traceback."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    loc = ("projects", 0, "risk", "forecast_window_days")
    path = workspace.write_data(replaced(workspace.data, loc, 100_000_000))
    assert_refused(validate(path), path, f"{path_of(loc)}: must be at most 3650")


def test_an_unset_environment_variable_is_named_before_anything_is_sent(
    workspace, reliability_tally, monkeypatch
):
    """`webhook: env:NO_SUCH_VAR` once passed validate; `report` then sent to the other
    channels and failed that one. Loading with check_environment (what `validate` and the
    commands that pull or send ask for) names every unset or empty variable at its path, and
    never a value."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    monkeypatch.setenv("LEADS_DING_SECRET", "")
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    loc = ("projects", 0, "channels", 2, "webhook")
    path = workspace.write_data(replaced(workspace.data, loc, "env:NO_SUCH_VAR"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_environment=True)
    unset, empty = (line_of(path, text) for text in ("env:NO_SUCH_VAR", "env:LEADS_DING_SECRET"))
    assert caught.value.problems == [
        f"projects[0].channels[2].webhook: environment variable NO_SUCH_VAR is not set "
        f"(line {unset})",
        f"projects[0].channels[3].secret: environment variable LEADS_DING_SECRET is empty "
        f"(line {empty})",
    ]
    assert SECRET not in str(caught.value)
    assert load_config(path).projects[0].key == "acme-portal"  # flows that only read: as before
    out = validate(path)
    assert_refused(out, path, *caught.value.problems)
    assert SECRET not in out.stderr


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the file where `text` first appears."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def referenced_variables(data: Any) -> set[str]:
    """Every NAME in an `env:NAME` of the config."""
    return {
        value.removeprefix("env:")
        for loc in locations(data)
        if isinstance(value := get(data, loc), str) and value.startswith("env:")
    }


def test_an_smtp_password_in_clear_is_refused_unless_the_relay_is_local(
    workspace, reliability_tally
):
    """A password with neither starttls nor ssl would cross the network readable: refused,
    unless `insecure: true` says the relay is on this machine."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    loc = ("projects", 0, "channels", 1, "smtp")
    smtp = {**get(workspace.data, loc), "starttls": False}
    path = workspace.write_data(replaced(workspace.data, loc, smtp))
    assert_refused(
        validate(path), path, f"{path_of(loc)}.starttls: with a password", "insecure: true"
    )
    path = workspace.write_data(replaced(workspace.data, loc, {**smtp, "insecure": True}))
    assert validate(path).code == 0
    path = workspace.write_data(replaced(workspace.data, loc, {**smtp, "ssl": True}))
    assert validate(path).code == 0


STATE = "state: sqlite:///.stagecast/state.db"
ONCE_CRASHED = {
    "10,000 brackets": (lambda t: "x: " + "[" * 10_000 + "]" * 10_000 + "\n" + t, "64 levels"),
    "a 5,000-digit number": (lambda t: "x: 1" + "0" * 5000 + "\n" + t, "cannot read this"),
    "a NUL byte": (lambda t: t.replace("ACME", "AC\x00ME", 1), "character #x0000"),
    "a terminal escape in a key": (lambda t: '"\\e[2Jx": 1\n' + t, '["\\u001b[2Jx"]: unknown'),
    "a 5,000-character path": (lambda t: t.replace("exports/", "a" * 5000 + "/"), "not a usable"),
    "an unknown user's home": (lambda t: t.replace("exports/", "~nobody-here/"), "not a user"),
    "a port past 65535": (lambda t: t.replace(".atlassian.net", ".atlassian.net:70000"), "http(s)"),
    "an approval wait of 10^11 days": (lambda t: t.replace("24h", "99999999999d"), "at most 30d"),
    "a timeout of .inf": (lambda t: t.replace(": 30\n", ": .inf\n", 1), "finite number"),
    "a state path with a NUL": (
        lambda t: t.replace(STATE, f'state: "{STATE[7:]}\\0"', 1),
        "state: ",
    ),
    "a sqlite URL with a host": (lambda t: t.replace("sqlite:///", "sqlite://host/", 1), "state: "),
}


@pytest.mark.parametrize("case", sorted(ONCE_CRASHED))
def test_inputs_that_once_crashed_are_refused(workspace, reliability_tally, case):
    """Each of these once ended `validate` (or a later run) in a traceback: RecursionError,
    the int digit limit, a ReaderError, OSError (name too long), RuntimeError (no such user),
    OverflowError (timedelta); or passed, and failed later."""
    reliability_tally.record(f"{CATEGORY}: explicit cases")
    edit, says = ONCE_CRASHED[case]
    text = dump(workspace.data)
    assert edit(text) != text
    path = workspace.write(edit(text))
    out = validate(path)
    assert_refused(out, path, says)
    assert "\x1b" not in out.stderr
