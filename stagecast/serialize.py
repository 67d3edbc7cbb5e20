"""Lossless JSON-safe round trip of the model dataclasses, so snapshots can be stored and compared.

Encoding is driven by the values (dataclass → dict, tuple → list, date/datetime → ISO text with
its UTC offset); decoding is driven by the dataclass field types, so a `date | datetime` field
comes back as whichever it was (a datetime's ISO text always has a `T`, a date's never does).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Hashable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from stagecast.models import Snapshot

T = TypeVar("T")

_NONE = type(None)


def snapshot_to_dict(s: Snapshot) -> dict[str, Any]:
    """Encode a snapshot as plain JSON types, for storage."""
    return to_dict(s)


def snapshot_from_dict(d: Mapping[str, Any]) -> Snapshot:
    """Rebuild the snapshot that `snapshot_to_dict` encoded."""
    return from_dict(Snapshot, d)


def to_dict(obj: Any) -> dict[str, Any]:
    """Encode any model dataclass instance as a dict of JSON types."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"expected a dataclass instance, got {type(obj).__name__}")
    return {name: _encode(getattr(obj, name)) for name in _field_names(type(obj))}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class."""
    return tuple(f.name for f in dataclasses.fields(cls))


def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """Decode a dict made by `to_dict` back into `cls`; missing keys take the field default."""
    decode = _decoder(cast(Hashable, cls))
    result: T = decode(d)
    return result


def _hints(cls: type) -> dict[str, Any]:
    """Resolved field types of a dataclass (the models use string annotations)."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _encode(value: Any) -> Any:
    """Encode one value; the common scalars first, datetime before date (a datetime is a date)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


Decoder = Callable[[Any], Any]


@cache
def _decoder(tp: Any) -> Decoder:
    """A decoder for the declared type `tp`, built once per type: a snapshot holds thousands
    of tasks, and inspecting their types for every value dominated the cost of a sync."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _union_decoder(get_args(tp))
    if origin is Literal:
        return _literal_decoder(get_args(tp))
    if origin is tuple:
        item = _decoder(get_args(tp)[0])
        return lambda value: tuple(item(v) for v in value)
    if origin is dict:
        entry = _decoder(get_args(tp)[1])
        return lambda value: {k: entry(v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_decoder(tp)
    return _plain_decoder(tp)


def _dataclass_decoder(cls: type) -> Decoder:
    """Decode the fields present; missing ones take their defaults."""
    fields = [(name, _decoder(hint)) for name, hint in _hints(cls).items()]
    return lambda d: cls(**{name: decode(d[name]) for name, decode in fields if name in d})


def _literal_decoder(allowed: tuple[Any, ...]) -> Decoder:
    """Literal values are checked, so stored data with an unknown state is refused."""

    def decode(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {allowed}")
        return value

    return decode


def _union_decoder(args: tuple[Any, ...]) -> Decoder:
    """Decode `X | None` and `date | datetime` (told apart by the `T` of a datetime)."""
    optional = _NONE in args
    options = [a for a in args if a is not _NONE]
    if len(options) == 1:
        inner = _decoder(options[0])
    elif set(options) == {date, datetime}:
        inner = _date_or_datetime
    else:
        raise TypeError(f"unsupported union {args}")

    def decode(value: Any) -> Any:
        if value is None:
            if not optional:
                raise ValueError("None for a field that is not optional")
            return None
        return inner(value)

    return decode


def _date_or_datetime(value: str) -> date:
    """A datetime's ISO text has a `T`; a date's never does."""
    return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)


def _plain_decoder(tp: Any) -> Decoder:
    """Scalars: ISO text for dates, and ints that JSON gave back for float fields."""
    if tp is datetime:
        return datetime.fromisoformat
    if tp is date:
        return date.fromisoformat

    def decode(value: Any) -> Any:
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if tp in (str, int, float, bool) and not isinstance(value, tp):
            raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
        return value

    return decode
