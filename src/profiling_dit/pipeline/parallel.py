"""Context parallelism: several processes (one per GPU) share one generation's sequence, through diffusers'
own ``transformer.enable_parallelism(ContextParallelConfig(...))`` (Ulysses or ring attention over
``torch.distributed``), started with ``torchrun``. pdit writes no communication code for sampling; its
caching hooks simply see each rank's shard of the sequence.

- Every rank runs the same pipeline call with the same inputs (the initial noise is drawn on the CPU from the
  seed), so every rank holds the same frames at the end; rank 0 writes the outputs.
- ProfilingDiT's plan is static: every rank makes the same decisions at the same steps without talking to
  the others, and each caches the deltas of its own shard.
- Order: apply ProfilingDiT **before** ``enable_parallelism``. Context parallelism splits the sequence in a
  hook on the first block's input; ProfilingDiT's hooks must sit inside that split (``apply_profiling_dit``
  refuses the other order when the first block is cached).
- Profiling: each rank measures the attention its own queries give to every key (the keys are gathered
  from all ranks) and the ranks add their sums, so every rank ends with the ā one process would compute.

Supported: model families whose registry entry says so (Wan, with diffusers' own ``_cp_plan``).
HunyuanVideo and CogVideoX attend jointly over video and text tokens in one attention call, so a plan must
split the text stream and its padding mask consistently with the video stream; diffusers 0.42 has no such
plan for them and pdit does not write one: they are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .._validate import check_int
from ..errors import InvalidSettingError

MODES = ("ulysses", "ring")


@dataclass(frozen=True)
class DistributedEnv:
    rank: int
    world_size: int
    local_rank: int


def distributed_env() -> DistributedEnv | None:
    """The process's place in a ``torchrun`` launch (its environment variables), or None outside one."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        return DistributedEnv(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                              int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except ValueError:
        return None


def check_context_parallel(source, settings, mode: str, world_size: int | None = None, device: str = "auto") -> int:
    """Before anything loads: the launch, the model family, and the sizes fit ``mode`` on this many ranks.
    Returns the world size. Every rank runs the same checks, so every rank stops on the same bad input."""
    if mode not in MODES:
        raise InvalidSettingError(f"`context_parallel` must be one of {', '.join(MODES)}, got {mode!r}")
    env = distributed_env()
    if world_size is None:
        if env is None:
            raise InvalidSettingError("context parallelism needs several processes: start pdit with torchrun "
                                      "(torchrun --nproc-per-node N $(which pdit) ...) or give `nproc`")
        world_size = env.world_size
    if world_size < 2:
        raise InvalidSettingError(f"context parallelism needs at least 2 processes, got {world_size}")
    arch = source.arch
    if not arch.context_parallel:
        raise InvalidSettingError(f"{source.transformer_class} does not support context parallelism here: "
                                  f"{arch.context_parallel_note}")
    cfg = source.transformer_config
    heads = int(cfg.get("num_attention_heads", 1))
    if mode == "ulysses" and heads % world_size:
        raise InvalidSettingError(f"Ulysses attention splits the {heads} attention heads over the processes: "
                                  f"{world_size} processes do not divide them; use a divisor of {heads}")
    from .memory import estimate_bytes

    tokens = estimate_bytes(source, settings)["tokens"]
    if tokens % world_size:
        raise InvalidSettingError(f"the {tokens} video tokens of {settings.frames} frames at {settings.width}x"
                                  f"{settings.height} do not split evenly over {world_size} processes; change the "
                                  "size or the process count")
    if mode == "ring" and _device_type(device) == "cpu":
        raise InvalidSettingError("ring attention needs an attention backend that returns its log-sum-exp, which "
                                  "the CPU's does not; use `context_parallel`='ulysses' on CPU")
    return world_size


def _device_type(device: str) -> str:
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device).split(":")[0]


def init_distributed(device: str = "auto"):
    """Join the ``torchrun`` process group (NCCL on CUDA, gloo on CPU) and return this rank's device."""
    import torch
    import torch.distributed as dist

    env = distributed_env()
    if env is None:
        raise InvalidSettingError("not started by torchrun: RANK and WORLD_SIZE are not set")
    kind = _device_type(device)
    if kind == "cuda":
        torch.cuda.set_device(env.local_rank)
        dev = torch.device("cuda", env.local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo")
    return dev


def enable_context_parallel(model, mode: str) -> None:
    """diffusers' context parallelism on every transformer of the pipeline (Ulysses or ring over all ranks)."""
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    from .._compat import accelerator_count_at_least_one
    from .loading import as_model

    model = as_model(model)
    if not model.arch.context_parallel:
        raise InvalidSettingError(f"{type(model.pipe.transformer).__name__} does not support context parallelism "
                                  f"here: {model.arch.context_parallel_note}")
    world = dist.get_world_size()
    config = (ContextParallelConfig(ulysses_degree=world) if mode == "ulysses"
              else ContextParallelConfig(ring_degree=world))
    with accelerator_count_at_least_one():
        for name in model.experts:
            getattr(model.pipe, name).enable_parallelism(config=config)


def parallel_group():
    """The process group profiling combines its measurements over, or None when not distributed."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.group.WORLD
    return None


class ParallelRun:
    """This process's part in a context-parallel run (launched by ``torchrun``): its device, rank and mode; rank 0
    writes the outputs. ``start_parallel`` checks the launch and joins the process group."""

    def __init__(self, mode: str, device, world_size: int, rank: int):
        self.mode, self.device, self.world_size, self.rank = mode, device, world_size, rank
        self.main = rank == 0

    def enable(self, model) -> None:
        enable_context_parallel(model, self.mode)

    def report(self, cache_bytes) -> dict:
        """The run's parallel settings, with every rank's delta-cache size and peak memory (gathered on every
        rank: every rank must call it)."""
        import torch.distributed as dist

        mine = {"cache_bytes": cache_bytes, "peak_memory_bytes": peak_memory_bytes(self.device)}
        ranks: list = [None] * self.world_size
        dist.all_gather_object(ranks, mine)
        return {"mode": self.mode, "world_size": self.world_size,
                "cache_bytes_per_rank": [r["cache_bytes"] for r in ranks],
                "peak_memory_bytes_per_rank": [r["peak_memory_bytes"] for r in ranks]}

    def finish(self) -> None:
        """Wait for every rank, then leave the process group."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def start_parallel(source, settings_list, mode: str | None, device: str = "auto") -> ParallelRun | None:
    """With a context-parallel ``mode``: check the launch and the sizes (every rank runs the same checks, so every
    rank stops on the same bad input), then join the process group. ``None`` without a mode."""
    if mode is None:
        return None
    world = 0
    for settings in settings_list:
        world = check_context_parallel(source, settings, mode, device=device)
    dev = init_distributed(device)
    env = distributed_env()
    return ParallelRun(mode, dev, world, env.rank if env is not None else 0)


def peak_memory_bytes(device) -> int:
    """This process's peak memory so far: the GPU's allocations on CUDA, the resident set on a CPU."""
    import resource

    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def launcher_command(nproc: int, mode: str | None, args: list[str], module: str = "profiling_dit.cli") -> list[str]:
    """The command that runs ``python -m module args`` in ``nproc`` processes through torch's launcher, after
    checking the count: at least 2, and no more than this machine has GPUs (or CPU cores, without GPUs)."""
    import sys

    import torch

    if distributed_env() is not None:
        raise InvalidSettingError("`nproc` starts the processes itself; leave it out under torchrun")
    if mode is None:
        raise InvalidSettingError("`nproc` goes with `context_parallel` (ulysses or ring)")
    check_int("nproc", nproc, 2)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    most, what = (gpus, "GPUs") if gpus else (os.cpu_count() or 1, "CPU cores")
    if nproc > most:
        raise InvalidSettingError(f"`nproc` {nproc} is more processes than this machine's {most} {what}; give at "
                                  f"most {most}")
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "-m", module, *args]
