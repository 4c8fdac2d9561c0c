"""The shapes of a model family's registry entry: plain data, no diffusers import.

A family module (``wan.py``, ``hunyuan.py``, ``cogvideox.py``) fills these in; ``models/__init__.py``
collects them. Adding a model is adding entries, not an ``if`` in the code that uses them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # annotations only: the registry is read before torch needs to load
    import torch


@dataclass
class JointQK:
    """Q and K of a joint (video + text) attention: (B, H, S, d) each; ``video`` = where the video tokens
    are in S; ``key_mask`` (B, S) bool, True where a key may be attended to (None: all)."""

    q: torch.Tensor
    k: torch.Tensor
    video: slice
    key_mask: torch.Tensor | None = None


# the axes of one sample of a transformer's output (``ArchitectureSpec.prediction_layout``); NC: packed tokens
PREDICTION_LAYOUTS = ("CFHW", "FCHW", "FHWC", "NC")


@dataclass(frozen=True)
class ArchitectureSpec:
    """How pdit finds its way around one transformer class.

    Attributes:
        name: short family name shown to users.
        block_lists: attribute names of the ``nn.ModuleList``s of transformer blocks, in call order.
        self_attention: attribute of a block that is its self-attention module (``set_processor``).
        frame_multiple: ``frames`` must be ``frame_multiple * k + 1`` (the VAE's temporal stride).
        spatial_multiple: height and width must be multiples of this (VAE stride x patch size): the family's rule; a
            model's own spec (``for_configs``: ``ModelSource.arch``, ``LoadedModel.arch``) raises it to what its saved
            configs need (Wan2.2 TI2V 5B's VAE compresses 16 times, not Wan2.1's 8: 32, not 16).
        defaults: default generation settings for this family (overridden by the model folder).
        self_attention_qk: ``f(attn, *processor_args, **kw) -> (q, k)`` of shape (B, H, N, d), or a
            ``JointQK``, exactly as the model's processor forms them (profiling only).
        block_streams: names of the streams a block carries, which are also its first positional
            arguments in this order; a one-stream block returns a tensor, a multi-stream block a tuple
            in the same order (HunyuanVideo, CogVideoX: video and text hidden states).
        num_blocks_from_config: the block count from the transformer's saved config (checks before loading).
        peer_module_patterns: regexes (full match) of the attention/FFN modules that module-level peer
            caches (TaylorSeer) should hook.
        patch_from_config: the (frames, height, width) patch size from the transformer's config; the
            video tokens are the latent grid divided by it, in (frame, row, column) order.
        positions_from_config: the most token positions along any axis of the video grid the model's position
            embedding covers (Wan: ``rope_max_seq_len``), or None where there is no such limit; checked before
            loading.
        prediction_layout: the axes of one sample of the transformer's output: ``"CFHW"`` (Wan, HunyuanVideo),
            ``"FCHW"`` (CogVideoX), ``"FHWC"`` (Kandinsky 5), or ``"NC"``, packed tokens (LTX-Video); the profiler
            puts it on the (C, F', H', W') latent grid (``prediction_on_grid``) before the PCA.
        vae_spatial_from_config: the VAE's spatial compression from its config, for a VAE that does not call it
            ``scale_factor_spatial``.
        vae_temporal_from_config: the VAE's temporal compression from its config, where a model's may differ from
            the family's ``frame_multiple`` (``for_configs`` then takes the model's).
        context_parallel: diffusers' ``enable_parallelism`` works on this class (it has a ``_cp_plan``);
            ``context_parallel_note`` says why not otherwise.
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
    positions_from_config: Callable[[dict], int | None] | None = None
    prediction_layout: str = "CFHW"
    vae_spatial_from_config: Callable[[dict], int] | None = None
    vae_temporal_from_config: Callable[[dict], int] | None = None
    context_parallel: bool = False
    context_parallel_note: str = "no context-parallel plan for this family"

    def __post_init__(self):
        if self.prediction_layout not in PREDICTION_LAYOUTS:
            raise ValueError(f"{self.name}: `prediction_layout` {self.prediction_layout!r} is not one of "
                             f"{', '.join(PREDICTION_LAYOUTS)}")

    def prediction_on_grid(self, prediction: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """One sample of the transformer's output as (C, F', H', W'), ``grid`` being (F', H', W')."""
        if self.prediction_layout == "NC":
            return prediction.T.reshape(prediction.shape[-1], *grid)
        return prediction.permute(*(self.prediction_layout.index(axis) for axis in "CFHW"))

    def vae_spatial(self, vae_config: dict) -> int | None:
        """The VAE's spatial compression, read from its saved config (``vae_spatial_from_config``, else its
        ``scale_factor_spatial``), or None where the config does not say."""
        try:
            scale = (self.vae_spatial_from_config(vae_config) if self.vae_spatial_from_config is not None and vae_config
                     else vae_config.get("scale_factor_spatial"))
        except (KeyError, TypeError, ValueError):
            return None
        return scale if type(scale) is int and scale >= 1 else None

    def vae_temporal(self, vae_config: dict) -> int | None:
        """The VAE's temporal compression from its saved config (``vae_temporal_from_config``), or None where the
        family has no such rule or the config does not say."""
        if self.vae_temporal_from_config is None or not vae_config:
            return None
        try:
            scale = self.vae_temporal_from_config(vae_config)
        except (KeyError, TypeError, ValueError):
            return None
        return scale if type(scale) is int and scale >= 1 else None

    def for_configs(self, transformer_config: dict, vae_config: dict) -> ArchitectureSpec:
        """This spec for one model: ``spatial_multiple`` raised to what its saved configs need, the VAE's spatial
        compression times the patch size (Wan2.2 TI2V 5B: 16 x 2 = 32, where Wan2.1's 8 x 2 is the family's 16), and
        ``frame_multiple`` the VAE's temporal compression where the family reads it from the config (LTX-2)."""
        vae = self.vae_spatial(vae_config)
        frames = self.vae_temporal(vae_config) or self.frame_multiple
        try:
            _, ph, pw = self.patch_from_config(transformer_config)
            multiple = math.lcm(self.spatial_multiple, vae * int(ph), vae * int(pw)) if vae else self.spatial_multiple
        except (KeyError, TypeError, ValueError):
            multiple = self.spatial_multiple
        if (multiple, frames) == (self.spatial_multiple, self.frame_multiple):
            return self
        return dataclasses.replace(self, spatial_multiple=multiple, frame_multiple=frames)

    def blocks(self, transformer: torch.nn.Module) -> list[torch.nn.Module]:
        out: list[torch.nn.Module] = []
        for attr in self.block_lists:
            out.extend(getattr(transformer, attr))
        return out

    def block_names(self, transformer: torch.nn.Module) -> list[str]:
        return [f"{attr}.{i}" for attr in self.block_lists for i in range(len(getattr(transformer, attr)))]


@dataclass(frozen=True)
class PipelineSpec:
    """How pdit calls one pipeline class.

    Attributes:
        guidance: ``cfg`` (the pipeline calls the transformer once per branch, contexts "cond" and
            "uncond"), ``cfg-batched`` (one call on the batch [uncond, cond], context "cond_uncond"), or
            ``embedded`` (the scale is an input of the transformer; one call, context "cond").
        needs_image: the pipeline is image-to-video and needs a first frame.
        pass_negative_prompt: whether to pass ``negative_prompt`` (HunyuanVideo would switch on its
            "true CFG" with it).
        max_sequence_length: the pipeline's own default text length (a model folder's
            ``pdit_model.json`` may override it).
        guidance_from: ``call`` (the pipeline's ``guidance_scale`` argument) or ``guider`` (the scale of the
            pipeline's ``guider`` component, set for each call: HunyuanVideo 1.5). Arguments the pipeline does not
            take (``max_sequence_length``, ``callback_on_step_end``) are not passed.
        call_contexts: the pipeline calls the transformer outside any ``cache_context`` (Kandinsky 5): pdit names
            each call itself, by its place among the calls at one timestep (the first ``"cond"``, the next
            ``"uncond"``), so that caching and profiling see the branches as in other pipelines. Empty: the
            pipeline names them.
        module_components: the components that come from a diffusers pipeline module rather than diffusers'
            or transformers' top level, as ``model_index.json`` names them (LTX-2's ``("ltx2",
            "LTX2TextConnectors")``); any other library is refused before anything loads.
    """

    guidance: str = "cfg"
    needs_image: bool = False
    pass_negative_prompt: bool = True
    max_sequence_length: int = 512
    call_contexts: tuple[str, ...] = ()
    guidance_from: str = "call"
    module_components: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.guidance not in ("cfg", "cfg-batched", "embedded") or self.guidance_from not in ("call", "guider"):
            raise ValueError(f"`guidance` {self.guidance!r} must be cfg, cfg-batched or embedded, and `guidance_from` "
                             f"{self.guidance_from!r} call or guider")


@dataclass(frozen=True)
class ModelAlias:
    """A short name for a model: a Hub repository, or a folder shipped inside the package."""

    name: str
    repo_id: str | None
    transformer_class: str
    description: str
    folder: Path | None = None  # the embedded model's folder (repo_id is None)
    defaults: dict = field(default_factory=dict)  # the model's own settings, over its family's (the embedded models')
    judge: str | None = None  # its prompts have a ground truth a judge checks ("synthetic": the embedded models')


@dataclass(frozen=True)
class Family:
    """One model family's registry entries (each family module defines one ``FAMILY``)."""

    transformer_class: str  # the diffusers class name (resolved lazily)
    architecture: ArchitectureSpec
    pipelines: dict[str, PipelineSpec]
    aliases: tuple[ModelAlias, ...] = ()
    # pipeline classes of this transformer that pdit does not run -> the one-line reason (shown when one is given)
    refused_pipelines: dict[str, str] = field(default_factory=dict)
