"""Lossless JSON of the model dataclasses, through msgspec, so snapshots can be stored and compared.

msgspec encodes the dataclasses natively (tuple → list, date/datetime → ISO text with its UTC
offset) and decodes them typed: a Literal outside its values, or text where a number belongs, is
refused. What it does not do by itself is done here:

- `date | datetime` (a task's due: a date from Jira, a moment from Trello): msgspec refuses a
  union of two types that are both JSON text, so such a field is decoded through a stand-in
  struct and told apart by the `T` a datetime's ISO text always has, and a date's never does.
- NaN and infinities, which msgspec would write as null, are refused.
- Text holding a lone surrogate, which UTF-8 cannot carry, is written and read with ASCII
  escapes by the standard library, as every snapshot was before.

A UTC offset with seconds (only the local mean time of zones before ~1900) keeps its minutes.

Stored snapshots come in two formats; the state store keeps each one's format with it:

- 0, before formats were numbered: the whole snapshot as one JSON object, which is its head
  and its body at once (`decode(text, Snapshot)`, or `decode_parts(text, decode_body(text))`);
- 1 (`FORMAT`): in two parts, the head (`as_of`, `sources`: what every sync changes) and the
  body (everything else), so a sync that found nothing new can share its predecessor's body.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import types
from collections.abc import Callable, Hashable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import msgspec

from stagecast.models import Snapshot

T = TypeVar("T")

FORMAT = 1  # the stored format new snapshots are written in
HEAD_FIELDS = ("as_of", "sources")
BODY_FIELDS = tuple(f.name for f in dataclasses.fields(Snapshot) if f.name not in HEAD_FIELDS)

Body = dict[str, Any]  # a decoded body: the values of the snapshot's fields other than its head's

_NONE = type(None)


@dataclasses.dataclass(frozen=True)
class EncodedSnapshot:
    """A snapshot as format 1 stores it: its head and its body, each a JSON text."""

    head: str
    body: str


def encode_parts(s: Snapshot) -> EncodedSnapshot:
    """Encode a snapshot in the current format: head and body apart."""
    _refuse_nonfinite(s, Snapshot)
    head = {name: getattr(s, name) for name in HEAD_FIELDS}
    body = {name: getattr(s, name) for name in BODY_FIELDS}
    return EncodedSnapshot(head=_json(head), body=_json(body))


def decode_body(text: str | bytes) -> Body:
    """Decode a body that `encode_parts` wrote; several snapshots can share the result."""
    return _decode_part(text, "Body", BODY_FIELDS)


def decode_parts(head: str | bytes, body: Mapping[str, Any]) -> Snapshot:
    """The snapshot made of a head that `encode_parts` wrote and its decoded body."""
    return Snapshot(**_decode_part(head, "Head", HEAD_FIELDS), **body)


def decode_stages_only(text: str | bytes) -> Body:
    """A body's project, stages and progress, its tasks and the rest left empty and undecoded:
    all a burn-up chart reads, at a fraction of the cost."""
    found = _decode_part(text, "Stages", ("project", "stages", "progress"))
    return {"tasks": (), "documents": (), "minutes": (), "risks": (), **found}


def encode(obj: Any) -> str:
    """Encode any model dataclass instance as JSON text."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"expected a dataclass instance, got {type(obj).__name__}")
    _refuse_nonfinite(obj, type(obj))
    return _json(obj)


def decode(text: str | bytes, cls: type[T]) -> T:
    """Decode JSON that `encode` wrote back into `cls`; missing keys take the field default."""
    tp = cast(Hashable, cls)
    stored = _decoded(text, _stored(tp))
    rebuild = _rebuild(tp)
    result: T = stored if rebuild is None else rebuild(stored)
    return result


def to_dict(obj: Any) -> dict[str, Any]:
    """Encode any model dataclass instance as a dict of JSON types (lists, ISO text)."""
    result: dict[str, Any] = json.loads(encode(obj))
    return result


def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """Decode a dict of JSON types (as `to_dict` makes) back into `cls`."""
    tp = cast(Hashable, cls)
    stored = msgspec.convert(d, _stored(tp), dec_hook=_dec_hook)
    rebuild = _rebuild(tp)
    result: T = stored if rebuild is None else rebuild(stored)
    return result


def snapshot_to_dict(s: Snapshot) -> dict[str, Any]:
    """A whole snapshot as plain JSON types (format 0's shape)."""
    return to_dict(s)


def snapshot_from_dict(d: Mapping[str, Any]) -> Snapshot:
    """Rebuild the snapshot that `snapshot_to_dict` encoded."""
    return from_dict(Snapshot, d)


# encoding

_ENCODER = msgspec.json.Encoder()


def _json(value: Any) -> str:
    """msgspec's JSON, or the standard library's ASCII escapes for a lone surrogate in some text
    (as sources can hand over), which UTF-8 cannot carry."""
    try:
        return _ENCODER.encode(value).decode("utf-8")
    except UnicodeEncodeError:
        plain = msgspec.to_builtins(value)
        return json.dumps(plain, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _refuse_nonfinite(obj: Any, tp: Any) -> None:
    """msgspec writes NaN and infinities as null, which would read back as None: refuse them."""
    check = _nonfinite(tp)
    if check is not None and check(obj):
        raise ValueError(f"cannot encode a {type(obj).__name__} holding NaN or an infinity")


Check = Callable[[Any], bool]


@cache
def _nonfinite(tp: Any) -> Check | None:
    """A test for NaN or infinity anywhere in a value of type `tp`, built once per type and
    looking only where floats can be (a snapshot's stages and progress, never its tasks); None
    when `tp` holds no float."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is float:
        return lambda v: not math.isfinite(v)
    if origin in (Union, types.UnionType):
        inner = [c for c in map(_nonfinite, args) if c is not None]
        if not inner:
            return None
        if float in args:
            return lambda v: isinstance(v, float) and not math.isfinite(v)
        (check,) = inner  # msgspec allows one dataclass (or container) in a union
        return lambda v: v is not None and check(v)
    if origin in (tuple, dict):
        item = _nonfinite(args[1] if origin is dict else args[0])
        if item is None:
            return None
        return lambda v: any(map(item, v.values() if isinstance(v, dict) else v))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = get_type_hints(tp)
        fields = [(n, c) for n in _names(tp) if (c := _nonfinite(hints[n])) is not None]
        return (lambda v: any(c(getattr(v, n)) for n, c in fields)) if fields else None
    return None


# decoding


class _DateOrMoment(abc.ABC):  # noqa: B024 (only for register: no methods)
    """Stands for `date | datetime` in a stored struct; `_dec_hook` reads it. Dates (and so
    datetimes) are registered as its instances, as msgspec checks what the hook returns."""


_DateOrMoment.register(date)


def _dec_hook(tp: Any, value: Any) -> Any:
    """A datetime's ISO text has a `T`; a date's never does."""
    if tp is _DateOrMoment and isinstance(value, str):
        return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    raise TypeError(f"expected a date or datetime as ISO text, got {value!r}")


@cache
def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp, dec_hook=_dec_hook)


def _decoded(text: str | bytes, tp: Any) -> Any:
    """msgspec's typed decoding; text with a lone surrogate's escape (which msgspec refuses) goes
    through the standard library's parser first."""
    try:
        return _decoder(tp).decode(text)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError:
        return msgspec.convert(json.loads(text), tp, dec_hook=_dec_hook)


def _decode_part(text: str | bytes, part: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Decode some of a snapshot's fields, as a dict of field values."""
    stored = _decoded(text, _struct(Snapshot, part, names))
    fields: dict[str, Any] = _fields_rebuilder(Snapshot, names)(stored)
    return fields


@cache
def _names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class."""
    return tuple(f.name for f in dataclasses.fields(cls))


@cache
def _stored(tp: Any) -> Any:
    """What msgspec decodes for the model type `tp`: `tp` itself unless it holds a `date |
    datetime`, which becomes `_DateOrMoment`, and a dataclass holding one, a stand-in struct."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if set(args) - {_NONE} == {date, datetime}:
            return _DateOrMoment | None if _NONE in args else _DateOrMoment
        stored = tuple(map(_stored, args))
        return tp if stored == args else Union[stored]  # noqa: UP007 (a tuple of types)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _stored(args[0])
        return tp if item is args[0] else tuple[item, ...]  # type: ignore[valid-type]
    if origin is dict:
        value = _stored(args[1])
        return tp if value is args[1] else dict[args[0], value]  # type: ignore[valid-type]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _struct(tp, "", _names(tp))
    return tp


@cache
def _struct(cls: type, part: str, names: tuple[str, ...]) -> Any:
    """`cls` itself when msgspec can decode it as it is, else a struct of the same fields (with
    the same defaults) standing in for it. A part (some of the fields) is always a struct."""
    hints = get_type_hints(cls)
    stored = {name: _stored(hints[name]) for name in names}
    if not part and all(stored[name] is hints[name] for name in names):
        return cls
    fields = {f.name: f for f in dataclasses.fields(cls)}
    spec = [(name, stored[name], _default(fields[name])) for name in names]
    return msgspec.defstruct(f"Stored{cls.__name__}{part}", spec, kw_only=True)


def _default(f: dataclasses.Field[Any]) -> Any:
    """The dataclass field's default as msgspec takes it; NODEFAULT when it is required."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return msgspec.field(default_factory=f.default_factory)
    return msgspec.NODEFAULT


Rebuild = Callable[[Any], Any]


@cache
def _rebuild(tp: Any) -> Rebuild | None:
    """How to turn what msgspec decoded for `tp` into a `tp`; None when it is one already."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        inner = [r for r in map(_rebuild, args) if r is not None]
        if not inner:
            return None
        (rebuild,) = inner  # msgspec allows one dataclass (or container) in a union
        return lambda v: None if v is None else rebuild(v)
    if origin in (tuple, dict):
        item = _rebuild(args[1] if origin is dict else args[0])
        if item is None:
            return None
        if origin is dict:
            return lambda v: {k: item(x) for k, x in v.items()}
        return lambda v: tuple(map(item, v))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if _stored(tp) is tp:
            return None
        fields, build = _fields_rebuilder(tp, _names(tp)), _builder(tp)
        return lambda v: build(fields(v))
    return None


def _builder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """How a dataclass is made from its decoded fields: as pickle makes one, a new instance given
    its dict. A frozen dataclass's `__init__` sets each field through `object.__setattr__`, which
    made up most of decoding a snapshot's thousands of tasks; msgspec has checked every value
    already. A class with a `__post_init__` (none yet) is made through `__init__`, so it runs."""
    if hasattr(cls, "__post_init__"):
        return lambda values: cls(**values)
    new, set_dict = object.__new__, object.__setattr__

    def build(values: dict[str, Any]) -> Any:
        made: Any = new(cls)
        set_dict(made, "__dict__", values)
        return made

    return build


@cache
def _fields_rebuilder(cls: type, names: tuple[str, ...]) -> Rebuild:
    """From a stand-in struct of `cls` to a dict of its field values, rebuilt where needed."""
    hints = get_type_hints(cls)
    steps = [(name, step) for name in names if (step := _rebuild(hints[name])) is not None]
    asdict = msgspec.structs.asdict
    if not steps:
        return asdict

    def rebuild(stored: Any) -> dict[str, Any]:
        values = asdict(stored)
        for name, step in steps:
            values[name] = step(values[name])
        return values

    return rebuild
