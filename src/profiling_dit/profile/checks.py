"""What a profile's types cannot say, checked once msgspec has decoded it (``file.py`` holds the types): lists that
pair have matching lengths, named steps exist and increase, the split covers every block once, the experts' step
ranges cover the run once, a schema-version-2 profile holds its staleness table, calibrated plans are plans of
their transformer. A bad profile is refused in one line naming the field (``ProfileError``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import InvalidSettingError, ProfileError
from ..plan import Plan

# The types are file.py's, which calls these checks: this module imports none of it (imports run one way), so a
# profile and its block profiles are typed loosely here.
Profile = Any
BlockProfile = Any

Bad = Callable[[str, str], NoReturn]
NO_STALENESS = ("is null or absent, but a schema-version-2 profile holds its staleness table (the planner's input); "
                "profile the model again (`pdit profile`)")


def checked(profile: Profile, source: str, components: tuple[str, ...], required_versions: tuple[str, ...]
            ) -> Profile:
    """``profile`` once its fields agree with each other, its calibrated plans attached; else ``ProfileError``."""
    if profile.views is not None:  # a file's "views" is no field of it: ignored, as other unknown keys are
        object.__setattr__(profile, "views", None)

    def bad(where: str, what: str) -> NoReturn:
        raise ProfileError(f"{source}: field `{where}` {what}")

    _check_run(profile, required_versions, bad)
    if not profile.experts:
        _check_block_profile(profile, profile.model.num_blocks, (0, profile.run.steps), profile, "", bad)
    else:
        _check_experts(profile, components, bad)
    _attach_plans(profile, bad)
    return profile


def _check_run(p: Profile, required_versions: tuple[str, ...], bad: Bad) -> None:
    """The model, the run and the per-prompt fields: one entry per prompt, masks of the token grid's shape."""
    run, n = p.run, p.model.num_blocks
    prompts = len(run.prompts)
    if len(p.model.block_names) != n:
        bad("model.block_names", f"has {len(p.model.block_names)} names for {n} blocks")
    missing = [k for k in required_versions if k not in p.versions]
    if missing:
        bad("versions", f"does not name the version of {missing[0]}")
    _check_steps(run.profiled_steps, 0, run.steps, "run.profiled_steps", bad)
    if run.mask_step >= run.steps:
        bad("run.mask_step", f"is {run.mask_step}, beyond the {run.steps} steps")
    if run.settings.get("mask_step") not in (None, run.mask_step):
        bad("run.settings.mask_step", f"is {run.settings['mask_step']}, not run.mask_step ({run.mask_step})")
    for name in ("wall_s", "transformer_s"):
        values = getattr(run, name)
        if values and len(values) != prompts:
            bad(f"run.{name}", f"has {len(values)} values for {prompts} prompts")
    if any(t > g for t, g in zip(run.token_grid, run.latent_grid)):
        bad("run.token_grid", f"{list(run.token_grid)} is larger than the latent grid {list(run.latent_grid)}")
    for name, values in (("foreground_share", p.foreground_share), ("masks", p.masks),
                         ("l1.per_prompt", p.l1.per_prompt)):
        if len(values) != prompts:
            bad(name, f"has {len(values)} entries for {prompts} prompts")
    f, h, w = run.token_grid
    for i, mask in enumerate(p.masks):
        if len(mask) != f or any(len(plane) != h or any(len(row) != w for row in plane) for plane in mask):
            bad(f"masks[{i}]", f"is not a {f}x{h}x{w} grid (run.token_grid)")
    l1 = p.l1
    _check_steps(l1.steps, 1, run.steps, "l1.steps", bad)
    rows = (("l1.mean", l1.mean), ("l1.relative_mean", l1.relative_mean),
            *((f"l1.per_prompt[{i}]", row) for i, row in enumerate(l1.per_prompt)))
    for name, values in rows:
        if len(values) != len(l1.steps):
            bad(name, f"has {len(values)} values for the {len(l1.steps)} steps of l1.steps")


def _check_experts(p: Profile, components: tuple[str, ...], bad: Bad) -> None:
    """One block profile per expert, their step ranges covering the run once; the top level is the first's."""
    if sorted(e.component for e in p.experts) != list(components):
        bad("experts", "must hold one entry for transformer and one for transformer_2")
    ranges = sorted(e.step_range for e in p.experts)
    if ranges[0][0] != 0 or ranges[0][1] != ranges[1][0] or ranges[1][1] != p.run.steps:
        bad("experts", f"step ranges {[list(r) for r in ranges]} do not cover steps 0 to {p.run.steps - 1} once")
    for i, e in enumerate(p.experts):
        if e.step_range[1] <= e.step_range[0]:
            bad(f"experts[{i}].step_range", f"{list(e.step_range)} is empty")
        if e.block_names and len(e.block_names) != e.num_blocks:
            bad(f"experts[{i}].block_names", f"has {len(e.block_names)} names for {e.num_blocks} blocks")
        _check_block_profile(e, e.num_blocks, e.step_range, p, f"experts[{i}].", bad)
    i, first = min(enumerate(p.experts), key=lambda x: x[1].step_range[0])
    for name in (f.name for f in dataclasses.fields(p.blocks)):  # the block fields alone
        if getattr(p, name) != getattr(first, name):
            bad(name, f"differs from experts[{i}].{name}: a two-expert profile's top-level block fields are its "
                      "first expert's")


def _check_steps(steps, lo: int, hi: int, where: str, bad: Bad) -> None:
    if any(b <= a for a, b in zip(steps, steps[1:])):
        bad(where, f"must increase, got {_short(str(list(steps)))}")
    if steps and not (lo <= steps[0] and steps[-1] < hi):
        bad(where, f"names step {steps[0] if steps[0] < lo else steps[-1]}, outside steps {lo} to {hi - 1}")


def _check_block_profile(b: BlockProfile, n: int, step_range: tuple[int, int], p: Profile, prefix: str,
                         bad: Bad) -> None:
    """One block profile of ``n`` blocks over the steps [start, stop) of ``step_range``."""
    start, stop = step_range
    run = p.run
    if len(b.block_scores) != n:
        bad(f"{prefix}block_scores", f"has {len(b.block_scores)} scores for {n} blocks")
    r = b.r_attn
    _check_steps(r.steps, start, stop, f"{prefix}r_attn.steps", bad)
    if not set(r.steps) <= set(run.profiled_steps):
        bad(f"{prefix}r_attn.steps", "names a step that run.profiled_steps does not")
    if len(r.per_prompt) != len(run.prompts):
        bad(f"{prefix}r_attn.per_prompt", f"has {len(r.per_prompt)} matrices for {len(run.prompts)} prompts")
    matrices = (("r_attn.mean", r.mean), *((f"r_attn.per_prompt[{i}]", m) for i, m in enumerate(r.per_prompt)))
    for name, matrix in matrices:
        if len(matrix) != n or any(len(row) != len(r.steps) for row in matrix):
            bad(f"{prefix}{name}", f"must hold {n} rows (blocks) of {len(r.steps)} values (r_attn.steps)")
    split = b.split
    if sorted(split.foreground_blocks + split.background_blocks) != list(range(n)):
        bad(f"{prefix}split", f"must put each of the {n} blocks in exactly one of foreground_blocks and "
                              "background_blocks")
    if abs(split.background_share - len(split.background_blocks) / n) > 1e-9:
        bad(f"{prefix}split.background_share", f"is {split.background_share:g}, not the share of background_blocks "
                                               f"({len(split.background_blocks)} of {n})")
    s = b.schedule
    if s.interval_max < s.interval_min:
        bad(f"{prefix}schedule", f"has interval_max {s.interval_max} < interval_min {s.interval_min}")
    if s.warmup >= stop - start:
        bad(f"{prefix}schedule.warmup", f"is {s.warmup}, not shorter than the {stop - start} steps")
    if b.staleness is None and p.schema_version >= 2:
        bad(f"{prefix}staleness", NO_STALENESS)
    _check_staleness(b, n, stop - start, prefix, bad)


def _check_staleness(b: BlockProfile, n: int, steps: int, prefix: str, bad: Bad) -> None:
    """The staleness table (when there is one): every block once, the nested sets of sizes 1 to n, a row a step."""
    st = b.staleness
    if st is None:
        return
    if sorted(st.order) != list(range(n)):
        bad(f"{prefix}staleness.order", f"must list each of the {n} blocks once")
    if [x.size for x in st.sets] != list(range(1, n + 1)):
        bad(f"{prefix}staleness.sets", f"must hold the sets of sizes 1 to {n}, in order")
    for i, x in enumerate(st.sets):
        if len(x.error) != steps or any(len(row) != st.max_gap for row in x.error) or len(x.scale) != steps:
            bad(f"{prefix}staleness.sets[{i}]", f"must hold {steps} rows of {st.max_gap} errors (max_gap) and "
                                                f"{steps} scales, one per step")
    if st.sigmas is not None and len(st.sigmas) != steps + 1:
        bad(f"{prefix}staleness.sigmas", f"must hold {steps + 1} noise levels")


def _attach_plans(p: Profile, bad: Bad) -> None:
    """Each calibrated plan checked as a ``Plan`` of its component's block count, and attached to its entry."""
    blocks = {e.component: e.num_blocks for e in p.experts} or {"transformer": p.model.num_blocks}
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(p.plans):
        if entry.component not in blocks:
            bad(f"plans[{i}].component", f"is {entry.component!r}; the profile has {', '.join(blocks)}")
        try:
            plan = Plan(num_blocks=blocks[entry.component], steps=entry.steps, cached_blocks=entry.cached_blocks,
                        full_steps=entry.full_steps, predicted_error=entry.predicted_error,
                        origin=f"calibrated for budget {entry.budget:g}")
        except InvalidSettingError as e:
            named = re.match(r"`([^`]+)` (.*)", str(e))
            if named:
                bad(f"plans[{i}].{named[1]}", named[2])
            bad(f"plans[{i}]", str(e))
        if abs(plan.computed_share - entry.computed_share) > 1e-6:
            bad(f"plans[{i}].computed_share", f"is {entry.computed_share:g}; its cached blocks and full steps compute "
                                              f"{plan.computed_share:g}")
        if entry.computed_share > entry.budget + 1e-6:
            bad(f"plans[{i}].computed_share", f"{entry.computed_share:g} exceeds its budget {entry.budget:g}")
        key = (entry.component, entry.budget, entry.steps)
        if key in seen:
            bad(f"plans[{i}]", f"repeats plans[{seen[key]}] (the same component, budget and steps)")
        seen[key] = i
        object.__setattr__(entry, "_plan", plan)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
