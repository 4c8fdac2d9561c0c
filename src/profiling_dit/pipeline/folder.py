"""A local model folder checked from its small files before diffusers is imported, so that nothing a folder holds
is imported, unpickled or run: ``model_index.json`` names a pipeline class and, for each component, a class of
diffusers or transformers (never a callable, a module or custom code); each component's folder has a config, no
code (``.py`` files, ``auto_map``) and safetensors weights only, each file's header read by our own reader and
checked against the file; its ``pdit_model.json`` hints are in range; and its transformer's weights hold the blocks
its config claims. Each problem is one ``ModelNotAvailableError`` that names the component and the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import ModelNotAvailableError
from .safetensors_header import read_safetensors_header

MAX_JSON_BYTES = 16 * 2**20  # a config is a few KB; a tokenizer a few MB
# The libraries diffusers imports a component's class from (``pipeline_loading_utils.LOADABLE_CLASSES``; any other
# name is a module it would look up, and the supported pipelines' components, tokenizers and schedulers included,
# all come from these two).
COMPONENT_LIBRARIES = ("diffusers", "transformers")
# The component names of the supported pipelines: an entry under one of these must be [library, class] or
# [null, null] (diffusers indexes it as a pair).
KNOWN_COMPONENTS = ("transformer", "transformer_2", "vae", "text_encoder", "text_encoder_2", "tokenizer",
                    "tokenizer_2", "scheduler", "image_encoder", "image_processor", "guider")
# A class name is CamelCase: upper-case first, a lower-case letter somewhere, letters, digits and underscores
# (transformers' ``Qwen2_5_VLForConditionalGeneration``). That rules out the functions (``system``, ``eval``), modules
# (``models``) and constants (``CONFIG_NAME``) of a library.
CLASS_NAME = re.compile(r"^[A-Z](?=[A-Za-z0-9_]*[a-z])[A-Za-z0-9_]*$")
PIPELINE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*Pipeline$")
CONFIG_FILES = ("config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json",
                "processor_config.json", "guider_config.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
CODE_SUFFIXES = (".py", ".pyc")
RESAVE = "save the pipeline again with `pipe.save_pretrained(DIR, safe_serialization=True)`"
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


def check_model_index(index: dict, path: Path) -> dict[str, tuple[str, str]]:
    """``model_index.json``: a pipeline class by name, and each component as [library, class] of diffusers or
    transformers, or [null, null]; returns the components that load (name -> (library, class))."""
    name = index.get("_class_name")
    if not isinstance(name, str) or not PIPELINE_NAME.match(name):
        raise ModelNotAvailableError(
            f"{str(path)!r}: `_class_name` must name a diffusers pipeline class such as \"WanPipeline\", got "
            f"{name!r:.60} (custom pipeline code is never loaded); save the pipeline with `pipe.save_pretrained(DIR)`")
    for key in ("custom_pipeline", "_custom_pipeline", "auto_map"):
        if key in index:
            raise ModelNotAvailableError(f"{str(path)!r} asks for custom code (`{key}`), which is never loaded; "
                                         f"remove `{key}` or save a stock pipeline with `pipe.save_pretrained(DIR)`")
    components = {}
    for key, value in index.items():
        if not key.startswith("_") and (isinstance(value, list) or key in KNOWN_COMPONENTS):
            entry = _component_entry(key, value, path)
            if entry is not None:
                components[key] = entry
    if components.get("transformer", ("",))[0] != "diffusers":
        raise ModelNotAvailableError(f"{str(path)!r} names no diffusers `transformer` component; save the pipeline "
                                     "again with `pipe.save_pretrained(DIR)`")
    return components


def _component_entry(key: str, value, path: Path) -> tuple[str, str] | None:
    where = f"{str(path)!r}: component `{key[:40]}`"
    if not key.isidentifier():  # a component is a pipeline argument, and its folder is named after it
        raise ModelNotAvailableError(f"{where} is not a component name (a folder beside the index, such as `vae`); "
                                     "save the pipeline again with `pipe.save_pretrained(DIR)`")
    if not isinstance(value, list) or len(value) != 2:
        raise ModelNotAvailableError(f"{where} is {value!r:.60}, not [library, class] or [null, null]; save the "
                                     "pipeline again with `pipe.save_pretrained(DIR)`")
    library, cls = value
    if library is None and cls is None:
        return None
    from ..models import MODULE_COMPONENTS

    if (library, cls) in MODULE_COMPONENTS:  # a supported pipeline's own component class (LTX-2's connectors)
        return library, cls
    if not isinstance(library, str) or library not in COMPONENT_LIBRARIES:
        raise ModelNotAvailableError(f"{where} comes from {library!r:.40}; components load only from "
                                     f"{' or '.join(COMPONENT_LIBRARIES)} (no other module is imported): save the "
                                     "pipeline with `pipe.save_pretrained(DIR)` from stock components")
    if not isinstance(cls, str) or not CLASS_NAME.match(cls):
        raise ModelNotAvailableError(f"{where} names {cls!r:.40} of {library}, which is not a class name (a class "
                                     "such as \"AutoencoderKLWan\"; never a function or a module): save the "
                                     "pipeline again with `pipe.save_pretrained(DIR)`")
    return library, cls


def check_folder(folder: Path, arch, config: dict) -> None:
    """The whole folder, before diffusers is imported: ``model_index.json`` (``check_model_index``), no code beside
    it, each component's folder (``check_component``), and the transformer's blocks (``check_weights``)."""
    index = folder / "model_index.json"
    components = check_model_index(read_json_object(index, "the pipeline index"), index)
    _refuse_code(folder, "the pipeline folder", _listing(folder, "the pipeline folder"))
    for name in components:
        check_component(folder, name)
    check_weights(folder, arch, config)
    check_sizes(folder, arch, config)


def check_component(folder: Path, name: str) -> None:
    """A component's folder: a config (JSON objects, no ``auto_map``), no code, safetensors weights only (each
    header checked against its file), and weights wherever a model's ``config.json`` says there is a model."""
    where = folder / name
    what = f"the {name[:40]}"
    if not where.is_dir():
        raise ModelNotAvailableError(f"{str(folder / 'model_index.json')!r} names a `{name[:40]}` component but "
                                     f"{str(where)!r} is not a folder; {RESAVE}")
    files = _listing(where, what)
    configs = [p for p in files if p.name in CONFIG_FILES]
    if not configs:
        raise ModelNotAvailableError(f"{what} folder {str(where)!r} has no config ({', '.join(CONFIG_FILES[:3])}, "
                                     f"...); {RESAVE}")
    for path in configs:
        if "auto_map" in read_json_object(path, f"{what} config"):
            raise ModelNotAvailableError(f"{what} config {str(path)!r} asks for custom code (`auto_map`), which is "
                                         "never loaded; save the component from a stock class with "
                                         "`pipe.save_pretrained(DIR)`")
    _refuse_code(where, f"{what} folder", files)
    shards = _weight_files(where, what, files)
    if not shards and [p.name for p in configs] == ["config.json"]:
        raise ModelNotAvailableError(f"{what} folder {str(where)!r} has a model config and no safetensors weights; "
                                     f"{RESAVE}")


def _listing(where: Path, what: str) -> list[Path]:
    try:
        return sorted(p for p in where.iterdir() if p.is_file())
    except OSError as e:
        raise ModelNotAvailableError(f"{what} {str(where)!r} cannot be listed ({e.strerror}); check its "
                                     "permissions") from None


def _refuse_code(where: Path, what: str, files: list[Path]) -> None:
    code = [p.name for p in files if p.suffix in CODE_SUFFIXES]
    if code:
        raise ModelNotAvailableError(f"{what} {str(where)!r} holds code ({', '.join(code[:3])}), which is never run; "
                                     "remove it, or save the pipeline from stock classes with "
                                     "`pipe.save_pretrained(DIR)`")


def _weight_files(where: Path, what: str, files: list[Path]) -> list[Path]:
    """A component's safetensors files, each header checked against its file, and every file its shard indexes name
    among them; a folder whose only weights are pickles is refused, naming them."""
    shards = [p for p in files if p.suffix == ".safetensors"]
    pickles = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
    if not shards and pickles:
        raise ModelNotAvailableError(
            f"{what} folder {str(where)!r} has no safetensors weights (only {', '.join(pickles[:3])}: pickles are "
            f"never loaded); save the pipeline with `pipe.save_pretrained(DIR, safe_serialization=True)`")
    for index in (p for p in files if p.name.endswith(".safetensors.index.json")):
        _check_index(index, what, {p.name for p in shards})
    for file in shards:
        read_safetensors_header(file, f"{what} weights")
    return shards


def _check_index(index: Path, what: str, shards: set[str]) -> None:
    """A shard index maps tensors to safetensors files beside it (no other file, no path elsewhere)."""
    weight_map = read_json_object(index, f"{what} weights index").get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelNotAvailableError(f"{what} weights index {str(index)!r} has no `weight_map` of file names; "
                                     f"{RESAVE}")
    missing = sorted(set(weight_map.values()) - shards)
    if missing:
        raise ModelNotAvailableError(f"{what} weights index {str(index)!r} names {missing[0][:80]!r}, which is not a "
                                     f"safetensors file beside it; {RESAVE}")


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
        names += list(read_safetensors_header(file, "the transformer weights"))
    return names


def check_weights(folder: Path, arch, config: dict) -> None:
    """The transformer's weights (checked by ``check_component``) hold as many blocks as its config claims."""
    transformer = folder / "transformer"
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


# the sizes a run reads from the saved configs before loading (its token grid, its memory estimate)
TRANSFORMER_SIZES = ("num_attention_heads", "attention_head_dim", "in_channels", "out_channels")


def check_sizes(folder: Path, arch, config: dict) -> None:
    """The transformer's patch size, position limit and widths, and the VAE's scale factor, are whole numbers of at
    least 1: a run's sizes are checked against them before anything loads."""
    patch = _read_size(arch.patch_from_config, config)
    positions = _read_size(arch.positions_from_config, config) if arch.positions_from_config is not None else (1,)
    sizes = {"the patch size (`patch_size`)": patch if len(patch) == 3 else (patch,),
             "the position limit (`rope_max_seq_len`)": positions}
    sizes.update({f"`{key}`": (config[key],) for key in TRANSFORMER_SIZES if config.get(key) is not None})
    _whole_numbers(folder / "transformer" / "config.json", sizes)
    vae = folder / "vae" / "config.json"
    scale = read_json_object(vae, "the vae config").get("scale_factor_spatial") if vae.is_file() else None
    if scale is not None:
        _whole_numbers(vae, {"`scale_factor_spatial`": (scale,)})


def _read_size(read, config: dict) -> tuple:
    """What a registry function reads from a config, as a tuple; ``("unreadable",)`` where it cannot."""
    try:
        value = read(config)
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)
    except (KeyError, TypeError, ValueError, OverflowError):
        return ("unreadable",)


def _whole_numbers(path: Path, sizes: dict) -> None:
    for what, values in sizes.items():
        if not all(type(n) is int and n >= 1 for n in values):
            need, shown = ("a whole number", values[0]) if len(values) == 1 else ("whole numbers", values)
            raise ModelNotAvailableError(f"{str(path)!r}: {what} must be {need} of at least 1, got {shown!r:.60}; "
                                         "save the pipeline again with `pipe.save_pretrained(DIR)`")
