"""The profile file: JSON with a schema version (``profiles/profile.schema.json`` documents it).

``load_profile`` refuses, with one clear message, a file that is not JSON, of another schema
version, or missing fields; ``check_profile_fits`` refuses a profile made on another model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ._io import atomic_write_text
from .errors import ProfileError

SCHEMA_VERSION = 1
KIND = "profiling-dit-profile"
REQUIRED = ("schema_version", "kind", "model", "run", "r_attn", "block_scores", "l1", "split", "schedule",
            "segmenter", "versions")
# Config entries that do not change the computation (paths, versions) are left out of the hash.
_HASH_IGNORED = {"_name_or_path", "_diffusers_version", "_use_default_values", "_class_name"}


def config_hash(transformer_or_config) -> str:
    """Hash of a transformer's config (a loaded model, or the dict of its saved config.json)."""
    config = transformer_or_config if isinstance(transformer_or_config, dict) else transformer_or_config.config
    cfg = {k: v for k, v in dict(config).items() if k not in _HASH_IGNORED and not k.startswith("_")}
    blob = json.dumps(cfg, sort_keys=True, default=list).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def model_identity(transformer: torch.nn.Module, arch) -> dict:
    return {
        "transformer_class": type(transformer).__name__,
        "num_blocks": len(arch.blocks(transformer)),
        "block_names": arch.block_names(transformer),
        "config_hash": config_hash(transformer),
    }


def save_profile(profile: dict, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(profile, indent=1, allow_nan=False) + "\n")
    return path


def load_profile(path: str | Path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ProfileError(f"profile {str(path)!r} does not exist; make one with `pdit profile`")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProfileError(f"profile {str(path)!r} is not valid JSON ({e}); re-run `pdit profile`") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ProfileError(f"{str(path)!r} is not a ProfilingDiT profile (no kind={KIND!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ProfileError(
            f"profile {str(path)!r} has schema version {version!r}; this pdit reads version {SCHEMA_VERSION}. "
            "Re-run `pdit profile` with this version"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ProfileError(f"profile {str(path)!r} is missing {', '.join(missing)}; re-run `pdit profile`")
    n = data["model"].get("num_blocks")
    if not isinstance(n, int) or len(data["block_scores"]) != n or len(data["r_attn"]["mean"]) != n:
        raise ProfileError(f"profile {str(path)!r} is inconsistent: block count and R_attn rows differ")
    return data


def identity_from_source(source) -> dict:
    """The same identity as ``model_identity``, from a resolved model's saved config (no weights)."""
    ident = {"transformer_class": source.transformer_class, "config_hash": config_hash(source.transformer_config)}
    if source.arch.num_blocks_from_config is not None:
        ident["num_blocks"] = source.arch.num_blocks_from_config(source.transformer_config)
    return ident


def check_profile_fits(profile: dict, transformer: torch.nn.Module | None, arch=None, source: str = "profile",
                       model_source=None) -> None:
    """Refuse a profile whose transformer class, block count or config hash differs from the model's.

    Pass a loaded ``transformer`` (and its ``arch``), or a ``model_source`` from ``resolve_model`` to check
    before any weights are loaded.
    """
    want = model_identity(transformer, arch) if transformer is not None else identity_from_source(model_source)
    have = profile["model"]
    for key, label in (("transformer_class", "transformer class"), ("num_blocks", "block count"),
                       ("config_hash", "config hash")):
        if key in want and have.get(key) != want[key]:
            raise ProfileError(
                f"{source} was made for another model: its {label} is {have.get(key)!r}, the loaded model's is "
                f"{want[key]!r}; profile this model with `pdit profile --model ...`"
            )


def check_expert_fits(entry: dict, transformer: torch.nn.Module, arch) -> None:
    """A two-expert profile's entry must match that expert (class, block count, config hash)."""
    want = model_identity(transformer, arch)
    for key, label in (("transformer_class", "transformer class"), ("num_blocks", "block count"),
                       ("config_hash", "config hash")):
        if entry.get(key) != want[key]:
            raise ProfileError(
                f"the profile's block profile for {entry.get('component')} was made for another model: its {label} "
                f"is {entry.get(key)!r}, the loaded one's is {want[key]!r}; profile this model with `pdit profile`")


def profile_model_ref(profile: dict) -> str:
    """What to pass as ``--model`` to get the profiled model back: the alias or Hub id, else the folder."""
    from .loading import _HUB_ID
    from .registry import MODEL_ALIASES

    requested = profile["model"].get("requested", "")
    if requested.lower() in MODEL_ALIASES or _HUB_ID.match(requested):
        return requested
    return profile["model"].get("location", requested)
