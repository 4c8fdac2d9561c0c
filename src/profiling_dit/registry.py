"""What differs per model family, as data.

``ARCHITECTURES`` is keyed on the transformer *class* (not a name prefix): each entry says where
the transformer blocks are, which submodule is a block's self-attention, and the size rules the
pipeline imposes. ``MODEL_ALIASES`` maps short names to Hub ids with their default settings.
Adding a model is adding entries here, not an ``if`` in the code that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .errors import UnsupportedModelError


@dataclass(frozen=True)
class ArchitectureSpec:
    """How pdit finds its way around one transformer class.

    Attributes:
        name: short family name shown to users.
        block_lists: attribute names of the ``nn.ModuleList``s of transformer blocks, in call order.
        self_attention: attribute of a block that is its self-attention module (``set_processor``).
        frame_multiple: ``frames`` must be ``frame_multiple * k + 1`` (the VAE's temporal stride).
        spatial_multiple: height and width must be multiples of this (VAE stride x patch size).
        defaults: default generation settings for this family (overridden by the model folder).
        self_attention_qk: ``f(attn, *processor_args, **kw) -> (q, k)`` of shape (B, H, N, d), exactly as
            the model's processor forms them (profiling only).
        block_streams: names of the streams a block carries, which are also its first positional
            arguments in this order; a one-stream block returns a tensor, a multi-stream block a tuple
            in the same order (HunyuanVideo, CogVideoX: video and text hidden states).
        num_blocks_from_config: the block count from the transformer's saved config (checks before loading).
        peer_module_patterns: regexes (full match) of the attention/FFN modules that module-level peer
            caches (TaylorSeer) should hook.
        patch_from_config: the (frames, height, width) patch size from the transformer's config; the
            video tokens are the latent grid divided by it, in (frame, row, column) order.
        prediction_frames_first: the transformer's output is (B, F, C, H, W) (CogVideoX) rather than
            (B, C, F, H, W).
    """

    name: str
    block_lists: tuple[str, ...]
    self_attention: str
    frame_multiple: int
    spatial_multiple: int
    defaults: dict = field(default_factory=dict)
    self_attention_qk: Callable | None = None
    block_streams: tuple[str, ...] = ("hidden_states",)
    num_blocks_from_config: Callable[[dict], int] | None = None
    peer_module_patterns: tuple[str, ...] = ()
    patch_from_config: Callable[[dict], tuple[int, int, int]] = lambda cfg: tuple(cfg["patch_size"])
    prediction_frames_first: bool = False

    def blocks(self, transformer: torch.nn.Module) -> list[torch.nn.Module]:
        out: list[torch.nn.Module] = []
        for attr in self.block_lists:
            out.extend(getattr(transformer, attr))
        return out

    def block_names(self, transformer: torch.nn.Module) -> list[str]:
        return [f"{attr}.{i}" for attr in self.block_lists for i in range(len(getattr(transformer, attr)))]


def block_stream_inputs(streams: tuple[str, ...], args: tuple, kwargs: dict) -> tuple:
    """The stream tensors of one block call (``ArchitectureSpec.block_streams``): by name, or else
    positionally in that order."""
    return tuple(kwargs[name] if name in kwargs else args[i] for i, name in enumerate(streams))


def _wan_transformer_class():
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel


def _wan_qk(*args, **kwargs):
    from .models.wan import wan_self_attention_qk

    return wan_self_attention_qk(*args, **kwargs)


def _hunyuan_qk(*args, **kwargs):
    from .models.hunyuan import hunyuan_self_attention_qk

    return hunyuan_self_attention_qk(*args, **kwargs)


def _cogvideox_qk(*args, **kwargs):
    from .models.cogvideox import cogvideox_self_attention_qk

    return cogvideox_self_attention_qk(*args, **kwargs)


def _diffusers_class(name: str):
    import diffusers

    return getattr(diffusers, name)


WAN_DEFAULTS = dict(height=480, width=832, frames=81, steps=50, guidance=5.0, fps=16)
# HunyuanVideo's guidance is *embedded* (an input of the transformer, one call per step), 6.0 by default.
HUNYUAN_DEFAULTS = dict(height=720, width=1280, frames=129, steps=50, guidance=6.0, fps=24)
COGVIDEOX_DEFAULTS = dict(height=480, width=720, frames=49, steps=50, guidance=6.0, fps=8)

# Filled lazily so importing the registry does not import diffusers' model zoo.
_ARCH_FACTORIES = {
    "WanTransformer3DModel": lambda: (
        _wan_transformer_class(),
        ArchitectureSpec(
            name="wan",
            block_lists=("blocks",),
            self_attention="attn1",
            frame_multiple=4,
            spatial_multiple=16,
            defaults=WAN_DEFAULTS,
            self_attention_qk=_wan_qk,
            num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
            peer_module_patterns=(r"blocks\.\d+\.attn1", r"blocks\.\d+\.attn2", r"blocks\.\d+\.ffn"),
        ),
    ),
    "HunyuanVideoTransformer3DModel": lambda: (
        _diffusers_class("HunyuanVideoTransformer3DModel"),
        ArchitectureSpec(
            name="hunyuanvideo",
            # 20 dual-stream blocks, then 40 single-stream blocks; both take and return (video, text).
            block_lists=("transformer_blocks", "single_transformer_blocks"),
            self_attention="attn",
            frame_multiple=4,
            spatial_multiple=16,
            defaults=HUNYUAN_DEFAULTS,
            self_attention_qk=_hunyuan_qk,
            block_streams=("hidden_states", "encoder_hidden_states"),
            num_blocks_from_config=lambda cfg: int(cfg["num_layers"]) + int(cfg["num_single_layers"]),
            patch_from_config=lambda cfg: (cfg["patch_size_t"], cfg["patch_size"], cfg["patch_size"]),
            peer_module_patterns=(r"transformer_blocks\.\d+\.attn", r"transformer_blocks\.\d+\.ff",
                                  r"single_transformer_blocks\.\d+\.attn"),
        ),
    ),
    "CogVideoXTransformer3DModel": lambda: (
        _diffusers_class("CogVideoXTransformer3DModel"),
        ArchitectureSpec(
            name="cogvideox",
            block_lists=("transformer_blocks",),
            self_attention="attn1",
            frame_multiple=4,
            spatial_multiple=16,
            defaults=COGVIDEOX_DEFAULTS,
            self_attention_qk=_cogvideox_qk,
            block_streams=("hidden_states", "encoder_hidden_states"),
            num_blocks_from_config=lambda cfg: int(cfg["num_layers"]),
            patch_from_config=lambda cfg: (cfg.get("patch_size_t") or 1, cfg["patch_size"], cfg["patch_size"]),
            prediction_frames_first=True,
            peer_module_patterns=(r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.ff"),
        ),
    ),
}


def register_architecture(transformer_class: type, spec: ArchitectureSpec) -> None:
    """Add support for a transformer class (e.g. your own model, or a test double)."""
    _ARCH_FACTORIES[transformer_class.__name__] = lambda: (transformer_class, spec)


def architectures() -> dict[type, ArchitectureSpec]:
    """All supported transformer classes and their specs."""
    return dict(factory() for factory in _ARCH_FACTORIES.values())


def supported_class_names() -> list[str]:
    return sorted(_ARCH_FACTORIES)


def arch_for_class_name(class_name: str) -> ArchitectureSpec:
    """Look up by the ``_class_name`` recorded in a saved config (resolved to the class first)."""
    if class_name not in _ARCH_FACTORIES:
        raise UnsupportedModelError(
            f"transformer class {class_name!r} is not supported; supported: {', '.join(supported_class_names())} "
            "(run `pdit models`)"
        )
    return _ARCH_FACTORIES[class_name]()[1]


def arch_for(transformer: torch.nn.Module) -> ArchitectureSpec:
    """The spec for a loaded transformer, matched on its class (subclasses included)."""
    for cls, spec in architectures().items():
        if isinstance(transformer, cls):
            return spec
    raise UnsupportedModelError(
        f"transformer class {type(transformer).__name__!r} is not supported; supported: "
        f"{', '.join(supported_class_names())} (run `pdit models`)"
    )


@dataclass(frozen=True)
class PipelineSpec:
    """How pdit calls one pipeline class.

    Attributes:
        guidance: ``cfg`` (the pipeline calls the transformer once per branch, contexts "cond" and
            "uncond"), ``cfg-batched`` (one call on the batch [uncond, cond], context "cond_uncond"), or
            ``embedded`` (the scale is an input of the transformer; one call, context "cond").
        needs_image: the pipeline is image-to-video and needs ``--image``.
        pass_negative_prompt: whether to pass ``negative_prompt`` (HunyuanVideo would switch on its
            "true CFG" with it).
        max_sequence_length: the pipeline's own default text length (a model folder's
            ``pdit_model.json`` may override it).
    """

    guidance: str = "cfg"
    needs_image: bool = False
    pass_negative_prompt: bool = True
    max_sequence_length: int = 512


PIPELINES: dict[str, PipelineSpec] = {
    "WanPipeline": PipelineSpec(),
    "WanImageToVideoPipeline": PipelineSpec(needs_image=True),
    "HunyuanVideoPipeline": PipelineSpec(guidance="embedded", pass_negative_prompt=False, max_sequence_length=256),
    "CogVideoXPipeline": PipelineSpec(guidance="cfg-batched", max_sequence_length=226),
}


def pipeline_spec(pipe) -> PipelineSpec:
    """The spec of a loaded pipeline (its class or a parent class); unknown classes fail with the list."""
    for cls in type(pipe).__mro__:
        if cls.__name__ in PIPELINES:
            return PIPELINES[cls.__name__]
    raise UnsupportedModelError(
        f"pipeline class {type(pipe).__name__!r} is not supported; supported: {', '.join(sorted(PIPELINES))}")


@dataclass(frozen=True)
class ModelAlias:
    name: str
    repo_id: str | None  # None: the embedded model
    transformer_class: str
    description: str


TINY_MODEL_DIR = Path(__file__).parent / "assets" / "tiny-wan"

MODEL_ALIASES: dict[str, ModelAlias] = {
    a.name: a
    for a in (
        ModelAlias("tiny", None, "WanTransformer3DModel", "embedded tiny Wan pipeline (CPU, seconds)"),
        ModelAlias("wan2.1", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanTransformer3DModel", "Wan2.1 T2V 1.3B"),
        ModelAlias(
            "wan2.1-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanTransformer3DModel", "Wan2.1 T2V 1.3B"
        ),
        ModelAlias("wan2.1-14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanTransformer3DModel", "Wan2.1 T2V 14B"),
        ModelAlias("wan2.1-i2v-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "WanTransformer3DModel",
                   "Wan2.1 image-to-video 14B, 480p (needs --image)"),
        ModelAlias("wan2.1-i2v-720p", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "WanTransformer3DModel",
                   "Wan2.1 image-to-video 14B, 720p (needs --image)"),
        ModelAlias("wan2.2-t2v-a14b", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "WanTransformer3DModel",
                   "Wan2.2 T2V A14B: two experts (high-noise, low-noise)"),
        ModelAlias("wan2.2-i2v-a14b", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", "WanTransformer3DModel",
                   "Wan2.2 I2V A14B: two experts (needs --image)"),
        ModelAlias("wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "WanTransformer3DModel",
                   "Wan2.2 TI2V 5B (one transformer; height/width multiples of 32)"),
        ModelAlias("hunyuanvideo", "hunyuanvideo-community/HunyuanVideo", "HunyuanVideoTransformer3DModel",
                   "HunyuanVideo 13B (embedded guidance)"),
        ModelAlias("cogvideox-2b", "THUDM/CogVideoX-2b", "CogVideoXTransformer3DModel", "CogVideoX 2B"),
        ModelAlias("cogvideox-5b", "THUDM/CogVideoX-5b", "CogVideoXTransformer3DModel", "CogVideoX 5B"),
    )
}
