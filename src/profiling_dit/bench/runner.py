"""Caching methods side by side against stock sampling, in one run (``pdit bench``).

For every prompt × seed, the baseline (stock sampling) runs first; every method and setting then runs on
the same prompt and seed, and is compared with the baseline's frames: PSNR and SSIM (scikit-image), LPIPS
(when its weights are given), a temporal error and motion ratio (frame-to-frame changes against the
baseline's), the caller's judge (``judge``: e.g. the embedded model's, which checks colour, direction and
background against the prompt: quality against ground truth, not against the baseline), and speed (median
over repeats after a warm-up; transformer time and wall time; speedup). The *computed share* counts the
self-attention evaluations that really ran (a counting wrapper around each block's self-attention
processor) against the baseline's: a method whose share is 1 skipped nothing and is flagged, never
silently reported as a speed point.
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._validate import check_int
from ..errors import InvalidSettingError, PditError
from ..metrics import lpips_scorer, motion_ratio, psnr, ssim, temporal_error
from ..models.wan import EMBEDDED_DEFAULTS
from ..pipeline.generation import GenerationSettings, generate
from ..pipeline.loading import LoadedModel, as_model
from .lead import compare_with_peers
from .methods import DEFAULT_METHODS, METHODS, NotApplicable, RunContext, label
from .report import summarize


class BenchError(PditError):
    """A bench that cannot go on (stock sampling itself failed)."""


# judge(frames, prompt) -> True/False, or None when it cannot judge that prompt (quality against ground truth)
Judge = Callable[[np.ndarray, str], "bool | None"]


# a bench runs every method x setting x prompt x seed x repeat: more than these is a typo, not a plan
MAX_REPEATS = 100
MAX_PROMPTS = 1000


@dataclass(frozen=True)
class BenchSettings:
    prompts: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    methods: tuple[str, ...] = DEFAULT_METHODS
    sweep: bool = False
    repeats: int = 1
    steps: int = EMBEDDED_DEFAULTS["steps"]
    height: int = EMBEDDED_DEFAULTS["height"]
    width: int = EMBEDDED_DEFAULTS["width"]
    frames: int = EMBEDDED_DEFAULTS["frames"]
    guidance: float = EMBEDDED_DEFAULTS["guidance"]
    image: str | None = None  # first frame, for image-to-video models
    lpips_weights: str | None = None  # safetensors of torchmetrics' AlexNet LPIPS (else PDIT_LPIPS_WEIGHTS, else none)

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise InvalidSettingError(f"unknown method(s) {', '.join(unknown)} (`methods`); choose from "
                                      f"{', '.join(METHODS)}")
        if not self.prompts:
            raise InvalidSettingError("`prompts` is empty")
        if not self.seeds:
            raise InvalidSettingError("`seeds` is empty")
        for seed in self.seeds:
            check_int("seeds", seed, 0, 2**63 - 1)
        check_int("repeats", self.repeats, 1, MAX_REPEATS)
        if len(self.prompts) > MAX_PROMPTS:
            raise InvalidSettingError(f"`prompts` holds {len(self.prompts)} prompts; a bench runs every method on "
                                      f"each, so give at most {MAX_PROMPTS}")
        if self.lpips_weights is not None:
            path = Path(self.lpips_weights).expanduser()
            if not (path.is_file() and path.suffix == ".safetensors"):
                raise InvalidSettingError(f"`lpips_weights` {str(path)!r} must be an existing .safetensors file")
            from ..errors import ModelNotAvailableError
            from ..pipeline.folder import read_safetensors_header

            try:
                read_safetensors_header(path)
            except ModelNotAvailableError:
                raise InvalidSettingError(f"`lpips_weights` {str(path)!r} is not a safetensors file") from None
        # the baseline runs first: every other method is compared with its frames and times
        object.__setattr__(self, "methods", ("baseline", *[m for m in self.methods if m != "baseline"]))

    def generation(self, prompt: str, seed: int) -> GenerationSettings:
        return GenerationSettings(prompt=prompt, seed=seed, steps=self.steps, height=self.height, width=self.width,
                                  frames=self.frames, guidance=self.guidance, image=self.image)


class _CountingProcessor:
    def __init__(self, inner, counter: list):
        self.inner, self.counter = inner, counter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        self.counter[0] += 1
        return self.inner(*args, **kwargs)


class count_self_attention:
    """Count the self-attention evaluations that really run (installed before any caching method)."""

    def __init__(self, model: LoadedModel):
        self.model, self.counter = model, [0]
        self._orig: list[tuple[Any, Any]] = []  # (attention module, its processor)

    def __enter__(self):
        for name in self.model.experts:
            for block in self.model.arch.blocks(getattr(self.model.pipe, name)):
                attn = getattr(block, self.model.arch.self_attention)
                self._orig.append((attn, attn.processor))
                attn.set_processor(_CountingProcessor(attn.processor, self.counter))
        return self.counter

    def __exit__(self, *exc):
        for attn, proc in self._orig:
            attn.set_processor(proc)
        return False


MAX_PROMPTS_FILE_BYTES = 64 * 1024


def read_prompts(value: str) -> tuple[str, ...]:
    """A prompts file (one prompt a line, blank lines skipped), or else the prompt itself."""
    try:
        path = Path(value).expanduser()
        is_file, is_dir = path.is_file(), path.is_dir()
    except (OSError, ValueError):  # too long for a file name, a NUL byte, ...: a prompt
        return (value,)
    if is_dir:
        raise InvalidSettingError(f"`prompts` {str(path)!r} is a folder; give a text file (one prompt a line) or a "
                                  "prompt")
    if not is_file:
        return (value,)
    if path.stat().st_size > MAX_PROMPTS_FILE_BYTES:
        raise InvalidSettingError(f"`prompts` file {str(path)!r} is over {MAX_PROMPTS_FILE_BYTES // 1024} KB; a bench "
                                  "runs every prompt, so give a shorter list")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidSettingError(f"`prompts` {str(path)!r} cannot be read as a text file ({e})") from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not prompts:
        raise InvalidSettingError(f"`prompts` file {str(path)!r} holds no prompt")
    return prompts


def judge_for(source):
    """The judge of a model whose prompts have a ground truth (the embedded models': colour, direction and
    background against the prompt), or None. A model says so in its registry entry or its pdit_model.json."""
    from ..models import MODEL_ALIASES

    alias = MODEL_ALIASES.get(source.requested.lower())
    name = (alias.judge if alias is not None else None) or source.meta.get("judge")
    if name == "synthetic":
        from ..embedded.synthetic import prompt_judge

        return prompt_judge
    return None


def plan_runs(bs: BenchSettings) -> int:
    per_case = sum(len(METHODS[m].settings(bs.sweep)) * bs.repeats for m in bs.methods)
    calibrations = sum(1 for m in bs.methods if METHODS[m].calibrate is not None)
    return per_case * len(bs.prompts) * len(bs.seeds) + calibrations + 1


def run_bench(model, profile, bs: BenchSettings, judge: Judge | None = None,
              on_progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run every method × setting × prompt × seed; return the results dict (see ``report.to_markdown``).

    Args:
        model: a ``LoadedModel`` or a pipeline.
        profile: a ``Profile`` (or path) for ProfilingDiT and its ablations; ``None`` marks them not applicable.
        bs: what to run.
        judge: optional ``judge(frames, prompt) -> bool | None``, reported as the judge column.
        on_progress: ``on_progress(done, total, what)`` after every run.
    """
    from ..profile.file import as_profile

    model = as_model(model)
    profile = as_profile(profile) if profile is not None else None
    for p in bs.prompts:
        bs.generation(p, bs.seeds[0]).check_for(model.arch)  # every prompt and size before anything runs
    lpips, lpips_status = lpips_scorer(bs.lpips_weights, device=str(model.device))
    total = plan_runs(bs)
    done = [0]

    def tick(what: str):
        done[0] += 1
        if on_progress:
            on_progress(done[0], total, what)

    first = bs.generation(bs.prompts[0], bs.seeds[0])
    # Peers that calibrate do it on the profiling prompt when there is a profile, as ours did (not on a scored case)
    calibration = (replace(first, prompt=profile.run.prompts[0], seed=profile.run.seed)
                   if profile is not None else first)
    generate(model, GenerationSettings(prompt=first.prompts[0], steps=2, height=bs.height, width=bs.width,
                                       frames=bs.frames, guidance=bs.guidance, image=bs.image))  # warm-up
    tick("warm-up")
    calib_ctx: dict[str, RunContext] = {}
    not_applicable: dict[str, str] = {}
    runs: list[dict] = []

    for prompt in bs.prompts:
        for seed in bs.seeds:
            gen = bs.generation(prompt, seed)
            ref = None
            base_tr = base_wall = base_count = None
            for name in bs.methods:
                method = METHODS[name]
                ctx = RunContext(model, gen, profile, functools.partial(_calibration_run, model, gen))
                if name not in calib_ctx and name not in not_applicable:
                    try:
                        if len(model.experts) > 1 and not method.multi_expert:
                            raise NotApplicable(f"applies to one transformer; this pipeline has experts "
                                                f"{', '.join(model.experts)}")
                        method.check(ctx)
                        if method.calibrate is not None:
                            cctx = RunContext(model, calibration, profile,
                                              lambda on_last: _calibration_run(model, calibration, on_last))
                            method.calibrate(cctx)
                            tick(f"{name}: calibration")
                            calib_ctx[name] = cctx
                        else:
                            calib_ctx[name] = ctx
                    except NotApplicable as e:
                        not_applicable[name] = str(e)
                        if method.calibrate is not None:
                            tick(f"{name}: no calibration")  # plan_runs counted one
                if name in not_applicable:
                    for _ in range(len(method.settings(bs.sweep)) * bs.repeats):
                        tick(f"{name}: not applicable")
                    continue
                ctx.calibration = calib_ctx[name].calibration
                for params in method.settings(bs.sweep):
                    row = {"method": name, "setting": label(params), "params": params, "prompt": prompt, "seed": seed}
                    try:
                        times, walls, counts, frames = [], [], [], None
                        for _ in range(bs.repeats):
                            method.apply(ctx, params)
                            try:
                                with count_self_attention(model) as counter:
                                    result = generate(model, gen)
                            finally:
                                method.remove(ctx)
                            times.append(result.timings.transformer_s)
                            walls.append(result.timings.total_s)
                            counts.append(counter[0])
                            frames = result.frames if frames is None else frames
                            tick(f"{name} {label(params)}")
                    except NotApplicable as e:
                        row.update(status="not applicable", reason=str(e))
                        runs.append(row)
                        continue
                    except Exception as e:  # a peer that breaks is reported, never dropped
                        why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                        if name == "baseline":  # nothing can be compared with stock sampling that did not run
                            raise BenchError(f"stock sampling failed on {prompt[:60]!r}, seed {seed} ({why}); the "
                                             "bench compares every method with it") from e
                        row.update(status="failed", reason=why)
                        runs.append(row)
                        continue
                    tr, wall, count = statistics.median(times), statistics.median(walls), statistics.median(counts)
                    if name == "baseline":
                        ref, base_tr, base_wall, base_count = frames, tr, wall, count
                    # the baseline runs first (BenchSettings puts it there), and each method at least once
                    assert ref is not None and frames is not None and base_tr is not None and base_wall is not None
                    row.update(
                        status="ok", transformer_s=tr, wall_s=wall,
                        transformer_speedup=base_tr / tr, wall_speedup=base_wall / wall,
                        computed_share=count / base_count if base_count else float("nan"),
                        psnr=psnr(ref, frames), ssim=ssim(ref, frames),
                        temporal_error=temporal_error(ref[0], frames[0]), motion_ratio=motion_ratio(ref[0], frames[0]),
                        judge_passed=None if judge is None else judge(frames[0], prompt),
                        lpips=None if lpips is None else lpips(ref, frames),
                    )
                    runs.append(row)
    results = {
        "settings": asdict(bs),
        "runs": runs,
        "summary": summarize(runs),
        "not_applicable": not_applicable,
        "calibration": {k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.calibration.items()}
                        for k, v in calib_ctx.items() if v.calibration},
        "lpips": lpips_status,
        "calibration_run": {"prompt": calibration.prompt, "seed": calibration.seed},
    }
    results["lead"] = compare_with_peers(results)
    return results


def _calibration_run(model: LoadedModel, gen: GenerationSettings, on_last: Callable | None) -> None:
    def on_step(i, total):
        if i == total - 1 and on_last is not None:
            on_last()
    generate(model, gen, on_step=on_step)


