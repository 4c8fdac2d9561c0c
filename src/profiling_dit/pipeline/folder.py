"""A local model folder checked from its small files before diffusers is imported: its JSON files are JSON objects
of the right shape, its ``pdit_model.json`` hints are in range, its weights are safetensors (never pickles), and
its transformer's weights hold the blocks its config claims (read from the safetensors headers, not the tensors).
Each problem is one ``ModelNotAvailableError`` that names the file and the fix."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from ..errors import ModelNotAvailableError

MAX_JSON_BYTES = 16 * 2**20  # a config is a few KB; a tokenizer a few MB
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on its header
# pdit_model.json: hint -> (type, lowest, highest)
META_FIELDS: dict[str, tuple[type, float, float]] = {
    "max_sequence_length": (int, 1, 4096), "default_steps": (int, 1, 1000), "default_height": (int, 16, 4096),
    "default_width": (int, 16, 4096), "default_frames": (int, 1, 1025), "default_guidance": (float, 0, 100),
    "default_fps": (int, 1, 240),
}
META_TEXT = {"description": str, "judge": str, "vocabulary": str, "trained": bool}


def read_json_object(path: Path, what: str) -> dict:
    """A small JSON file that must hold one object (a dict)."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ModelNotAvailableError(f"{what} {str(path)!r} is {size / 2**20:.0f} MiB; a config is far smaller, so "
                                         "this is not one")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        why = getattr(e, "msg", None) or getattr(e, "strerror", None) or type(e).__name__
        raise ModelNotAvailableError(f"{what} {str(path)!r} is not readable JSON ({why}); save the pipeline again "
                                     "with `pipe.save_pretrained(DIR)`") from None
    if not isinstance(data, dict):
        raise ModelNotAvailableError(f"{what} {str(path)!r} holds a {type(data).__name__}, not a JSON object; save the "
                                     "pipeline again with `pipe.save_pretrained(DIR)`")
    return data


def check_meta(meta: dict, path: Path) -> dict:
    """``pdit_model.json``'s hints, each of its type and in range (a bad one would size every run)."""
    for key, value in meta.items():
        if key in META_FIELDS:
            kind, lo, hi = META_FIELDS[key]
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
                  and (kind is float or isinstance(value, int)))
            if not ok:
                what = "an integer" if kind is int else "a number"
                raise ModelNotAvailableError(f"{str(path)!r}: `{key}` must be {what} in [{lo:g}, {hi:g}], got "
                                             f"{value!r:.40}; fix or delete the file")
        elif key in META_TEXT and not isinstance(value, META_TEXT[key]):
            raise ModelNotAvailableError(f"{str(path)!r}: `{key}` must be a {META_TEXT[key].__name__}, got "
                                         f"{type(value).__name__}; fix or delete the file")
    return meta


def check_transformer_config(config: dict, path: Path) -> dict:
    name = config.get("_class_name")
    if not isinstance(name, str) or not name:
        raise ModelNotAvailableError(f"{str(path)!r} names no transformer class (`_class_name` is {name!r:.40}); save "
                                     "the pipeline again with `pipe.save_pretrained(DIR)`")
    return config


def safetensors_names(folder: Path) -> list[str]:
    """The tensor names of a component folder's safetensors weights, from their headers (or the shard index)."""
    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        weight_map = read_json_object(index[0], "weights index").get("weight_map")
        if not isinstance(weight_map, dict):
            raise ModelNotAvailableError(f"{str(index[0])!r} has no `weight_map`; save the pipeline again")
        return list(weight_map)
    names: list[str] = []
    for file in sorted(folder.glob("*.safetensors")):
        names += [k for k in read_safetensors_header(file) if k != "__metadata__"]
    return names


def read_safetensors_header(file: Path) -> dict:
    """A safetensors file's header (tensor name -> dtype, shape, offsets), read without the tensors."""
    try:
        with open(file, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError("shorter than a header")
            (length,) = struct.unpack("<Q", raw)
            if not 2 <= length <= MAX_HEADER_BYTES:
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(f.read(length))
    except (OSError, ValueError) as e:
        raise ModelNotAvailableError(f"{str(file)!r} is not a safetensors file ({e}); save the pipeline again with "
                                     "`pipe.save_pretrained(DIR, safe_serialization=True)`") from None
    if not isinstance(header, dict):
        raise ModelNotAvailableError(f"{str(file)!r} has no safetensors header; save the pipeline again")
    return header


def check_weights(folder: Path, arch, config: dict) -> None:
    """The transformer's weights are safetensors, and hold as many blocks as its config claims."""
    transformer = folder / "transformer"
    if not any(transformer.glob("*.safetensors")) and not any(transformer.glob("*.safetensors.index.json")):
        pickles = [p.name for p in transformer.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
        raise ModelNotAvailableError(
            f"{str(transformer)!r} has no safetensors weights" + (f" (only {', '.join(pickles[:3])}: pickles are never "
                                                                  "loaded)" if pickles else "")
            + "; save the pipeline with `pipe.save_pretrained(DIR, safe_serialization=True)`")
    if arch.num_blocks_from_config is None:
        return
    try:
        claimed = arch.num_blocks_from_config(config)
    except (KeyError, TypeError, ValueError):
        raise ModelNotAvailableError(f"{str(transformer / 'config.json')!r} does not say how many blocks the "
                                     f"transformer has; save the pipeline again") from None
    names = safetensors_names(transformer)
    found = 0
    for attr in arch.block_lists:
        pattern = re.compile(rf"^{re.escape(attr)}\.(\d+)\.")
        indices = {int(m.group(1)) for n in names if (m := pattern.match(n))}
        found += max(indices) + 1 if indices else 0
    if found != claimed:
        raise ModelNotAvailableError(f"{str(transformer)!r}: its config claims {claimed} blocks and its weights hold "
                                     f"{found}; the config and the weights are of different models")
