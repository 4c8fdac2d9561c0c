"""Our own reader of a safetensors file's header, so a model folder's weights are checked before diffusers (or the
safetensors library) opens them: an 8-byte little-endian length, a JSON header of that length, then the tensors'
bytes. The header must fit the file, name only dtypes torch loads, and place each tensor (shape x dtype size bytes)
so that together they fill the data exactly, as safetensors itself requires: a truncated file, or a header that
claims a tensor of 2^50 elements, is refused here naming the file rather than deep inside a loader."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from ..errors import ModelNotAvailableError

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on its header
# the dtypes safetensors' torch loader maps to a torch dtype -> bytes per element
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E4M3FNUZ": 1, "F8_E5M2": 1, "F8_E5M2FNUZ": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}
FIX = "save the pipeline again with `pipe.save_pretrained(DIR, safe_serialization=True)`"


class _Bad(ValueError):
    """Why a header is refused: the parenthesis of the one-line error."""


def read_safetensors_header(file: Path, what: str = "") -> dict:
    """A safetensors file's header (tensor name -> dtype, shape, data_offsets; ``__metadata__`` left out), read
    without the tensors and checked against the file's size. ``what`` names the file's component in the error."""
    shown = f"{what} {str(file)!r}" if what else repr(str(file))
    try:
        size = Path(file).stat().st_size
        with open(file, "rb") as f:
            header, length = _read_json_header(f, size)
        return _check_tensors(header, size - 8 - length)
    except OSError as e:
        raise ModelNotAvailableError(f"{shown} cannot be read ({e.strerror or type(e).__name__}); {FIX}") from None
    except _Bad as e:
        raise ModelNotAvailableError(f"{shown} is not a safetensors file ({e}); {FIX}") from None


def _read_json_header(f, size: int) -> tuple[dict, int]:
    raw = f.read(8)
    if len(raw) != 8:
        raise _Bad(f"{size} bytes, shorter than a header")
    (length,) = struct.unpack("<Q", raw)
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise _Bad(f"a header of {length} bytes")
    if length > size - 8:
        raise _Bad(f"its header claims {length} bytes and the file holds {size - 8} after the length: it is truncated")
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise _Bad(f"its header is a JSON {type(header).__name__}, not an object")
    return header, length


def _check_tensors(header: dict, data_size: int) -> dict:
    """Each tensor's dtype known, its shape whole numbers, its bytes where its shape says; together they fill the
    data with no gap and no overlap (so the file holds exactly what the header claims)."""
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _Bad("its `__metadata__` is not a map of strings")
    spans = [(*_tensor_span(name, info, data_size), name) for name, info in header.items()]
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise _Bad(f"tensor {name[:60]!r} starts at byte {begin} of the data, not at {end}")
        end = stop
    if end != data_size:
        raise _Bad(f"its tensors take {end} bytes and the file holds {data_size}"
                   + (": it is truncated" if end > data_size else ""))
    return header


def _tensor_span(name: str, info, data_size: int) -> tuple[int, int]:
    shown = repr(name[:60])
    if not isinstance(info, dict):
        raise _Bad(f"tensor {shown} is described by a {type(info).__name__}, not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise _Bad(f"tensor {shown} has dtype {str(dtype)[:20]!r}, which torch cannot load")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise _Bad(f"tensor {shown} has shape {str(shape)[:40]}, not a list of whole numbers")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise _Bad(f"tensor {shown} has data_offsets {str(offsets)[:40]}, not [begin, end]")
    elements = math.prod(shape)
    if elements * DTYPE_BYTES[dtype] != offsets[1] - offsets[0]:
        raise _Bad(f"tensor {shown} claims {elements} elements of {dtype} ({elements * DTYPE_BYTES[dtype]} bytes) "
                   f"in {offsets[1] - offsets[0]} bytes")
    if offsets[1] > data_size:
        raise _Bad(f"tensor {shown} ends at byte {offsets[1]} of the data and the file holds {data_size}: it is "
                   "truncated")
    return offsets[0], offsets[1]
