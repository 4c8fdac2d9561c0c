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
import itertools
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._progress import Counter, count_progress
from .._validate import check_int
from ..errors import InvalidSettingError, PditError
from ..metrics import lpips_scorer, motion_ratio, psnr, ssim, temporal_error
from ..models.wan import EMBEDDED_DEFAULTS
from ..pipeline.generation import GenerationSettings, generate
from ..pipeline.loading import LoadedModel, as_model
from .lead import OURS_VARIANTS, compare_with_peers
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


@dataclass(frozen=True, slots=True)
class Job:
    """One piece of a bench, in the order it runs: the warm-up, a method's calibration (once, before its first
    run), or one timed repeat of a method's setting on a prompt and seed. ``plan_jobs`` lists them all before
    anything runs; each moves the progress counter once, whatever its outcome."""

    kind: str  # "warm-up", "calibration" or "run"
    method: str = ""
    setting: int = 0  # index into the method's settings
    prompt: str = ""
    seed: int = 0
    repeat: int = 0
    case: int = 0  # which prompt × seed, counted from 0 (a prompt given twice is two cases)


def plan_jobs(bs: BenchSettings) -> list[Job]:
    """Every job of a bench, in order: the warm-up, then for each prompt × seed every method (the baseline first),
    each setting, each repeat; a method that calibrates does so before its first run."""
    jobs, calibrating = [Job("warm-up")], set()
    for case, (prompt, seed) in enumerate(itertools.product(bs.prompts, bs.seeds)):
        for name in bs.methods:
            method = METHODS[name]
            if method.calibrate is not None and name not in calibrating:
                calibrating.add(name)
                jobs.append(Job("calibration", name, prompt=prompt, seed=seed, case=case))
            jobs += [Job("run", name, s, prompt, seed, r, case)
                     for s in range(len(method.settings(bs.sweep))) for r in range(bs.repeats)]
    return jobs


def plan_runs(bs: BenchSettings) -> int:
    """How many jobs a bench takes (``plan_jobs``: the warm-up, calibrations, timed runs): its progress total."""
    return len(plan_jobs(bs))


RESULT_CONTENTS = "results.json, results.md and pareto.png"


def check_bench_folder(folder: str | Path, overwrite: bool = False) -> Path:
    """The folder a bench's results go to, checked before any work: not empty, a folder that can be created and
    written (tried, then undone), and holding no results unless ``overwrite``. Raises ``OutputPathError``."""
    from .._io import check_output_folder
    from .report import check_results_folder

    return check_results_folder(check_output_folder(folder, RESULT_CONTENTS), overwrite)


def run_bench(model, profile, bs: BenchSettings, judge: Judge | None = None,
              on_progress: Callable[[int, int, str], None] | None = None, *, out: str | Path | None = None,
              overwrite: bool = False) -> dict:
    """Run every method × setting × prompt × seed; return the results dict (see ``report.to_markdown``).

    Args:
        model: a ``LoadedModel`` or a pipeline.
        profile: a ``Profile`` (or path) for ProfilingDiT and its ablations; ``None`` marks them not applicable.
        bs: what to run.
        judge: optional ``judge(frames, prompt) -> bool | None``, reported as the judge column.
        on_progress: ``on_progress(done, total, what)`` after every job (``plan_jobs``; ``total``: how many).
        out: a folder to write results.json, results.md and pareto.png into as well (checked before any work).
        overwrite: replace results already in ``out``.
    """
    from ..profile.file import as_profile
    from .report import write_results

    folder = check_bench_folder(out, overwrite) if out is not None else None
    model = as_model(model)
    profile = as_profile(profile) if profile is not None else None
    for p in bs.prompts:
        bs.generation(p, bs.seeds[0]).check_for(model.arch)  # every prompt and size before anything runs
    lpips, lpips_status = lpips_scorer(bs.lpips_weights, device=str(model.device))
    jobs = plan_jobs(bs)
    with count_progress(on_progress, len(jobs), "Benchmarking", show=False) as counter:
        bench = _Bench(model, profile, bs, counter, functools.partial(_scores, judge=judge, lpips=lpips))
        runs = [row for _, group in itertools.groupby(jobs, key=_group) for row in bench.run(list(group))]
    results = {
        "settings": asdict(bs),
        "runs": runs,
        "summary": summarize(runs),
        "not_applicable": bench.not_applicable,
        "calibration": {k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.calibration.items()}
                        for k, v in bench.contexts.items() if v.calibration},
        "lpips": lpips_status,
        "calibration_run": {"prompt": bench.calibration.prompt, "seed": bench.calibration.seed},
        "calibration_generations": {k: METHODS[k].cost(v) for k, v in bench.contexts.items()},
    }
    results["lead"] = compare_with_peers(results)
    results["variant_leads"] = {name: compare_with_peers(results, ours=name) for name in OURS_VARIANTS
                                if name in bench.contexts}
    if folder is not None:
        write_results(results, folder, overwrite=overwrite)
    return results


def _group(job: Job) -> tuple:
    """Jobs that run together: the repeats of one setting on one case (a row of the results); else each alone."""
    return (job.kind, job.method, job.setting, job.case) + ((job.repeat,) if job.kind != "run" else ())


@dataclass(frozen=True)
class _Measured:
    """One setting's repeats on a case: median times and self-attention count, and the first repeat's frames."""

    transformer_s: float
    wall_s: float
    count: float
    frames: np.ndarray


class _Bench:
    """What a bench keeps from job to job: each method's context (with its calibration) or why it does not apply,
    and the current case's baseline (the first method of every case: the others are compared with it)."""

    def __init__(self, model: LoadedModel, profile, bs: BenchSettings, counter: Counter, scores: Callable):
        self.model, self.profile, self.bs, self.counter, self.scores = model, profile, bs, counter, scores
        first = bs.generation(bs.prompts[0], bs.seeds[0])
        # Peers that calibrate do it on the profiling prompt when there is a profile, as ours did (not on a scored
        # case)
        self.calibration = (replace(first, prompt=profile.run.prompts[0], seed=profile.run.seed)
                            if profile is not None else first)
        self.contexts: dict[str, RunContext] = {}
        self.not_applicable: dict[str, str] = {}
        self.base: _Measured | None = None

    def run(self, jobs: list[Job]) -> list[dict]:
        """Run one group of jobs (``_group``); the result rows it makes (one for a setting's repeats)."""
        job, bs = jobs[0], self.bs
        if job.kind == "warm-up":
            first = bs.generation(bs.prompts[0], bs.seeds[0])
            generate(self.model, GenerationSettings(prompt=first.prompts[0], steps=2, height=bs.height, width=bs.width,
                                                    frames=bs.frames, guidance=bs.guidance, image=bs.image))
            self.counter.tick("warm-up")
            return []
        gen = bs.generation(job.prompt, job.seed)
        ctx = RunContext(self.model, gen, self.profile, functools.partial(_calibration_run, self.model, gen))
        if job.method not in self.contexts and job.method not in self.not_applicable:
            self._prepare(job.method, ctx)
        if job.kind == "calibration":
            return []
        if job.method in self.not_applicable:
            for _ in jobs:
                self.counter.tick(f"{job.method}: not applicable")
            return []
        ctx.calibration = self.contexts[job.method].calibration
        return [self._row(job, ctx, gen, len(jobs))]

    def _prepare(self, name: str, ctx: RunContext) -> None:
        """Check, at its first case, that a method applies; calibrate it if it calibrates (a tick either way:
        ``plan_jobs`` counted its calibration)."""
        method = METHODS[name]
        try:
            if len(self.model.experts) > 1 and not method.multi_expert:
                raise NotApplicable(f"applies to one transformer; this pipeline has experts "
                                    f"{', '.join(self.model.experts)}")
            method.check(ctx)
            if method.calibrate is not None:
                cctx = RunContext(self.model, self.calibration, self.profile,
                                  lambda on_last: _calibration_run(self.model, self.calibration, on_last))
                method.calibrate(cctx)
                self.counter.tick(f"{name}: calibration")
                self.contexts[name] = cctx
            else:
                self.contexts[name] = ctx
        except NotApplicable as e:
            self.not_applicable[name] = str(e)
            if method.calibrate is not None:
                self.counter.tick(f"{name}: no calibration")

    def _row(self, job: Job, ctx: RunContext, gen: GenerationSettings, repeats: int) -> dict:
        """A setting's row on a case: its repeats measured against the baseline's, or why they did not run (the
        repeats a failure left out still move the counter, so that it reaches its total)."""
        name, prompt, seed = job.method, job.prompt, job.seed
        params = METHODS[name].settings(self.bs.sweep)[job.setting]
        row = {"method": name, "setting": label(params), "params": params, "prompt": prompt, "seed": seed}
        end = self.counter.done + repeats
        try:
            measured = self._measure(name, ctx, gen, params, repeats)
        except NotApplicable as e:
            row.update(status="not applicable", reason=str(e))
            return row
        except Exception as e:  # a peer that breaks is reported, never dropped
            why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            if name == "baseline":  # nothing can be compared with stock sampling that did not run
                raise BenchError(f"stock sampling failed on {prompt[:60]!r}, seed {seed} ({why}); the bench "
                                 "compares every method with it") from e
            row.update(status="failed", reason=why)
            return row
        finally:
            while self.counter.done < end:
                self.counter.tick(f"{name} {label(params)}: {row.get('status', 'stopped')}")
        if name == "baseline":
            self.base = measured
        assert self.base is not None  # the baseline runs first in every case (BenchSettings puts it there)
        row.update(status="ok", **self.scores(self.base, measured, prompt))
        return row

    def _measure(self, name: str, ctx: RunContext, gen: GenerationSettings, params: dict,
                 repeats: int) -> _Measured:
        """Run a setting ``repeats`` times, each with the self-attention evaluations counted (a tick after each)."""
        method = METHODS[name]
        times, walls, counts, frames = [], [], [], None
        for _ in range(repeats):
            method.apply(ctx, params)
            try:
                with count_self_attention(self.model) as counter:
                    result = generate(self.model, gen)
            finally:
                method.remove(ctx)
            times.append(result.timings.transformer_s)
            walls.append(result.timings.total_s)
            counts.append(counter[0])
            frames = result.frames if frames is None else frames
            self.counter.tick(f"{name} {label(params)}")
        assert frames is not None  # at least one repeat (BenchSettings)
        return _Measured(statistics.median(times), statistics.median(walls), statistics.median(counts), frames)


def _scores(base: _Measured, m: _Measured, prompt: str, judge: Judge | None, lpips) -> dict:
    """A setting's measures on a case against the baseline's: speed, computed share, and the frames' likeness."""
    ref, frames = base.frames, m.frames
    return dict(
        transformer_s=m.transformer_s, wall_s=m.wall_s,
        transformer_speedup=base.transformer_s / m.transformer_s, wall_speedup=base.wall_s / m.wall_s,
        computed_share=m.count / base.count if base.count else float("nan"),
        psnr=psnr(ref, frames), ssim=ssim(ref, frames),
        temporal_error=temporal_error(ref[0], frames[0]), motion_ratio=motion_ratio(ref[0], frames[0]),
        judge_passed=None if judge is None else judge(frames[0], prompt),
        lpips=None if lpips is None else lpips(ref, frames),
    )


def _calibration_run(model: LoadedModel, gen: GenerationSettings, on_last: Callable | None) -> None:
    def on_step(i, total):
        if i == total - 1 and on_last is not None:
            on_last()
    generate(model, gen, on_step=on_step)


