"""What reusing a stale delta costs, measured during the profiling run (the planner's input).

Reusing, at step t, the deltas a set C of blocks computed at an earlier full step s changes the hidden
state by  E_C(s, t) = Σ_{b ∈ C} (γ_b(t) − γ_b(s)),  where γ_b(t) is block b's delta (output − input of
its video stream) at step t, combined over the CFG branches as the guided prediction combines them
(γ = δ_uncond + g·(δ_cond − δ_uncond)): a cached run's delta is exactly the sum of its blocks' deltas,
and both branches reuse their own. The error of any set follows from the Gram matrix of the blocks'
delta changes,

    ‖E_C(s, t)‖² = Σ_{b, b' ∈ C} ⟨γ_b(t) − γ_b(s), γ_b'(t) − γ_b'(s)⟩,

so one pass records, for every pair of steps at most ``max_gap`` apart, the L × L Gram matrix (on a fixed
random subset of ``tokens`` video tokens), and any set's error is read off afterwards, once the R_attn
ranking that defines the candidate sets is known. Memory: a window of ``max_gap`` steps of per-block
deltas, ``max_gap × L × tokens × dim`` floats (float32), plus one Gram matrix per step pair.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from ..models import block_stream_inputs

_BLOCK_HOOK = "pdit_staleness_block"


class StalenessRecorder:
    """Per-block delta changes between steps, as Gram matrices (see the module docstring).

    Args:
        num_blocks: blocks of the transformer(s), numbered across experts.
        expert_blocks: ``{component: (first, stop)}`` block rows per expert (one entry for one transformer).
        guidance: the CFG scale (None: no CFG, the cond branch is the prediction).
        batched_cfg: one call holds [uncond, cond] in its batch (CogVideoX).
        max_gap: the largest step distance recorded.
        tokens: how many video tokens (a fixed random subset) the deltas are measured on.
    """

    def __init__(self, num_blocks: int, expert_blocks: dict[str, tuple[int, int]], guidance: float | None,
                 batched_cfg: bool, max_gap: int, tokens: int = 1024, seed: int = 0, group=None):
        self.num_blocks = num_blocks
        self.expert_blocks = expert_blocks
        self.guidance = guidance
        self.batched_cfg = batched_cfg and guidance is not None
        self.max_gap = max_gap
        self.tokens = tokens
        self.seed = seed
        self.context = None  # set by the profiler's transformer hook: CallContext of the running call
        self._index: torch.Tensor | None = None
        self._n = 0
        self._inputs: dict[int, torch.Tensor] = {}
        self._deltas: dict[str, dict[int, torch.Tensor]] = {}  # branch -> block -> (tokens, dim)
        self._window: list[tuple[int, str, torch.Tensor]] = []  # (step, expert, (L_e, tokens·dim))
        self.gram: dict[tuple[int, int], np.ndarray] = {}  # (s, t) -> (L_e, L_e)
        self.self_gram: dict[int, np.ndarray] = {}  # t -> Gram of γ(t) itself (for relative errors)
        self.step_expert: dict[int, str] = {}
        # context parallelism: each rank holds an equal shard of the sequence; the token subset is chosen over the
        # whole sequence and the Gram matrices are summed over the ranks, as one process would compute them
        self.group = group

    # -- hooks ---------------------------------------------------------------------------------------
    def _select(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) → the recorded tokens of each batch entry, (B, tokens, D) float32."""
        n = x.shape[1]
        if self._index is None or self._index.device != x.device or self._n != n:
            world, rank = 1, 0
            if self.group is not None:
                import torch.distributed as dist

                world, rank = dist.get_world_size(self.group), dist.get_rank(self.group)
            g = torch.Generator().manual_seed(self.seed)
            index = torch.randperm(n * world, generator=g)[:min(self.tokens, n * world)].sort().values
            index = index[(index >= rank * n) & (index < (rank + 1) * n)] - rank * n  # this rank's shard
            self._index, self._n = index.to(x.device), n
        return x.index_select(1, self._index).float()

    def _gram(self, a: torch.Tensor) -> np.ndarray:
        """a aᵀ, summed over the ranks when the sequence is sharded."""
        g = a @ a.T
        if self.group is not None:
            import torch.distributed as dist

            dist.all_reduce(g, group=self.group)
        return g.double().cpu().numpy()

    def block_input(self, block: int, x: torch.Tensor) -> None:
        if self.context is not None:
            self._inputs[block] = x.detach().clone()

    def block_output(self, block: int, x: torch.Tensor) -> None:
        ctx = self.context
        if ctx is None or block not in self._inputs:
            return
        before = self._inputs.pop(block)
        if before.shape[1] != x.shape[1] and self.group is not None:
            # context parallelism splits the first block's input inside the block's own hooks: take this rank's
            # shard of the whole input we saw
            import torch.distributed as dist

            n, rank = x.shape[1], dist.get_rank(self.group)
            before = before[:, rank * n:(rank + 1) * n]
        delta = self._select(x) - self._select(before)
        if self.batched_cfg:
            half = delta.shape[0] // 2
            self._deltas.setdefault("uncond", {})[block] = delta[0]
            self._deltas.setdefault("cond", {})[block] = delta[half]
        else:
            self._deltas.setdefault(ctx.name, {})[block] = delta[0]

    def call_done(self, name: str, step: int) -> None:
        """After a transformer call: when the step's prediction is complete, fold it into the Grams."""
        if self.guidance is not None and not self.batched_cfg and name != "uncond":
            return  # the uncond call of this step comes next
        deltas = self._deltas
        self._deltas = {}
        if "cond" not in deltas:
            return
        blocks = sorted(deltas["cond"])
        expert = next(e for e, (a, b) in self.expert_blocks.items() if a <= blocks[0] < b)
        cond = torch.stack([deltas["cond"][b] for b in blocks])
        if self.guidance is not None and "uncond" in deltas:
            uncond = torch.stack([deltas["uncond"][b] for b in blocks])
            gamma = uncond + self.guidance * (cond - uncond)
        else:
            gamma = cond
        gamma = gamma.flatten(1)  # (L_e, tokens·dim)
        self.step_expert[step] = expert
        self.self_gram[step] = self._gram(gamma)
        for s, e, old in self._window:
            if e == expert and 0 < step - s <= self.max_gap:
                self.gram[(s, step)] = self._gram(gamma - old)
        self._window = [(s, e, g) for s, e, g in self._window if e == expert and step - s < self.max_gap]
        self._window.append((step, expert, gamma))


class _BlockDeltaHook(ModelHook):
    def __init__(self, recorder: StalenessRecorder, block: int, streams: tuple[str, ...]):
        super().__init__()
        self.recorder = recorder
        self.block = block
        self.streams = streams

    def pre_forward(self, module, *args, **kwargs):
        with torch.no_grad():
            self.recorder.block_input(self.block, block_stream_inputs(self.streams, args, kwargs)[0])
        return args, kwargs

    def post_forward(self, module, output):
        with torch.no_grad():
            self.recorder.block_output(self.block, output[0] if isinstance(output, tuple) else output)
        return output


class staleness_capture:
    """Context manager: observe every block's delta (output − input of its video stream); the model's
    output is unchanged. ``recorder.context`` must be set per call (the profiler's transformer hook does)."""

    def __init__(self, transformer, arch, recorder: StalenessRecorder, block_offset: int = 0):
        self.blocks = arch.blocks(transformer)
        self.streams = arch.block_streams
        self.recorder = recorder
        self.block_offset = block_offset

    def __enter__(self):
        for i, block in enumerate(self.blocks):
            HookRegistry.check_if_exists_or_initialize(block).register_hook(
                _BlockDeltaHook(self.recorder, self.block_offset + i, self.streams), _BLOCK_HOOK)
        return self.recorder

    def __exit__(self, *exc):
        for block in self.blocks:
            HookRegistry.check_if_exists_or_initialize(block).remove_hook(_BLOCK_HOOK, recurse=False)
        return False


def set_errors(gram: dict[tuple[int, int], np.ndarray], self_gram: dict[int, np.ndarray],
               members: list[int], steps: range, max_gap: int) -> tuple[list[list[float]], list[float]]:
    """For one set of blocks (indices into the Gram rows): ``error[s][g-1] = ‖E(s, s+g)‖`` for g = 1..max_gap
    (NaN where s+g is outside ``steps`` or was not recorded), and ``scale[t] = ‖Σ_b γ_b(t)‖``."""
    idx = np.asarray(members, dtype=int)
    error = []
    for s in steps:
        row = []
        for g in range(1, max_gap + 1):
            m = gram.get((s, s + g))
            row.append(float(np.sqrt(max(0.0, m[np.ix_(idx, idx)].sum()))) if m is not None and len(idx)
                       else float("nan"))
        error.append(row)
    scale = [float(np.sqrt(max(0.0, self_gram[t][np.ix_(idx, idx)].sum()))) if t in self_gram and len(idx)
             else float("nan") for t in steps]
    return error, scale


def greedy_order(grams: list[dict[tuple[int, int], np.ndarray]], steps: range, max_gap: int) -> list[int]:
    """Blocks in the order a greedy search adds them to the cached set, each time the block whose addition
    gives the set the smallest measured reuse error: the sum, over every recorded step pair (s, s+g), g <= ``max_gap``,
    within ``steps``, and over the runs in ``grams``, of ‖E_C(s, s+g)‖ (the planner's proxy). Deltas that cancel
    each other count as they do in a cached run. Ties go to the lower block index."""
    mats = [g[(s, s + d)] for g in grams for s in steps for d in range(1, max_gap + 1)
            if s + d in steps and (s, s + d) in g]
    if not mats:
        raise ValueError("no staleness measurement to rank blocks by")
    G = np.stack(mats).astype(np.float64)  # (pairs, L, L)
    n = G.shape[1]
    chosen: list[int] = []
    acc = np.zeros(len(G))  # ‖E_C‖² per pair for the chosen set
    for _ in range(n):
        best, best_cost, best_acc = -1, np.inf, acc
        for b in range(n):
            if b in chosen:
                continue
            new = acc + G[:, b, b] + 2 * G[:, chosen, b].sum(axis=1)
            cost = float(np.sqrt(np.maximum(new, 0.0)).sum())
            if cost < best_cost - 1e-12 * max(1.0, abs(best_cost)) or best < 0:
                best, best_cost, best_acc = b, cost, new
        chosen.append(best)
        acc = best_acc
    return chosen
