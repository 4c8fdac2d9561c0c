"""The setup the held-out checks share (``drift_check.py``, ``branch_check.py``): an embedded model, its shipped
profile, the first prompts of a prompts file at the profiled settings, and stock sampling's frames of each."""

from __future__ import annotations

from pathlib import Path


def held_out_cases(model_name: str, prompts_file: str, count: int, seeds: str, threads: int):
    """(model, shipped profile, prompts, one ``GenerationSettings`` per prompt and seed, their stock frames)."""
    import torch

    import profiling_dit as pdit
    from profiling_dit.pipeline.generation import GenerationSettings, generate

    torch.set_num_threads(threads)
    model = pdit.load_pipeline(model_name, device="cpu")
    profile = pdit.load_profile(pdit.shipped_profile(model_name))
    run = profile.run
    prompts = [p.strip() for p in Path(prompts_file).read_text().splitlines() if p.strip()][:count]
    cases = [GenerationSettings(prompt=p, steps=run.steps, height=run.height, width=run.width, frames=run.frames,
                                guidance=run.guidance, seed=int(s), negative_prompt=run.negative_prompt)
             for p in prompts for s in seeds.split(",")]
    return model, profile, prompts, cases, [generate(model, g).frames for g in cases]
