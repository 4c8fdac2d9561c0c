"""ProfilingDiT and the paper's ablations (Table 3: reuse the foreground blocks; Table 4: inverse and
average gap schedules), as bench adapters over ``profiling_dit.accelerate``."""

from __future__ import annotations

from .base import Method, NotApplicable


def _check(ctx):
    if ctx.profile is None:
        raise NotApplicable("needs a profile")


def _apply_factory(schedule: str, reuse: str):
    def apply(ctx, params):
        from ...accelerate.sampling import configs_for, install

        install(ctx.model, configs_for(ctx.model, ctx.profile, ctx.settings.steps, schedule=schedule, reuse=reuse,
                                       **params))
    return apply


def _remove(ctx):
    from ...accelerate.sampling import remove

    remove(ctx.model)


SWEEP = tuple({"background_share": s} for s in (0.5, 0.75, 0.9))

METHODS = (
    Method("profiling-dit", "profiling-dit", {}, SWEEP, _apply_factory("stepwise", "background"), _remove, _check,
           note="ours: background-block reuse, stepwise schedule", multi_expert=True),
    Method("profiling-dit-foreground", "profiling-dit", {}, SWEEP, _apply_factory("stepwise", "foreground"), _remove,
           _check, note="ablation (paper Table 3): reuse the foreground blocks instead", multi_expert=True),
    Method("profiling-dit-inverse", "profiling-dit", {}, SWEEP, _apply_factory("inverse", "background"), _remove,
           _check, note="ablation (paper Table 4): gaps grow from T_min to T_max", multi_expert=True),
    Method("profiling-dit-average", "profiling-dit", {}, SWEEP, _apply_factory("average", "background"), _remove,
           _check, note="ablation (paper Table 4): constant gap", multi_expert=True),
)
