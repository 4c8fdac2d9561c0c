"""How to profile, validated before anything heavy loads (no torch, no diffusers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from .._validate import MAX_STEPS, MAX_TOKENS, check_int, check_number
from ..errors import InvalidSettingError

# the fewest video tokens a profile measures attention from: fewer says nothing about a block
MIN_QUERIES = 16

if TYPE_CHECKING:
    from ..pipeline.loading import LoadedModel
    from ..pipeline.settings import GenerationSettings

DEFAULT_BACKGROUND_SHARE = 0.75
SetRanking = Literal["r_attn", "staleness"]
Branch = Literal["cond", "uncond"]
SET_RANKINGS: tuple[str, ...] = get_args(SetRanking)
BRANCHES: tuple[str, ...] = get_args(Branch)


@dataclass(frozen=True)
class ProfileSettings:
    """How to profile.

    Args:
        every: measure attention every K-th step only (step 0, K, 2K, …).
        chunk_size: queries per chunk when computing ā (peak extra memory grows with it).
        query_stride: use every s-th query only (for very long sequences).
        attn_threshold: κ; token j is high-attention when ā_j > κ/N.
        mask_step: which step's noise prediction is segmented (default: the last step).
        tau: split threshold on block scores (Eq. 7); or give ``background_share`` instead.
        background_share: target share of background blocks (used when ``tau`` is None; default 0.75).
        branch: which CFG branch's attention is measured ("cond").
        staleness: record what reusing a stale delta costs (``staleness.py``), the planner's input; a profile must
            hold it (schema version 2), so it stays True (the field is kept in the file's run settings).
        staleness_tokens: video tokens (a fixed random subset) the staleness is measured on.
        staleness_max_gap: the longest reuse, in steps, it is measured for (default: half the steps, at most 16).
        set_ranking: the order in which the planner's candidate sets grow (the first k blocks are its set of size
            k): ``r_attn`` (lowest R_attn first: the paper's background-first order) or ``staleness`` (each time
            the block that adds the least measured reuse error; see ``staleness.greedy_order``). The F/B split
            and the paper's schedule use R_attn either way.
        time_blocks: measure the share of transformer time spent in blocks (a 2-step stock run with a timer
            around every block), which turns a speedup target into a budget.
    """

    every: int = 1
    chunk_size: int = 1024
    query_stride: int = 1
    attn_threshold: float = 1.0
    mask_step: int | None = None
    tau: float | None = None
    background_share: float | None = None
    branch: str = "cond"
    staleness: bool = True
    staleness_tokens: int = 1024
    staleness_max_gap: int | None = None
    set_ranking: str = "r_attn"
    time_blocks: bool = True

    def __post_init__(self):
        check_int("every", self.every, 1, MAX_STEPS)
        check_int("chunk_size", self.chunk_size, 1, MAX_TOKENS)
        check_int("query_stride", self.query_stride, 1, MAX_TOKENS)
        check_number("attn_threshold", self.attn_threshold, 0, lo_open=True)
        if self.mask_step is not None:
            check_int("mask_step", self.mask_step, 0, MAX_STEPS - 1)
        if self.tau is not None and self.background_share is not None:
            raise InvalidSettingError("give `tau` or `background_share`, not both")
        for name, v in (("tau", self.tau), ("background_share", self.background_share)):
            if v is not None:
                check_number(name, v, 0, 1)
        for name, choices in (("set_ranking", SET_RANKINGS), ("branch", BRANCHES)):
            if getattr(self, name) not in choices:
                raise InvalidSettingError(f"`{name}` must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        check_int("staleness_tokens", self.staleness_tokens, 1, MAX_TOKENS)
        if self.staleness_max_gap is not None:
            check_int("staleness_max_gap", self.staleness_max_gap, 1, MAX_STEPS)
        for name in ("staleness", "time_blocks"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidSettingError(f"`{name}` must be True or False, got {getattr(self, name)!r:.80}")
        if not self.staleness:  # refused before the run, not after it: the file would not load
            raise InvalidSettingError("`staleness` must be True: a profile holds its staleness table (the planner's "
                                      "input, required since schema version 2)")

    def max_gap(self, steps: int) -> int:
        return max(1, min(steps - 1, self.staleness_max_gap or min(16, max(2, steps // 2))))

    def check_for(self, gen: GenerationSettings) -> None:
        if gen.steps < 2:
            raise InvalidSettingError(f"`steps` must be at least 2 to profile (the L1 curve compares consecutive "
                                      f"steps), got {gen.steps}")
        if self.mask_step is not None and not 0 <= self.mask_step < gen.steps:
            raise InvalidSettingError(f"`mask_step` must be in [0, {gen.steps - 1}], got {self.mask_step}")
        if self.branch == "uncond" and not gen.uses_cfg:
            raise InvalidSettingError("`branch` 'uncond' needs guidance > 1")

    def check_for_source(self, source, gen: GenerationSettings) -> None:
        """``check_for``, and what the model's saved configs tell before loading: the query stride leaves enough
        queries to measure (``MIN_QUERIES`` of the video tokens)."""
        from ..pipeline.memory import token_grid

        self.check_for(gen)
        f, h, w = token_grid(source, gen)
        if self.query_stride > 1 and f * h * w // self.query_stride < MIN_QUERIES:
            raise InvalidSettingError(
                f"`query_stride` {self.query_stride} leaves {f * h * w // self.query_stride} of the {f * h * w} video "
                f"tokens to measure attention from; give at most {max(1, f * h * w // MIN_QUERIES)}")

    def check_for_model(self, model: LoadedModel, gen: GenerationSettings) -> None:
        self.check_for(gen)
        profiled = range(0, gen.steps, self.every)
        for name, (start, stop) in model.expert_step_ranges(gen.steps).items():
            if stop <= start:
                raise InvalidSettingError(f"`steps` {gen.steps} leaves {name} no step to run; profile with more steps")
            if not any(start <= s < stop for s in profiled):
                raise InvalidSettingError(f"`every` {self.every} measures no step of {name}, which runs steps {start} "
                                          f"to {stop - 1} of {gen.steps}; lower `every`")
        if self.branch == "uncond" and model.cfg_mode(gen) is None:
            raise InvalidSettingError(
                f"`branch` 'uncond' needs classifier-free guidance; {type(model.pipe).__name__} runs one branch here")
