"""How much attention each token receives (paper Eq. 5), computed without holding an N×N matrix.

For a self-attention with queries Q and keys K (after the model's norms and rotary embedding),
ā_j = mean over queries i of softmax(Q Kᵀ / √d)_ij, averaged over heads. Queries are processed in
chunks of ``chunk_size``; optionally only every ``query_stride``-th query is used (an unbiased
estimate of the mean for very long sequences).

Peak extra memory of one call, in bytes (float32 scores, softmax done in place):
    4 · B · H · c · N   (one chunk of scores)
  + 12 · B · H · N      (the accumulator, a column sum, and per-row max/sum of the chunk)
  + 4 · B · H · (N/s + N) · d   (float32 copies of Q and K; Q's is made even in float32, for the scale)
with B the batch, H heads, N tokens, c the chunk size, s the query stride, d the head dim.

Joint attention (HunyuanVideo, CogVideoX: video and text tokens attend together): the model's Q/K
function returns a ``JointQK`` that says where the video tokens are and which keys are padding.
Then ā is taken over the *video* queries, each query's softmax runs over every real key (video and
text, as the model computes it), and only the video keys' columns are kept and renormalised to sum
to 1, so ā is "the share of video-to-video attention a video token receives", comparable with
Wan's self-attention and thresholded at κ/N with N the number of video tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import StateManager

from .._compat import CallContext, ContextState
from ..models.spec import JointQK

# the calls the profile reads: the CFG branches, as one call each or batched
GUIDANCE_BRANCHES = ("cond", "uncond", "cond_uncond")


def received_attention(q: torch.Tensor, k: torch.Tensor, chunk_size: int = 1024, query_stride: int = 1,
                       video: slice | None = None, key_mask: torch.Tensor | None = None, group=None) -> torch.Tensor:
    """ā per token: q, k of shape (B, H, N, d) → (B, N) float32; each row sums to 1.

    Per chunk of queries: scores S = (q·scale) Kᵀ, E = exp(S − rowmax) in place, then the column
    sums of E weighted by 1/rowsum as one small matmul. One (B, H, c, N) buffer, five passes over it.
    With ``video``/``key_mask`` (joint attention): see the module docstring; the result has one
    entry per video token.
    """
    b, h, _, d = q.shape
    if group is not None:
        return _received_attention_sharded(q, k, chunk_size, query_stride, group)
    if video is not None:
        q = q[:, :, video]
    q = q[:, :, ::query_stride].float() * (d ** -0.5)
    kt = k.float().transpose(-1, -2)
    nq = q.shape[2]
    bias = None
    if key_mask is not None:
        bias = torch.zeros(key_mask.shape, dtype=torch.float32, device=q.device)
        bias.masked_fill_(~key_mask.to(q.device), float("-inf"))
        bias = bias[:, None, None, :]
    acc = _column_sums(q, kt, chunk_size, bias).squeeze(-2)
    out = (acc / nq).mean(dim=1)
    if video is not None:
        out = out[:, video]
        out = out / out.sum(dim=1, keepdim=True).clamp_min(1e-30)
    return out


def _column_sums(q: torch.Tensor, kt: torch.Tensor, chunk_size: int, bias=None) -> torch.Tensor:
    """Σ over the queries of q (already scaled) of softmax(q kᵀ) rows: (B, H, 1, N), one chunk at a time."""
    b, h = q.shape[:2]
    acc = torch.zeros(b, h, 1, kt.shape[-1], dtype=torch.float32, device=q.device)
    for start in range(0, q.shape[2], chunk_size):
        scores = torch.matmul(q[:, :, start:start + chunk_size], kt)
        if bias is not None:
            scores.add_(bias)
        scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
        inv_rowsum = scores.sum(dim=-1, keepdim=True).reciprocal_().transpose(-1, -2)  # (B, H, 1, c)
        acc.add_(torch.matmul(inv_rowsum, scores))
        del scores
    return acc


def _received_attention_sharded(q, k, chunk_size: int, query_stride: int, group) -> torch.Tensor:
    """ā under context parallelism: each rank holds an equal, contiguous shard of the sequence (its queries and
    keys). The keys are gathered from every rank, each rank sums the attention its own queries (every
    ``query_stride``-th of the whole sequence) give to every key, and the ranks add their sums: every rank
    gets the ā one process would compute."""
    import torch.distributed as dist

    world, rank = dist.get_world_size(group), dist.get_rank(group)
    d = q.shape[-1]
    shards = [torch.empty_like(k) for _ in range(world)]
    dist.all_gather(shards, k.contiguous(), group=group)
    kt = torch.cat(shards, dim=2).float().transpose(-1, -2)
    offset = rank * q.shape[2]
    first = (-offset) % query_stride  # the first local query whose global index is a multiple of the stride
    local = q[:, :, first::query_stride].float() * (d ** -0.5)
    acc = _column_sums(local, kt, chunk_size)
    count = torch.tensor([float(local.shape[2])], device=acc.device)
    dist.all_reduce(acc, group=group)
    dist.all_reduce(count, group=group)
    return (acc.squeeze(-2) / count).mean(dim=1)


def extra_memory_bytes(batch: int, heads: int, tokens: int, head_dim: int, chunk_size: int, query_stride: int = 1,
                       half_precision: bool = True) -> int:
    """The formula in this module's docstring (upper bound of what ``received_attention`` allocates)."""
    c = min(chunk_size, -(-tokens // query_stride))
    total = 4 * batch * heads * c * tokens + 12 * batch * heads * tokens + 8 * batch * heads * c
    nq = -(-tokens // query_stride)
    total += 4 * batch * heads * nq * head_dim  # the scaled float32 copy of Q
    if half_precision:
        total += 4 * batch * heads * tokens * head_dim  # float32 copy of K
    return total


class AttentionRecorder:
    """Collects ā per (block, step) for the profiled branch, and the guided noise prediction per step."""

    def __init__(self, num_blocks: int, branch: str, steps_to_record: set[int], guidance: float | None,
                 chunk_size: int, query_stride: int, keep_prediction_steps: set[int], batched_cfg: bool = False,
                 group=None):
        self.num_blocks = num_blocks
        self.group = group  # context parallelism: the ranks that hold the other shards of the sequence
        self.branch = branch
        # Batched CFG (CogVideoX): one call per step in context "cond_uncond", batch = [uncond, cond].
        self.batched_cfg = batched_cfg and guidance is not None
        self.steps_to_record = steps_to_record
        self.guidance = guidance  # None: no CFG, the cond prediction is the prediction
        self.chunk_size = chunk_size
        self.query_stride = query_stride
        self.keep_prediction_steps = keep_prediction_steps
        self.context: CallContext | None = None
        self.abar: dict[tuple[int, int], torch.Tensor] = {}  # (block, step) -> (N,) on CPU
        self.l1: dict[int, float] = {}
        self.rel_l1: dict[int, float] = {}
        self.kept_predictions: dict[int, torch.Tensor] = {}
        self.staleness: Any = None  # a StalenessRecorder that follows the same calls, or None
        self._branch_outputs: dict[str, torch.Tensor] = {}
        self._prev_pred: torch.Tensor | None = None

    def recording(self) -> bool:
        ctx = self.context
        if ctx is None or ctx.step not in self.steps_to_record:
            return False
        return ctx.name == ("cond_uncond" if self.batched_cfg else self.branch)

    def record_attention(self, block: int, q, k: torch.Tensor | None = None) -> None:
        """``q, k`` (B, H, N, d), or a ``JointQK`` as ``q`` (joint video-text attention)."""
        ctx = self.context
        if ctx is None or ctx.step is None:  # recording() said yes, so there is a call and its step
            raise RuntimeError("attention recorded outside a profiled transformer call")
        if isinstance(q, JointQK):
            abar = received_attention(q.q, q.k, self.chunk_size, self.query_stride, q.video, q.key_mask)
        elif k is None:
            raise TypeError("record_attention needs k with q")
        else:
            abar = received_attention(q, k, self.chunk_size, self.query_stride, group=self.group)
        index = (abar.shape[0] // 2 if self.branch == "cond" else 0) if self.batched_cfg else 0
        self.abar[(block, ctx.step)] = abar[index].cpu()

    def record_output(self, name: str, step: int, output: torch.Tensor) -> None:
        if self.batched_cfg:
            half = output.shape[0] // 2
            self._branch_outputs = {"uncond": output[:1].detach().float(),
                                    "cond": output[half:half + 1].detach().float()}
            name = "uncond"
        else:
            self._branch_outputs[name] = output[:1].detach().float()
        if self.guidance is not None and name != "uncond":
            return
        if self.guidance is None:
            pred = self._branch_outputs[name]
        else:
            cond, uncond = self._branch_outputs["cond"], self._branch_outputs["uncond"]
            pred = uncond + self.guidance * (cond - uncond)
        self._branch_outputs = {}
        pred = pred[0]
        if self._prev_pred is not None:
            diff = (pred - self._prev_pred).abs().mean()
            self.l1[step] = float(diff)
            self.rel_l1[step] = float(diff / self._prev_pred.abs().mean().clamp_min(1e-12))
        self._prev_pred = pred
        if step in self.keep_prediction_steps:
            self.kept_predictions[step] = pred.cpu()  # as the transformer lays it out (``prediction_layout``)


class _CaptureProcessor:
    """Wraps a block's self-attention processor: records ā on profiled calls, output unchanged."""

    def __init__(self, inner, qk_fn, recorder: AttentionRecorder, block: int):
        self.inner = inner
        self.qk_fn = qk_fn
        self.recorder = recorder
        self.block = block

    def __getattr__(self, name):  # keep attributes diffusers reads from processors (backend, etc.)
        return getattr(self.inner, name)

    def __call__(self, attn, *args, **kwargs):
        if self.recorder.recording():
            with torch.no_grad():
                qk = self.qk_fn(attn, *args, **kwargs)
                if isinstance(qk, JointQK):
                    self.recorder.record_attention(self.block, qk)
                else:
                    self.recorder.record_attention(self.block, *qk)
        return self.inner(attn, *args, **kwargs)


class _ProfilerTransformerHook(ModelHook):
    """Reads the pipeline's cache context (branch, step) and records each call's output."""

    _is_stateful = True

    def __init__(self, recorder: AttentionRecorder):
        super().__init__()
        self.recorder = recorder
        self.state_manager = StateManager(ContextState)  # type: ignore[arg-type]  # diffusers takes the class
        self._calls: dict[str, int] = {}  # per context name, for pipelines that give no step index

    def pre_forward(self, module, *args, **kwargs):
        ctx = CallContext.from_manager(self.state_manager)
        if ctx is not None and ctx.name not in GUIDANCE_BRANCHES:
            ctx = None  # a further guidance call (LTX-2's STG and modality calls): the profile reads the CFG branches
        if ctx is not None and ctx.step is None:  # pipelines that give no step index (CogVideoX): count calls
            ctx = CallContext(ctx.name, self._calls.get(ctx.name, 0))
        self.recorder.context = ctx
        if self.recorder.staleness is not None:
            self.recorder.staleness.context = ctx
        return args, kwargs

    def post_forward(self, module, output):
        ctx = self.recorder.context
        sample = output[0] if isinstance(output, tuple) else output.sample
        if ctx is not None and ctx.step is not None:  # pre_forward gave every call a step
            self.recorder.record_output(ctx.name, ctx.step, sample)
            self._calls[ctx.name] = self._calls.get(ctx.name, 0) + 1
            if self.recorder.staleness is not None:
                self.recorder.staleness.call_done(ctx.name, ctx.step)
        self.recorder.context = None
        if self.recorder.staleness is not None:
            self.recorder.staleness.context = None
        return output

    def reset_state(self, module):
        self.state_manager.reset()
        return module


_PROFILER_HOOK = "pdit_profiler"


class attention_capture:
    """Context manager: install capture processors on every block's self-attention, and the hook.

    On exit the original processors and hooks are restored, so the model is exactly as before.
    """

    def __init__(self, transformer, arch, recorder: AttentionRecorder, block_offset: int = 0):
        self.transformer = transformer
        self.arch = arch
        self.recorder = recorder
        self.block_offset = block_offset  # a second expert's blocks are numbered after the first's
        self._originals: list[tuple] = []

    def __enter__(self):
        for i, block in enumerate(self.arch.blocks(self.transformer)):
            attn = getattr(block, self.arch.self_attention)
            self._originals.append((attn, attn.processor))
            attn.set_processor(_CaptureProcessor(attn.processor, self.arch.self_attention_qk, self.recorder,
                                                 self.block_offset + i))
        registry = HookRegistry.check_if_exists_or_initialize(self.transformer)
        registry.register_hook(_ProfilerTransformerHook(self.recorder), _PROFILER_HOOK)
        return self.recorder

    def __exit__(self, *exc):
        HookRegistry.check_if_exists_or_initialize(self.transformer).remove_hook(_PROFILER_HOOK, recurse=False)
        for attn, proc in self._originals:
            attn.set_processor(proc)
        self._originals = []
        return False
