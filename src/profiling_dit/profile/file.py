"""The profile: a typed object (``Profile``) saved as JSON with a schema version.

``Profile.load`` refuses, with one line naming the field, a file that is not JSON, is nested or sized
beyond reason, fails ``profile.schema.json`` (the one schema the docs describe and the tests check), or
fails the checks a schema cannot express (block counts agree, the split covers every block once, the
schedule fits the steps). ``Profile.check_fits`` refuses a profile made on another model.

A profile names its model by the reference the user gave (an alias, a Hub id, or a local folder's
*name*) plus the hash of its transformer config: it holds no path of the machine that made it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidSettingError, ProfileError
from ..plan import Plan

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
KIND = "profiling-dit-profile"
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")
MAX_PROFILE_BYTES = 256 * 1024 * 1024
# Config entries that do not change the computation (paths, versions) are left out of the hash.
_HASH_IGNORED = {"_name_or_path", "_diffusers_version", "_use_default_values", "_class_name"}


def config_hash(transformer_or_config) -> str:
    """Hash of a transformer's config (a loaded model, or the dict of its saved config.json)."""
    config = transformer_or_config if isinstance(transformer_or_config, dict) else transformer_or_config.config
    cfg = {k: v for k, v in dict(config).items() if k not in _HASH_IGNORED and not k.startswith("_")}
    blob = json.dumps(cfg, sort_keys=True, default=list).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def model_identity(transformer, arch) -> dict:
    return {
        "transformer_class": type(transformer).__name__,
        "num_blocks": len(arch.blocks(transformer)),
        "block_names": arch.block_names(transformer),
        "config_hash": config_hash(transformer),
    }


# --- the typed parts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelIdentity:
    """Which model a profile was made on: the reference as given (alias, Hub id or folder name), and what
    must match for the profile to apply (class, block count, config hash)."""

    requested: str
    transformer_class: str
    num_blocks: int
    block_names: tuple[str, ...]
    config_hash: str


@dataclass(frozen=True)
class Split:
    """The F/B block split (paper Eq. 7): blocks scoring >= tau are foreground, the rest background."""

    tau: float
    method: str
    background_share: float
    foreground_blocks: tuple[int, ...]
    background_blocks: tuple[int, ...]


@dataclass(frozen=True)
class Schedule:
    """Suggested step schedule (paper Eq. 15): warm-up s0, first gap T_max, last gap T_min."""

    warmup: int
    interval_max: int
    interval_min: int
    method: str = ""


@dataclass(frozen=True)
class RAttn:
    """R_attn (paper Eq. 6) per block (rows) and profiled step (columns): mean over prompts, and per prompt."""

    steps: tuple[int, ...]
    mean: list
    per_prompt: list


@dataclass(frozen=True)
class StalenessSet:
    """The error of reusing the deltas of one set of blocks (the ``size`` lowest-scoring ones): ``error[s][g-1]``
    for a reuse at step s + g of the deltas of step s (None: not measured), and ``scale[t]``, the size of the
    set's whole delta at step t."""

    size: int
    error: list
    scale: list


@dataclass(frozen=True)
class Staleness:
    """What reusing a stale delta costs, measured in the profiling run (``profile/staleness.py``): per nested
    set of blocks in ``order`` (``ranking``: ``r_attn``, lowest R_attn first, or ``staleness``, the greedy
    order by measured reuse error), over the steps the transformer runs."""

    proxy: str
    tokens: int
    max_gap: int
    order: tuple[int, ...]
    sets: tuple[StalenessSet, ...]
    sigmas: tuple[float, ...] | None = None
    ranking: str = "r_attn"

    def set_of(self, size: int) -> StalenessSet:
        return self.sets[size - 1]

    @classmethod
    def from_dict(cls, d: dict) -> "Staleness":
        return cls(d["proxy"], int(d["tokens"]), int(d["max_gap"]), tuple(int(b) for b in d["order"]),
                   tuple(StalenessSet(int(x["size"]), x["error"], x["scale"]) for x in d["sets"]),
                   tuple(d["sigmas"]) if d.get("sigmas") is not None else None, d.get("ranking", "r_attn"))


@dataclass(frozen=True)
class BlockProfile:
    """One transformer's block profile: R_attn, block scores, the split, the suggested schedule (the paper's)
    and, from schema version 2, the staleness table the planner uses."""

    r_attn: RAttn
    block_scores: tuple[float, ...]
    split: Split
    schedule: Schedule
    staleness: Staleness | None = None

    def to_dict(self) -> dict:
        d = {"r_attn": _plain(self.r_attn), "block_scores": list(self.block_scores),
             "split": _plain(self.split), "schedule": _plain(self.schedule)}
        if self.staleness is not None:
            d["staleness"] = _plain(self.staleness)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BlockProfile":
        return cls(r_attn=RAttn(tuple(d["r_attn"]["steps"]), d["r_attn"]["mean"], d["r_attn"]["per_prompt"]),
                   block_scores=tuple(float(x) for x in d["block_scores"]),
                   split=Split(float(d["split"]["tau"]), d["split"]["method"], float(d["split"]["background_share"]),
                               tuple(int(b) for b in d["split"]["foreground_blocks"]),
                               tuple(int(b) for b in d["split"]["background_blocks"])),
                   schedule=Schedule(int(d["schedule"]["warmup"]), int(d["schedule"]["interval_max"]),
                                     int(d["schedule"]["interval_min"]), d["schedule"].get("method", "")),
                   staleness=Staleness.from_dict(d["staleness"]) if d.get("staleness") is not None else None)


@dataclass(frozen=True)
class ExpertProfile:
    """A two-expert pipeline's (Wan2.2 A14B) block profile of one expert, over the steps it runs."""

    component: str
    transformer_class: str
    num_blocks: int
    block_names: tuple[str, ...]
    config_hash: str
    step_range: tuple[int, int]
    blocks: BlockProfile

    def to_dict(self) -> dict:
        return {"component": self.component, "transformer_class": self.transformer_class,
                "num_blocks": self.num_blocks, "block_names": list(self.block_names),
                "config_hash": self.config_hash, "step_range": list(self.step_range), **self.blocks.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "ExpertProfile":
        return cls(d["component"], d["transformer_class"], int(d["num_blocks"]),
                   tuple(d.get("block_names", ())), d["config_hash"],
                   (int(d["step_range"][0]), int(d["step_range"][1])), BlockProfile.from_dict(d))


@dataclass(frozen=True)
class RunInfo:
    """How the profiling run was made (prompts, size, steps, scheduler, settings, where and how long)."""

    prompts: tuple[str, ...]
    seed: int
    steps: int
    height: int
    width: int
    frames: int
    guidance: float
    scheduler: dict
    latent_grid: tuple[int, int, int]
    token_grid: tuple[int, int, int]
    profiled_steps: tuple[int, ...]
    mask_step: int
    settings: dict
    negative_prompt: str = ""
    dtype: str = ""
    device: dict = field(default_factory=dict)
    wall_s: tuple[float, ...] = ()
    transformer_s: tuple[float, ...] = ()
    block_time_share: float | None = None


@dataclass(frozen=True)
class L1Curve:
    """L1 distance between consecutive noise predictions (paper Fig. 4), mean over prompts and per prompt."""

    steps: tuple[int, ...]
    mean: tuple[float, ...]
    relative_mean: tuple[float, ...]
    per_prompt: list


@dataclass(frozen=True)
class CalibratedPlan:
    """A plan refined with real generations on the profiling prompts for one budget (computed share), with the
    PSNR it reached against stock sampling and the generations it took. Saved flat: the plan's fields beside
    these."""

    component: str
    budget: float
    plan: Plan
    calibration_psnr_db: float | None = None
    generations: int = 0

    def to_dict(self) -> dict:
        return {"component": self.component, "budget": self.budget, "steps": self.plan.steps,
                "cached_blocks": list(self.plan.cached_blocks), "full_steps": list(self.plan.full_steps),
                "computed_share": self.plan.computed_share, "predicted_error": self.plan.predicted_error,
                "calibration_psnr_db": self.calibration_psnr_db, "generations": self.generations}

    @classmethod
    def from_dict(cls, d: dict, num_blocks: int) -> "CalibratedPlan":
        plan = Plan(num_blocks=num_blocks, steps=int(d["steps"]), cached_blocks=tuple(d["cached_blocks"]),
                    full_steps=tuple(d["full_steps"]), predicted_error=d.get("predicted_error"),
                    origin=f"calibrated for budget {float(d['budget']):g}")
        return cls(d["component"], float(d["budget"]), plan, d.get("calibration_psnr_db"), int(d.get("generations", 0)))


@dataclass(frozen=True)
class Profile:
    """A ProfilingDiT profile: which blocks attend to the foreground, and a suggested schedule.

    Make one with ``profiling_dit.profile_model``; ``save`` / ``load`` it; ``profiling_dit.make_plan(profile, ...)``
    turns it into a ``Plan`` and ``profiling_dit.apply(pipe, profile)`` installs plans on a pipeline.

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
        >>> profile.split.background_blocks
        (0, 2, 3, 4, 6, 7)
        >>> plan = pdit.make_plan(profile, steps=30, budget=0.4)   # 30 steps, 40% of the block evaluations
        ```
    """

    model: ModelIdentity
    run: RunInfo
    segmenter: dict
    blocks: BlockProfile
    foreground_share: tuple[float, ...]
    masks: list
    l1: L1Curve
    versions: dict
    created: str = ""
    pictures: dict = field(default_factory=dict)
    experts: tuple[ExpertProfile, ...] = ()
    plans: tuple[CalibratedPlan, ...] = ()
    schema_version: int = SCHEMA_VERSION
    # not saved: what the mask picture needs (PCA frames and the mask shown on them), when just measured
    views: dict | None = field(default=None, compare=False, repr=False)

    # -- convenient views of the first (or only) transformer's block profile --
    @property
    def split(self) -> Split:
        return self.blocks.split

    @property
    def schedule(self) -> Schedule:
        return self.blocks.schedule

    @property
    def block_scores(self) -> tuple[float, ...]:
        return self.blocks.block_scores

    @property
    def components(self) -> list[str]:
        """The pipeline components this profile has a block profile for."""
        return [e.component for e in self.experts] or ["transformer"]

    def expert(self, component: str) -> ExpertProfile:
        for e in self.experts:
            if e.component == component:
                return e
        raise ProfileError(f"the profile has no block profile for {component!r}; it has {', '.join(self.components)}")

    # -- dict / file round trip --
    def to_dict(self) -> dict:
        d = {
            "schema_version": self.schema_version,
            "kind": KIND,
            "created": self.created,
            "model": _plain(self.model),
            "run": _plain(self.run),
            "segmenter": dict(self.segmenter),
            "r_attn": _plain(self.blocks.r_attn),
            "block_scores": list(self.blocks.block_scores),
            "foreground_share": list(self.foreground_share),
            "masks": self.masks,
            "l1": _plain(self.l1),
            "split": _plain(self.blocks.split),
            "schedule": _plain(self.blocks.schedule),
            "versions": dict(self.versions),
            "pictures": dict(self.pictures),
        }
        if self.blocks.staleness is not None:
            d["staleness"] = _plain(self.blocks.staleness)
        if self.experts:
            d["experts"] = [e.to_dict() for e in self.experts]
        if self.plans:
            d["plans"] = [p.to_dict() for p in self.plans]
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = "profile") -> "Profile":
        """Validate (schema, then semantics) and build; ``ProfileError`` names the first bad field."""
        validate(data, source)
        m, r = data["model"], data["run"]
        profile = cls(
            model=ModelIdentity(m["requested"], m["transformer_class"], int(m["num_blocks"]),
                                tuple(m["block_names"]), m["config_hash"]),
            run=RunInfo(
                prompts=tuple(r["prompts"]), seed=int(r["seed"]), steps=int(r["steps"]), height=int(r["height"]),
                width=int(r["width"]), frames=int(r["frames"]), guidance=float(r["guidance"]),
                scheduler=r["scheduler"], latent_grid=tuple(int(x) for x in r["latent_grid"]),
                token_grid=tuple(int(x) for x in r["token_grid"]),
                profiled_steps=tuple(int(x) for x in r["profiled_steps"]), mask_step=int(r["mask_step"]),
                settings=r["settings"], negative_prompt=r.get("negative_prompt", ""), dtype=r.get("dtype", ""),
                device=r.get("device", {}), wall_s=tuple(r.get("wall_s", ())),
                transformer_s=tuple(r.get("transformer_s", ())), block_time_share=r.get("block_time_share")),
            segmenter=data["segmenter"],
            blocks=BlockProfile.from_dict(data),
            foreground_share=tuple(data["foreground_share"]),
            masks=data["masks"],
            l1=L1Curve(tuple(data["l1"]["steps"]), tuple(data["l1"]["mean"]), tuple(data["l1"]["relative_mean"]),
                       data["l1"]["per_prompt"]),
            versions=data["versions"],
            created=data["created"],
            pictures=data["pictures"],
            experts=tuple(ExpertProfile.from_dict(e) for e in data.get("experts", ())),
            plans=_calibrated_plans(data, source),
            schema_version=int(data["schema_version"]),
        )
        _check_semantics(profile, source)
        return profile

    @classmethod
    def load(cls, path: str | Path) -> "Profile":
        """Read and validate a profile file (JSON; nothing else is ever loaded from it)."""
        path = Path(path).expanduser()
        try:
            if not path.is_file():
                what = "is a folder" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
                raise ProfileError(f"profile {str(path)!r} {what}; make one with `profiling_dit.profile_model` "
                                   "(or `pdit profile`)")
            size = path.stat().st_size
        except OSError as e:
            raise ProfileError(f"cannot read profile {str(path)!r}: {e.strerror or e}") from None
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"profile {str(path)!r} is {size / 2**20:.0f} MiB; profiles are far smaller, "
                               "so this is not one")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ProfileError(f"cannot read profile {str(path)!r}: {e}") from None
        return cls.from_dict(parse_json(text, f"profile {str(path)!r}"), f"profile {str(path)!r}")

    def save(self, path: str | Path, pictures: bool = True) -> Path:
        """Write the profile JSON and, with ``pictures``, its pictures beside it (``STEM.heatmap.png``,
        ``STEM.l1.png`` and, for a profile just measured, ``STEM.masks.png``), as one set: all are written to a
        temporary folder first and moved into place together, the JSON last, so an interrupted save leaves
        the previous files as they were and the JSON never names a missing picture."""
        from .._io import atomic_set, remove_stale_sets

        path = Path(path).expanduser()
        remove_stale_sets(path.parent)
        profile = self
        with atomic_set(path.parent) as stage:
            if pictures:
                from .plots import write_profile_pictures

                written = write_profile_pictures(self, stage.folder / path.name)
                names = {k: stage(p.name).name for k, p in written.items()}
                profile = dataclasses.replace(self, pictures=names)
            with open(stage(path.name), "w", encoding="utf-8") as f:  # staged last: moved into place last
                f.write(json.dumps(profile.to_dict(), indent=1, allow_nan=False) + "\n")
        return path

    # -- fitting a model --
    def check_fits(self, model) -> None:
        """Refuse (``ProfileError``) a model whose transformer(s) differ from the profiled ones: class, block
        count or config hash. ``model``: a pipeline or ``LoadedModel``; or a ``ModelSource`` (from
        ``resolve_model``), checked from its saved config before any weights load."""
        from ..pipeline.loading import LoadedModel, ModelSource, as_model

        if isinstance(model, ModelSource):
            want = identity_from_source(model)
            _compare(want, _plain(self.model), "the profile", "the model's")
            return
        model = as_model(model) if not isinstance(model, LoadedModel) else model
        experts = model.experts
        if len(experts) > 1 or self.experts:
            have = {e.component: e for e in self.experts}
            if set(have) != set(experts):
                raise ProfileError(
                    f"the profile was made for another model: it has block profiles for "
                    f"{', '.join(have) or 'one transformer'}, the model runs {', '.join(experts)}; profile this model "
                    "(`profiling_dit.profile_model`, or `pdit profile`)")
            for name in experts:
                want = model_identity(getattr(model.pipe, name), model.arch)
                _compare(want, _plain(have[name]), f"the profile's block profile for {name}", "the loaded one's")
            return
        want = model_identity(model.pipe.transformer, model.arch)
        _compare(want, _plain(self.model), "the profile", "the loaded model's")


# --- validation -------------------------------------------------------------------------------------
def parse_json(text: str, source: str) -> Any:
    """JSON to Python, refusing NaN/Infinity, integers of over 4,300 digits and absurd nesting, in one line."""
    def _reject_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ProfileError(f"{source} is nested too deeply to be a profile") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"{source} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except ValueError as e:
        raise ProfileError(f"{source} is not a valid profile: {str(e).splitlines()[0][:150]}") from None


@functools.lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def validate(data: Any, source: str = "profile") -> None:
    """Check ``data`` against ``profile.schema.json`` (kind and schema version first, with their own message)."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ProfileError(f"{source} is not a ProfilingDiT profile (no \"kind\": {KIND!r})")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ProfileError(f"{source} has schema version {version!r:.40}; this profiling-dit reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))}: profile the model again with this version")
    where = _first_non_finite(data)
    if where is not None:
        raise ProfileError(f"{source}: {_json_path(where)} is not a finite number")
    try:
        errors = sorted(_validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    except RecursionError:
        raise ProfileError(f"{source} is nested too deeply to be a profile") from None
    if errors:
        e = errors[0]
        where = _json_path(e.absolute_path)
        raise ProfileError(f"{source}: {where} {_short(e.message)}")


def _first_non_finite(node, path=(), depth=0):
    """The path of the first NaN or infinity in a parsed JSON document (a schema's ``number`` admits them)."""
    if isinstance(node, float):
        return None if math.isfinite(node) else path
    if depth > 64:  # deeper than any profile; the schema refuses it
        return None
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = _first_non_finite(value, (*path, key), depth + 1)
        if found is not None:
            return found
    return None


def _json_path(path) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"field `{parts.lstrip('.')}`" if parts else "the top level"


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit] + "…"


def _check_semantics(p: Profile, source: str) -> None:
    def bad(where: str, what: str):
        raise ProfileError(f"{source}: field `{where}` {what}")

    n = p.model.num_blocks
    if len(p.model.block_names) != n:
        bad("model.block_names", f"has {len(p.model.block_names)} names for {n} blocks")
    top_run = p.run
    if p.experts:  # the top-level block profile is the first expert's, over its steps
        first = min(p.experts, key=lambda e: e.step_range[0])
        top_run = dataclasses.replace(p.run, steps=first.step_range[1] - first.step_range[0])
    _check_block_profile(p.blocks, n, top_run, "", bad)
    run = p.run
    if len(run.prompts) != len(p.foreground_share) or len(run.prompts) != len(p.masks):
        bad("masks", f"has {len(p.masks)} entries for {len(run.prompts)} prompts")
    if run.mask_step >= run.steps:
        bad("run.mask_step", f"is {run.mask_step}, beyond the {run.steps} steps")
    if any(s >= run.steps for s in run.profiled_steps):
        bad("run.profiled_steps", f"has steps beyond the {run.steps} steps")
    if not (len(p.l1.steps) == len(p.l1.mean) == len(p.l1.relative_mean)):
        bad("l1", "has lists of different lengths")
    if any(s >= run.steps for s in p.l1.steps):
        bad("l1.steps", f"has steps beyond the {run.steps} steps")
    for name, values in (("l1.mean", p.l1.mean), ("l1.relative_mean", p.l1.relative_mean)):
        if not all(math.isfinite(v) for v in values):
            bad(name, "holds a value that is not finite")
    if p.experts:
        if sorted(e.component for e in p.experts) != ["transformer", "transformer_2"]:
            bad("experts", "must hold one entry for transformer and one for transformer_2")
        ranges = sorted(e.step_range for e in p.experts)
        if ranges[0][0] != 0 or ranges[0][1] != ranges[1][0] or ranges[1][1] != run.steps:
            bad("experts", f"step ranges {ranges} do not cover steps 0..{run.steps - 1} once")
        for i, e in enumerate(p.experts):
            if e.step_range[1] <= e.step_range[0]:
                bad(f"experts[{i}].step_range", f"{list(e.step_range)} is empty")
            if e.block_names and len(e.block_names) != e.num_blocks:
                bad(f"experts[{i}].block_names", f"has {len(e.block_names)} names for {e.num_blocks} blocks")
            sub = dataclasses.replace(run, steps=e.step_range[1] - e.step_range[0])
            _check_block_profile(e.blocks, e.num_blocks, sub, f"experts[{i}].", bad)


def _calibrated_plans(data: dict, source: str) -> tuple[CalibratedPlan, ...]:
    """The profile's calibrated plans, each checked as a ``Plan`` of its component's block count."""
    blocks = {e["component"]: int(e["num_blocks"]) for e in data.get("experts", ())} or \
        {"transformer": int(data["model"]["num_blocks"])}
    out = []
    for i, x in enumerate(data.get("plans", ())):
        if x["component"] not in blocks:
            raise ProfileError(f"{source}: field `plans[{i}].component` is {x['component']!r}; the profile has "
                               f"{', '.join(blocks)}")
        try:
            out.append(CalibratedPlan.from_dict(x, blocks[x["component"]]))
        except InvalidSettingError as e:
            raise ProfileError(f"{source}: field `plans[{i}]`: {e}") from None
    return tuple(out)


def _check_block_profile(b: BlockProfile, n: int, run: RunInfo, prefix: str, bad) -> None:
    if len(b.block_scores) != n:
        bad(f"{prefix}block_scores", f"has {len(b.block_scores)} scores for {n} blocks")
    if len(b.r_attn.mean) != n:
        bad(f"{prefix}r_attn.mean", f"has {len(b.r_attn.mean)} rows for {n} blocks")
    if any(len(row) != len(b.r_attn.steps) for row in b.r_attn.mean):
        bad(f"{prefix}r_attn.mean", f"rows must have one value per profiled step ({len(b.r_attn.steps)})")
    blocks = sorted(b.split.foreground_blocks + b.split.background_blocks)
    if blocks != list(range(n)):
        bad(f"{prefix}split", f"must put each of the {n} blocks in exactly one of foreground_blocks and "
                              "background_blocks")
    if not math.isfinite(b.split.tau):
        bad(f"{prefix}split.tau", "is not finite")
    if b.staleness is not None:
        st = b.staleness
        if sorted(st.order) != list(range(n)):
            bad(f"{prefix}staleness.order", f"must list each of the {n} blocks once")
        if [x.size for x in st.sets] != list(range(1, n + 1)):
            bad(f"{prefix}staleness.sets", f"must hold the sets of sizes 1 to {n}, in order")
        for i, x in enumerate(st.sets):
            if len(x.error) != run.steps or any(len(row) != st.max_gap for row in x.error) or len(x.scale) != run.steps:
                bad(f"{prefix}staleness.sets[{i}]", f"must hold {run.steps} rows of {st.max_gap} errors and "
                                                    f"{run.steps} scales")
        if st.sigmas is not None and len(st.sigmas) != run.steps + 1:
            bad(f"{prefix}staleness.sigmas", f"must hold {run.steps + 1} noise levels")
    s = b.schedule
    if s.interval_max < s.interval_min:
        bad(f"{prefix}schedule", f"has interval_max {s.interval_max} < interval_min {s.interval_min}")
    if s.warmup >= run.steps:
        bad(f"{prefix}schedule.warmup", f"is {s.warmup}, not shorter than the {run.steps} steps")


# --- fitting a model ----------------------------------------------------------------------------------
def identity_from_source(source) -> dict:
    """The same identity as ``model_identity``, from a resolved model's saved config (no weights)."""
    ident = {"transformer_class": source.transformer_class, "config_hash": config_hash(source.transformer_config)}
    if source.arch.num_blocks_from_config is not None:
        ident["num_blocks"] = source.arch.num_blocks_from_config(source.transformer_config)
    return ident


def _compare(want: dict, have: dict, what: str, theirs: str) -> None:
    for key, label in (("transformer_class", "transformer class"), ("num_blocks", "block count"),
                       ("config_hash", "config hash")):
        if key in want and have.get(key) != want[key]:
            raise ProfileError(
                f"{what} was made for another model: its {label} is {have.get(key)!r}, {theirs} is "
                f"{want[key]!r}; profile this model (`profiling_dit.profile_model`, or `pdit profile`)")


def finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _plain(obj) -> Any:
    """Dataclass → JSON-ready dict (tuples as lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "views"}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def shipped_profile(name: str = "tiny") -> Path:
    """The path of a profile shipped inside the package (``"tiny"``, ``"tiny-deep"``: the embedded models')."""
    folder = Path(__file__).resolve().parent.parent / "assets" / "profiles"
    files = {"tiny": folder / "tiny-wan.json", "tiny-deep": folder / "tiny-wan-deep.json"}
    if name not in files:
        raise ProfileError(f"no shipped profile named {name!r}; shipped: {', '.join(files)}")
    return files[name]


def as_profile(profile) -> Profile:
    """A ``Profile`` from a ``Profile`` (as it is), a path (loaded) or a dict (validated)."""
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, (str, Path)):
        return Profile.load(profile)
    if isinstance(profile, dict):
        return Profile.from_dict(profile)
    raise ProfileError(f"expected a Profile, a profile path or a profile dict, got {type(profile).__name__}")


def load_profile(path: str | Path) -> Profile:
    """``Profile.load(path)``."""
    return Profile.load(path)
