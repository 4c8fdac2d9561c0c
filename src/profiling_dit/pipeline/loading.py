"""Turning a model reference into a loaded diffusers pipeline.

A model is the embedded tiny model, an alias (``wan2.1``), a Hub id, or a local folder written by
``save_pretrained``. Everything is loaded by diffusers' own ``DiffusionPipeline.from_pretrained``;
the embedded model is just a folder shipped inside the package.

``resolve_model`` is cheap (reads small JSON files only) so settings can be validated before any
weights are loaded; ``load_pipeline`` does the heavy part.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSettingError, ModelNotAvailableError
from ..models import MODEL_ALIASES, ArchitectureSpec, arch_for, arch_for_class_name, pipeline_spec, pipeline_spec_for
from .folder import check_folder, check_meta, check_model_index, check_transformer_config, read_json_object

if TYPE_CHECKING:
    import torch

# A small JSON file in a model folder that tells pdit how to run it (the embedded model's text length and
# default size). Optional: any folder written by ``save_pretrained`` loads without it.
PDIT_META_FILE = "pdit_model.json"

logger = logging.getLogger(__name__)

HUB_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, resolved without loading weights.

    Attributes:
        requested: the reference as given (alias, Hub id or folder path).
        kind: ``"folder"`` (the embedded model included) or ``"hub"``.
        location: the folder path or the Hub repo id.
        transformer_class: the transformer's class name from its saved config.
        meta: the folder's ``pdit_model.json`` (run hints such as ``max_sequence_length``), or ``{}``.
    """

    requested: str
    kind: str
    location: str
    transformer_class: str
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    transformer_config: dict = field(default_factory=dict, hash=False, compare=False)
    pipeline_class: str | None = None  # from model_index.json, when it could be read cheaply
    vae_config: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def needs_image(self) -> bool | None:
        """Whether the pipeline is image-to-video (None: unknown before loading)."""
        from ..models import PIPELINES

        spec = PIPELINES.get(self.pipeline_class) if isinstance(self.pipeline_class, str) else None
        return None if spec is None else spec.needs_image

    @property
    def arch(self) -> ArchitectureSpec:
        """The family's spec, for this model's saved configs (its sizes: ``ArchitectureSpec.for_configs``)."""
        return arch_for_class_name(self.transformer_class).for_configs(self.transformer_config, self.vae_config)

    @property
    def ref(self) -> str:
        """A reference that says nothing about this machine's disk: the alias or Hub id as given, or the
        folder's name for a local folder (profiles and reports store this)."""
        if self.kind != "folder" or self.requested.lower() in MODEL_ALIASES:
            return self.requested
        return Path(self.location).name

    def component_config(self, name: str) -> dict | None:
        """A component's saved config (``transformer_2/config.json``) of a local folder, or None (a Hub model, or a
        folder without that component)."""
        path = Path(self.location) / name / "config.json"
        if self.kind != "folder" or not path.is_file():
            return None
        return read_json_object(path, f"the {name} config")

    def default(self, key: str):
        """Default for a setting: the model folder's hint, else the architecture's default."""
        meta_key = f"default_{key}"
        if meta_key in self.meta:
            return self.meta[meta_key]
        return self.arch.defaults[key]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelNotAvailableError(f"cannot read {path}: {e}") from None


def _transformer_config_from_folder(folder: Path, requested: str) -> dict:
    if not (folder / "model_index.json").is_file():
        raise ModelNotAvailableError(
            f"{requested!r} is not a diffusers pipeline folder (no model_index.json); "
            "write one with `pipe.save_pretrained(DIR)` and pass that folder"
        )
    cfg = folder / "transformer" / "config.json"
    if not cfg.is_file():
        raise ModelNotAvailableError(
            f"{requested!r} has no transformer/config.json; pass a folder saved with `pipe.save_pretrained(DIR)`"
        )
    check_model_index(read_json_object(folder / "model_index.json", "the pipeline index"), folder / "model_index.json")
    return check_transformer_config(read_json_object(cfg, "the transformer config"), cfg)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(ref: str) -> bool:
    """Whether ``ref`` reads as a Hub repo id (owner/name)."""
    return bool(_HUB_ID.match(ref))


def _hub_unavailable(repo_id: str, requested: str, why: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"cannot get model {requested!r} ({repo_id}) from the Hugging Face Hub: {why}. "
        f"Download it where there is internet (`hf download {repo_id} --local-dir DIR`) and pass `model`=DIR"
    )


def _hub_transformer_config(repo_id: str, requested: str) -> dict:
    """Fetch only the small transformer config, failing fast when the Hub cannot be reached."""
    from huggingface_hub import HfApi, hf_hub_download

    try:  # already in the local cache: no network needed
        path = hf_hub_download(repo_id, "transformer/config.json", local_files_only=True)
        return _read_json(Path(path))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise _hub_unavailable(repo_id, requested, "HF_HUB_OFFLINE is set and it is not in the local cache")
    try:
        HfApi().model_info(repo_id, timeout=HUB_PROBE_TIMEOUT_S)
        path = hf_hub_download(repo_id, "transformer/config.json")
    except Exception as e:  # network, auth, missing repo: all end the same way for the user
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _hub_unavailable(repo_id, requested, first_line[:200]) from e
    return _read_json(Path(path))


def _hub_optional_json(repo_id: str, filename: str) -> dict:
    """A small JSON file of a Hub model (its pipeline index, its VAE config) once its transformer config came, or
    ``{}`` where it cannot be had: what it tells (the pipeline class, the VAE's sizes) is then checked after loading."""
    from huggingface_hub import hf_hub_download

    for local in (True, False):
        if not local and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            break
        try:
            return _read_optional(Path(hf_hub_download(repo_id, filename, local_files_only=local)))
        except Exception:
            continue
    return {}


def _source(requested: str, kind: str, location: str, config: dict, meta: dict | None = None) -> ModelSource:
    if kind == "folder":  # small JSON files beside the transformer's config
        index = read_json_object(Path(location) / "model_index.json", "the pipeline index")
        vae = _read_optional(Path(location) / "vae" / "config.json")
    else:
        index, vae = _hub_optional_json(location, "model_index.json"), _hub_optional_json(location, "vae/config.json")
    return ModelSource(requested, kind, location, config.get("_class_name", "<missing _class_name>"),
                       meta or {}, config, index.get("_class_name"), vae)


def _read_optional(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def resolve_model(model: str) -> ModelSource:
    """Resolve a model reference (alias, folder, or Hub id) cheaply, checking the transformer is supported.

    Reads small JSON files only (a Hub model's ``transformer/config.json``), so settings can be checked
    before any weights load. Raises ``ModelNotAvailableError`` or ``UnsupportedModelError`` with the fix.
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidSettingError("`model` is empty; pass `tiny`, an alias (`profiling_dit.models.MODEL_ALIASES`), "
                                  "a Hub id or a folder written by `pipe.save_pretrained(DIR)`")
    alias = MODEL_ALIASES.get(model.lower())
    if alias is not None and alias.repo_id is None:
        folder = alias.folder
        if folder is None or not (folder / "model_index.json").is_file():
            raise ModelNotAvailableError(
                f"the embedded model {alias.name!r} is missing from {folder}; reinstall profiling-dit"
            )
        source = _source(model, "folder", str(folder), _transformer_config_from_folder(folder, model),
                         _read_meta(folder))
    elif alias is not None:
        assert alias.repo_id is not None  # an alias without one is an embedded model (above)
        source = _source(model, "hub", alias.repo_id, _hub_transformer_config(alias.repo_id, model))
    else:
        path = Path(model).expanduser()
        try:
            path.is_dir()
        except OSError as e:  # a name the filesystem refuses (too long, ...)
            raise ModelNotAvailableError(f"`model` {model[:80]!r}… is not a usable folder name ({e.strerror}); pass "
                                         "an alias, a Hub id or an existing folder") from None
        if path.is_dir():
            source = _source(model, "folder", str(path.resolve()), _transformer_config_from_folder(path, model),
                             _read_meta(path))
        elif is_hub_id(model) and not path.exists():
            source = _source(model, "hub", model, _hub_transformer_config(model, model))
        elif "/" in model or os.sep in model or path.exists():
            raise ModelNotAvailableError(
                f"model folder {model!r} does not exist; pass a folder written by `pipe.save_pretrained(DIR)`"
            )
        else:
            raise ModelNotAvailableError(
                f"unknown model {model!r}: not an alias (`pdit models` lists them), not a folder, "
                "not a Hub id (owner/name)"
            )
    arch = arch_for_class_name(source.transformer_class)  # UnsupportedModelError now, before any weights load
    if isinstance(source.pipeline_class, str):  # from the saved index (no diffusers pipeline subclasses ours)
        pipeline_spec_for([source.pipeline_class], source.transformer_class)
    if source.kind == "folder":  # every component, from its JSON and safetensors headers: diffusers is not imported
        check_folder(Path(source.location), arch, source.transformer_config)
    return source


_MAX_TOKENIZER_BYTES = 4 * 2**20


def unknown_words(source: ModelSource, prompt: str) -> list[str]:
    """The prompt's words that a local model's word-level tokenizer maps to its unknown token (the embedded
    models know a small vocabulary); ``[]`` for other tokenizers (sub-word ones know every word) and Hub models."""
    if source.kind != "folder":
        return []
    path = Path(source.location) / "tokenizer" / "tokenizer.json"
    try:
        if not path.is_file() or path.stat().st_size > _MAX_TOKENIZER_BYTES:
            return []
        spec = json.loads(path.read_text(encoding="utf-8")).get("model", {})
    except (OSError, ValueError, AttributeError):
        return []
    unk = spec.get("unk_token") if isinstance(spec, dict) and spec.get("type") == "WordLevel" else None
    if not unk:
        return []
    from tokenizers import Tokenizer

    encoding = Tokenizer.from_file(str(path)).encode(prompt)
    words = [prompt[a:b] for token, (a, b) in zip(encoding.tokens, encoding.offsets)
             if token == unk and any(c.isalnum() for c in prompt[a:b])]  # punctuation is not a word
    return list(dict.fromkeys(words))


def _read_meta(folder: Path) -> dict:
    meta = folder / PDIT_META_FILE
    return check_meta(read_json_object(meta, "the pdit hints"), meta) if meta.is_file() else {}


def resolve_device(device: str = "auto") -> "torch.device":
    """``auto`` picks cuda, then mps, then cpu. An explicit device that is absent, or an empty name, is an error."""
    import torch

    from .settings import check_device

    device = check_device(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidSettingError(f"unknown `device` {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InvalidSettingError(f"`device` {device!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidSettingError("`device` cuda was asked for but no CUDA GPU is visible; use cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InvalidSettingError(f"`device` {device!r}: only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InvalidSettingError("`device` mps was asked for but MPS is not available; use cpu or auto")
    return dev


_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}
# the `dtype` names offered (the short spellings above are accepted too)
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(dtype: str, device: "torch.device") -> "torch.dtype":
    """``auto`` is bfloat16 on CUDA and float32 elsewhere."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    dtype = (dtype or "auto").lower()
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise InvalidSettingError(f"unknown `dtype` {dtype!r}; use one of {', '.join(DTYPE_CHOICES)}")
    return getattr(torch, _DTYPES[dtype])


@dataclass
class LoadedModel:
    """A pipeline and what pdit knows about it: where it came from, its family, device and dtype.

    ``load_pipeline`` makes one; ``LoadedModel.from_pipe(pipe)`` wraps a pipeline you loaded yourself
    (every library function that takes a model also takes a plain pipeline and wraps it).
    """

    pipe: Any  # a diffusers pipeline: its components (transformer, vae, ...) are attributes set at run time
    source: ModelSource
    arch: ArchitectureSpec
    device: "torch.device"
    dtype: "torch.dtype"

    @classmethod
    def from_pipe(cls, pipe, model_ref: str | None = None) -> "LoadedModel":
        """Wrap a diffusers pipeline loaded outside pdit.

        Args:
            pipe: a supported pipeline (``WanPipeline``, ``HunyuanVideoPipeline``, ...).
            model_ref: how to name the model in profiles and reports (default: the alias or Hub id it was
                loaded from, or its folder's name).
        """
        if isinstance(pipe, LoadedModel):
            return pipe
        transformer = getattr(pipe, "transformer", None)
        if transformer is None:
            raise InvalidSettingError(f"{type(pipe).__name__} has no `transformer`; pass a video diffusion pipeline")
        arch_for(transformer)
        _name_calls(pipe)
        origin = str(getattr(pipe, "name_or_path", "") or "")
        folder = Path(origin) if origin and Path(origin).is_dir() else None
        meta = _read_meta(folder) if folder is not None else {}
        if model_ref is None:
            model_ref = _ref_for_origin(origin, folder)
        source = ModelSource(model_ref, "folder" if folder is not None else "hub" if origin else "memory",
                             str(folder.resolve()) if folder is not None else origin,
                             type(transformer).__name__, meta, dict(transformer.config), type(pipe).__name__,
                             _vae_config(pipe))
        return cls(pipe=pipe, source=source, arch=source.arch, device=transformer.device, dtype=transformer.dtype)

    @property
    def max_sequence_length(self) -> int:
        return int(self.source.meta.get("max_sequence_length", self.pipeline_spec.max_sequence_length))

    @property
    def pipeline_spec(self):
        return pipeline_spec(self.pipe)

    @property
    def experts(self) -> list[str]:
        """The pipeline's transformer components: ["transformer"], or two for Wan2.2 A14B
        ("transformer" for the high-noise steps, "transformer_2" for the low-noise ones)."""
        return pipeline_experts(self.pipe)

    def expert_step_ranges(self, steps: int) -> dict[str, tuple[int, int]]:
        """Which steps each expert runs, as [start, stop) ranges (see ``expert_step_ranges``)."""
        return expert_step_ranges(self.pipe, steps)

    def cfg_mode(self, settings) -> str | None:
        """None (one call per step), "separate" (a call per branch) or "batched" (one call, both)."""
        kind = self.pipeline_spec.guidance
        if kind == "embedded" or settings.guidance <= 1.0:
            return None
        return "batched" if kind == "cfg-batched" else "separate"


def _name_calls(pipe) -> None:
    """Check the pipeline class (one line if pdit does not run it) and, for a pipeline that enters no cache context
    around its transformer calls, have pdit name them (``contexts.py``)."""
    names = pipeline_spec(pipe).call_contexts
    if names:
        from .contexts import name_calls

        for name in pipeline_experts(pipe):
            name_calls(getattr(pipe, name), names)


def _vae_config(pipe) -> dict:
    vae = getattr(pipe, "vae", None)
    return dict(vae.config) if vae is not None and hasattr(vae, "config") else {}


def as_model(pipe_or_model, model_ref: str | None = None) -> LoadedModel:
    """A ``LoadedModel`` for a pipeline (wrapped) or a ``LoadedModel`` (as it is)."""
    return pipe_or_model if isinstance(pipe_or_model, LoadedModel) else LoadedModel.from_pipe(pipe_or_model, model_ref)


def _ref_for_origin(origin: str, folder: Path | None) -> str:
    if folder is not None:
        for alias in MODEL_ALIASES.values():
            if alias.folder is not None and alias.folder.resolve() == folder.resolve():
                return alias.name
        return folder.resolve().name
    return origin or "in-memory pipeline"


def pipeline_experts(pipe) -> list[str]:
    """The pipeline's transformer components: ["transformer"], or two for Wan2.2 A14B (a second transformer
    the pipeline never switches to, without a ``boundary_ratio``, does not count)."""
    names = [name for name in ("transformer", "transformer_2") if getattr(pipe, name, None) is not None]
    if len(names) > 1 and getattr(getattr(pipe, "config", None), "boundary_ratio", None) is None:
        return names[:1]
    return names


def expert_step_ranges(pipe, steps: int) -> dict[str, tuple[int, int]]:
    """Which steps each expert runs, as [start, stop) ranges, exactly as the pipeline decides: a step
    whose timestep is >= boundary_ratio x num_train_timesteps goes to ``transformer``."""
    names = pipeline_experts(pipe)
    if len(names) == 1:
        return {names[0]: (0, steps)}
    import copy

    ratio = getattr(pipe.config, "boundary_ratio", None)
    if ratio is None:
        return {"transformer": (0, steps)}
    sched = copy.deepcopy(pipe.scheduler)
    sched.set_timesteps(steps)
    boundary = ratio * sched.config.num_train_timesteps
    k = int(sum(float(t) >= boundary for t in sched.timesteps[:steps]))
    return {"transformer": (0, k), "transformer_2": (k, steps)}


def load_pipeline(source: ModelSource | str, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """Load a pipeline with diffusers' ``from_pretrained`` (safetensors weights only), move it, and put
    every module in eval mode.

    Args:
        source: a ``ModelSource`` from ``resolve_model``, or a reference it accepts (``"tiny"``, an alias,
            a Hub id, a folder).
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        dtype: ``auto`` (bfloat16 on CUDA, float32 elsewhere), ``float32``, ``bfloat16`` or ``float16``.
    """
    import torch
    from diffusers import DiffusionPipeline

    if isinstance(source, str):
        source = resolve_model(source)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    try:
        # use_safetensors: a folder that holds only pickled (.bin) weights is refused, not loaded
        pipe = DiffusionPipeline.from_pretrained(source.location, dtype=dt, use_safetensors=True)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        logger.debug("DiffusionPipeline.from_pretrained(%s) failed", source.location, exc_info=True)
        if source.kind == "hub":
            raise _hub_unavailable(source.location, source.requested, msg[:200]) from e
        raise ModelNotAvailableError(f"cannot load pipeline from {source.location}: {msg[:300]}") from e
    arch = arch_for(pipe.transformer).for_configs(dict(pipe.transformer.config), _vae_config(pipe))
    _name_calls(pipe)  # an unsupported pipeline class fails here, in one line
    pipe.to(dev)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(pipe=pipe, source=source, arch=arch, device=dev, dtype=dt)
