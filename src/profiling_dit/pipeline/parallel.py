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
    config = ContextParallelConfig(ulysses_degree=world) if mode == "ulysses" else ContextParallelConfig(ring_degree=world)
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
