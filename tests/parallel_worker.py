"""Run under torchrun by tests/test_parallel.py (2 CPU processes, gloo): the Python API with diffusers'
context parallelism. Writes OUT_DIR/rank{R}.json with what each rank saw; rank 0 also writes frames."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main(out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    import profiling_dit as pdit
    from profiling_dit.caching.sampling import generate_cached
    from profiling_dit.pipeline.parallel import distributed_env, enable_context_parallel, init_distributed

    torch.set_num_threads(1)
    init_distributed("cpu")
    rank = distributed_env().rank
    out = Path(out_dir)
    model = pdit.load_pipeline("tiny", device="cpu")
    profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
    gen = pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=6, height=64, width=64,
                                  frames=9, seed=1)
    seen = {"rank": rank, "world_size": dist.get_world_size()}
    # ProfilingDiT first, then context parallelism: the documented order
    result, summary = generate_cached(model, gen, {"transformer": pdit.make_plan(profile, steps=6, budget=0.5)},
                                      on_installed=lambda m: enable_context_parallel(m, "ulysses"))
    seen["cache_bytes"] = summary["cache_bytes"]
    seen["full_compute_steps"] = summary["full_compute_steps"]
    frames = result.frames
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, frames.tobytes())
    seen["ranks_agree"] = all(g == gathered[0] for g in gathered)
    # the other order is refused, in one line
    try:
        pdit.apply(model.pipe, profile, budget=0.5)
        seen["apply_after"] = "accepted"
        pdit.remove(model.pipe)
    except pdit.PditError as e:
        seen["apply_after"] = str(e)
    (out / f"rank{rank}.json").write_text(json.dumps(seen))
    if rank == 0:
        np.save(out / "cached.npy", frames)
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # as the CLI does: no interpreter shutdown under gloo's threads (it aborted a finished rank)


if __name__ == "__main__":
    main(sys.argv[1])
