"""Reading a profile: msgspec decodes and validates it against the types of ``file.py`` in one pass, and a file
it refuses is one line naming the field, in msgspec's own words and with the value found there::

    profile 'p.json': field `split.tau`: Expected `float` <= 1.0, got 1e+300; profile the model again (`pdit profile`)

What the types cannot say is checked afterwards (``checks.py``)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from ..errors import ProfileError

T = TypeVar("T")
FIX = "profile the model again (`pdit profile`)"
MAX_PROFILE_BYTES = 256 * 1024 * 1024
_AT = re.compile(r"(.*) - at `\$(.*)`", re.DOTALL)  # msgspec's "<message> - at `$.run.steps`"
_KEY = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_ANY_KEY = "[...]"  # how msgspec names the entry of a dict it refuses
_ABSENT = object()
_DECODERS: dict[type, msgspec.json.Decoder] = {}


def read_file(path: Path) -> tuple[bytes, str]:
    """A profile file's bytes (a regular file, of a sane size), and the name messages give it."""
    source = f"profile {str(path)!r}"
    try:
        if not path.is_file():
            what = ("is a folder" if path.is_dir() else "is not a regular file" if path.exists()
                    else "does not exist")
            raise ProfileError(f"{source} {what}; make one with `profiling_dit.profile_model` (or `pdit profile`)")
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{source} is {size / 2**20:.0f} MiB; profiles are far smaller, so this is not one")
        blob = path.read_bytes()
    except OSError as e:
        raise ProfileError(f"cannot read {source}: {e.strerror or e}") from None
    return blob, source


def decode(cls: type[T], text: bytes | str, source: str, kind: str, versions: tuple[int, ...]) -> T:
    """A JSON document decoded as ``cls`` (types and bounds), or a one-line ``ProfileError``."""
    try:
        if cls not in _DECODERS:
            _DECODERS[cls] = msgspec.json.Decoder(cls)
        return _DECODERS[cls].decode(text)
    except msgspec.ValidationError as e:
        data = _parse(text, source)
        check_kind(data, source, kind, versions)
        raise refusal(e, cls, data, source) from None
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError too: it is caught first
        raise ProfileError(f"{source} is not valid JSON ({_short(str(e).removeprefix('JSON is malformed: '))})") \
            from None
    except RecursionError:
        raise ProfileError(f"{source} is nested too deeply to be a profile") from None


def convert(cls: type[T], data: Any, source: str, kind: str, versions: tuple[int, ...]) -> T:
    """Python data (a dict, as JSON would hold it) validated as ``cls``, or a one-line ``ProfileError``."""
    check_kind(data, source, kind, versions)
    found = _first_non_finite(data)
    if found is not None:  # JSON text cannot hold one, a dict can
        raise ProfileError(f"{source}: field `{found[0].lstrip('.')}`: Expected a finite number, got "
                           f"{_show(found[1])}; {FIX}")
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as e:
        raise refusal(e, cls, data, source) from None


def check_kind(data: Any, source: str, kind: str, versions: tuple[int, ...]) -> None:
    """Kind and schema version first, each with its own message."""
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise ProfileError(f"{source} is not a ProfilingDiT profile (no \"kind\": {kind!r})")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in versions:
        raise ProfileError(f"{source} has schema version {version!r:.40}; this profiling-dit reads versions "
                           f"{', '.join(map(str, versions))}: profile the model again with this version")


def refusal(error: msgspec.ValidationError, cls: type, data: Any, source: str) -> ProfileError:
    """msgspec's message as one line: the field (its ``$.a.b[0]`` as ``a.b[0]``), the message, the value there."""
    message, path = _split(error)
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        return ProfileError(f"{source}: field `{_join(path, missing[1])}` is missing; {FIX}")
    if _ANY_KEY in path:
        path = _name_the_key(cls, data, path)
    value = _value_at(data, path) if _ANY_KEY not in path else _ABSENT
    if value is not _ABSENT and _show(value) not in message:  # the value says more than its type
        message = re.sub(r", got `[^`]*`$", "", message) + f", got {_show(value)}"
    where = f"field `{path.lstrip('.')}`" if path else "the top level"
    return ProfileError(f"{source}: {where}: {_short(message)}; {FIX}")


def _parse(text: bytes | str, source: str) -> Any:
    """The document as plain JSON values (for the message about a file the typed decoder refused)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.ValidationError as e:  # a number beyond float or 64-bit integer range; untyped, keys are unnamed
        message, path = _split(e)
        where = f" (field `{path.lstrip('.')}`)" if path and _ANY_KEY not in path else ""
        raise ProfileError(f"{source} is not a valid profile: {_short(message.lower())}{where}") from None
    except msgspec.DecodeError as e:  # malformed past the point where the typed decoder stopped
        raise ProfileError(f"{source} is not valid JSON ({_short(str(e).removeprefix('JSON is malformed: '))})") \
            from None
    except RecursionError:
        raise ProfileError(f"{source} is nested too deeply to be a profile") from None


def _split(error: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's message without its location, and the location (``.run.steps``; ``""`` at the top level)."""
    at = _AT.fullmatch(str(error))
    return (at[1], at[2]) if at else (str(error), "")


def _keys(path: str) -> list:
    return [name if name else int(index) for name, index in _KEY.findall(path)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}".lstrip(".")


def _value_at(data: Any, path: str) -> Any:
    for key in _keys(path):
        if isinstance(data, dict) and isinstance(key, str) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return _ABSENT
    return data


def _name_the_key(cls: type, data: Any, path: str) -> str:
    """msgspec names a refused dict entry ``[...]``: the first entry that, alone in its dict, is refused the same."""
    head, _, tail = path.partition(_ANY_KEY)
    entries = _value_at(data, head)
    for key in entries if isinstance(entries, dict) else ():
        try:
            msgspec.convert(_replaced(data, _keys(head), {key: entries[key]}), cls)
        except msgspec.ValidationError as e:
            if _split(e)[1].startswith(head + _ANY_KEY):
                return f"{head}.{key}{tail}"
    return path


def _replaced(node: Any, keys: list, value: Any) -> Any:
    """``node`` with the value at ``keys`` replaced (copies along the path only)."""
    if not keys:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[keys[0]] = _replaced(node[keys[0]], keys[1:], value)
    return copy


def _first_non_finite(node: Any, path: str = "", depth: int = 0) -> tuple[str, float] | None:
    """The path and value of the first NaN or infinity in Python data."""
    if isinstance(node, float):
        return None if math.isfinite(node) else (path, node)
    if depth > 64:  # deeper than any profile; the types refuse it
        return None
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}", depth + 1)
        if found is not None:
            return found
    return None


def _show(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return _short(text, 60)


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 1] + "…"
