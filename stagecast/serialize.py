"""Lossless JSON-safe round trip of the model dataclasses, so snapshots can be stored and compared.

Encoding is driven by the values (dataclass → dict, tuple → list, date/datetime → ISO text with
its UTC offset); decoding is driven by the dataclass field types, so a `date | datetime` field
comes back as whichever it was (a datetime's ISO text always has a `T`, a date's never does).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from stagecast.models import Snapshot

T = TypeVar("T")

_NONE = type(None)
_HINTS: dict[type, dict[str, Any]] = {}


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
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """Decode a dict made by `to_dict` back into `cls`; missing keys take the field default."""
    hints = _hints(cls)
    kwargs = {name: _decode(hints[name], d[name]) for name in hints if name in d}
    return cls(**kwargs)


def _hints(cls: type) -> dict[str, Any]:
    """Resolved field types of a dataclass (the models use string annotations), cached."""
    if cls not in _HINTS:
        hints = get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _encode(value: Any) -> Any:
    """Encode one value; datetime before date because a datetime is a date."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode(tp: Any, value: Any) -> Any:
    """Decode one value into the declared type `tp`."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _decode_union(get_args(tp), value)
    if origin is Literal:
        if value not in get_args(tp):
            raise ValueError(f"{value!r} is not one of {get_args(tp)}")
        return value
    if origin is tuple:
        return tuple(_decode(get_args(tp)[0], v) for v in value)
    if origin is dict:
        return {k: _decode(get_args(tp)[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value)
    return _decode_plain(tp, value)


def _decode_union(args: tuple[Any, ...], value: Any) -> Any:
    """Decode `X | None` and `date | datetime` (told apart by the `T` of a datetime)."""
    if value is None:
        if _NONE not in args:
            raise ValueError("None for a field that is not optional")
        return None
    options = [a for a in args if a is not _NONE]
    if len(options) == 1:
        return _decode(options[0], value)
    if set(options) == {date, datetime}:
        return _decode(datetime if "T" in value else date, value)
    raise TypeError(f"unsupported union {args}")


def _decode_plain(tp: Any, value: Any) -> Any:
    """Decode a scalar: ISO text for dates, and ints that JSON gave back for float fields."""
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, float, bool) and not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value
