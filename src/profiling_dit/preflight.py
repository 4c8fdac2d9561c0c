"""Checks before anything heavy loads: the model and the profile resolved from small files, the settings a run
will use (given, else the profile's, else the model's), the plan options, the device and the memory the sizes
need, and the prompt's words the model does not know. Each bad input is one ``PditError``; what is only worth
knowing comes back as notes. The CLI runs these first, and so can a script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelNotAvailableError
from .pipeline.loading import ModelSource, resolve_model
from .pipeline.settings import GenerationSettings
from .profile.file import Profile

# settings a profile's run fixes, used when a call leaves them out
PROFILED_SETTINGS = ("steps", "height", "width", "frames", "guidance")


def resolve(profile: str | Path | Profile | None, model: str | None,
            default_model: str = "tiny") -> tuple[Profile | None, ModelSource]:
    """The profile (loaded and validated, if given) and the model (``model``, else the profile's, else
    ``default_model``), resolved from their saved configs only; the profile is checked to fit the model."""
    if profile is None:
        return None, resolve_model(model if model is not None else default_model)
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    source = resolve_model(model if model is not None else profile_model_ref(prof))
    prof.check_fits(source)
    return prof, source


def profile_model_ref(profile: Profile) -> str:
    """The model a profile was made on, as a reference ``resolve_model`` takes: its alias or Hub id, or its local
    folder's name when that folder is here."""
    from .models import MODEL_ALIASES
    from .pipeline.loading import is_hub_id

    ref = profile.model.requested
    if ref.lower() in MODEL_ALIASES or is_hub_id(ref) or Path(ref).is_dir():
        return ref
    raise ModelNotAvailableError(
        f"the profile was made on a local folder named {ref!r}, which is not here; give that folder as `model`")


def settings_for(source: ModelSource, profile: Profile | None = None, *, prompt, negative_prompt: str = "",
                 steps: int | None = None, height: int | None = None, width: int | None = None,
                 frames: int | None = None, guidance: float | None = None, seed: int = 0, fps: int | None = None,
                 image: str | Path | None = None) -> GenerationSettings:
    """What to generate: each setting as given, else (steps, sizes, guidance) as the profile was made, else the
    model's default; checked against the model's size rules and image input."""
    given: dict[str, Any] = dict(steps=steps, height=height, width=width, frames=frames, guidance=guidance, fps=fps)
    for key, value in given.items():
        if value is None:
            if profile is not None and key in PROFILED_SETTINGS:
                given[key] = getattr(profile.run, key)
            else:
                given[key] = source.default(key)
    return GenerationSettings(prompt=prompt, negative_prompt=negative_prompt, seed=seed,
                              image=None if image is None else str(Path(image).expanduser()),
                              **given).check_for_source(source)


def plans_for(profile: Profile, settings: GenerationSettings, options: dict) -> tuple[dict | None, list[str]]:
    """The plans the options ask for, made before any weights load (a bad option fails here), and the notes on
    what differs from the profiled run. The plans are ``None`` for a two-expert profile: each expert's share of a
    call is known once the pipeline is loaded (``caching.make_plans``); the options are checked all the same."""
    from .caching.policy import make_plan, mismatch_notes

    plans = None
    if profile.experts:
        for component in profile.components:
            make_plan(profile, None, component, **options)
    else:
        plans = {"transformer": make_plan(profile, settings.steps, **options)}
    return plans, mismatch_notes(profile, settings.steps, settings.height, settings.width, settings.frames)


def check_resources(source: ModelSource, settings_list, device: str = "auto", dtype: str = "auto") -> list[str]:
    """The device exists and the sizes fit its memory (estimated from the configs); returns notes (float16 on a
    CPU is much slower than float32 there)."""
    from .pipeline.loading import resolve_device
    from .pipeline.memory import check_memory

    dev = resolve_device(device)
    name = dtype if dtype != "auto" else ("bfloat16" if dev.type == "cuda" else "float32")
    for settings in settings_list:
        check_memory(source, settings, dev, name)
    if dev.type == "cpu" and name == "float16":
        return ["`dtype` float16 on a CPU is much slower than float32 (CPUs have few half-precision kernels); use "
                "float32 or auto"]
    return []


def prompt_notes(source: ModelSource, prompts) -> list[str]:
    """A note per prompt with words the model's tokenizer does not know (word-level tokenizers, such as the
    embedded models', map them to one unknown token: the model reads nothing there)."""
    from .pipeline.loading import unknown_words

    notes = []
    for prompt in dict.fromkeys(prompts):
        words = unknown_words(source, prompt)
        if words:
            notes.append(f"{source.ref} does not know the word(s) {', '.join(repr(w) for w in words)} in "
                         f"{prompt[:80]!r}; it reads nothing there" + (f" ({source.meta['vocabulary']})"
                                                                          if source.meta.get("vocabulary") else ""))
    return notes


def check_segmentation(source: ModelSource, settings: GenerationSettings, sam2: str | None = None,
                       sam2_config: str | None = None, masks=None) -> None:
    """The foreground source a profile run asks for exists and reads: a SAM2 checkpoint and config, or a masks
    file whose frames fit these settings' latent frames (``profile.segmentation``); not both."""
    from .errors import InvalidSettingError
    from .pipeline.memory import token_grid
    from .profile.segmentation import check_sam2_config, load_user_masks, resolve_sam2_checkpoint

    if sam2 is not None and masks is not None:
        raise InvalidSettingError("give `sam2` or `masks`, not both")
    if sam2 is None and sam2_config is not None:
        raise InvalidSettingError("`sam2_config` goes with `sam2` (the checkpoint)")
    if sam2 is not None:
        check_sam2_config(sam2_config)
        resolve_sam2_checkpoint(sam2)
    if masks is not None:
        load_user_masks(masks, token_grid(source, settings), source.arch.frame_multiple)
