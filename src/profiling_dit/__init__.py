"""ProfilingDiT: profile which transformer blocks of a video DiT attend to the foreground, then sample
faster by reusing cached block deltas on a static plan, on stock diffusers pipelines.

    import profiling_dit as pdit
    profile = pdit.profile_model(pipe, ["a red circle moving right over grass"])   # stage one
    profile.save("profile.json")
    pdit.apply(pipe, profile, budget=0.5)                                          # stage two
    video = pipe("a blue square moving left over sand", num_inference_steps=30).frames[0]
    pdit.remove(pipe)

Subpackages follow the data, one way: ``models`` (what differs per model family, as data), ``pipeline``
(loading, generation, timing, video files), ``plan`` and ``metrics`` (the plan type and the quality measures
both stages share), ``profile`` (stage one: measuring, and the ``Profile`` file), ``caching`` (stage two: plan
policy, planner, calibration and the caching hooks; it reads profiles, stage one never imports it), ``bench``
(caching methods side by side). ``embedded`` builds the embedded tiny models and holds their synthetic data and
judge, not needed to run them (their training is repository tooling, ``tools/train_embedded``, never imported
here). The library never imports the CLI (typer, rich), and heavy modules import on first use.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    InvalidSettingError,
    ModelNotAvailableError,
    OutputPathError,
    PditError,
    ProfileError,
    UnsupportedModelError,
)

# The public API, imported on first use so `import profiling_dit` (and `pdit --help`) stays light.
_LAZY = {
    # stage one
    "profile_model": "profile.measure",
    "ProfileSettings": "profile.settings",
    "Profile": "profile.file",
    "shipped_profile": "profile.file",
    "load_profile": "profile.file",
    # stage two
    "Plan": "plan",
    "make_plan": "caching.policy",
    "make_plans": "caching.policy",
    "apply": "caching.sampling",
    "remove": "caching.sampling",
    "install": "caching.sampling",
    "generate_cached": "caching.sampling",
    "calibrate": "caching.calibrate",
    "apply_profiling_dit": "caching.hooks",
    "remove_profiling_dit": "caching.hooks",
    "profiling_dit_enabled": "caching.hooks",
    # running pipelines
    "load_pipeline": "pipeline.loading",
    "resolve_model": "pipeline.loading",
    "GenerationSettings": "pipeline.settings",
    "generate": "pipeline.generation",
    "write_video": "pipeline.video_io",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'profiling_dit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = [
    *_LAZY,
    "__version__",
    "PditError",
    "InvalidSettingError",
    "ModelNotAvailableError",
    "OutputPathError",
    "ProfileError",
    "UnsupportedModelError",
]
