"""The profile: a typed object (``Profile``) saved as JSON with a schema version.

The frozen dataclasses below are the profile's one definition: each field of the file, its type and its bounds
(``Annotated`` with ``msgspec.Meta``; every integer has a sane maximum) and, in the docstrings, what it means.
From them msgspec validates a file while decoding it, and ``profile/schema.py`` generates ``profile.schema.json``
(the documented schema, for readers and other tools; a test keeps it equal to what the classes generate). A file
the types refuse is one line naming the field in msgspec's words (``reading.py``); what a type cannot say is
checked once the file is decoded (``checks.py``: lists that pair have matching lengths, the split covers every
block once, named steps exist and increase, a schema-version-2 profile holds its staleness table, a calibrated plan
is a plan of its transformer). ``Profile.check_fits`` (``fitting.py``) refuses a profile made on another model.

A profile names its model by the reference the user gave (an alias, a Hub id, or a local folder's
*name*) plus the hash of its transformer config: it holds no path of the machine that made it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, get_args

from msgspec import Meta

from .._validate import MAX_BLOCKS, MAX_SIZE, MAX_STEPS, MAX_TOKENS
from ..errors import ProfileError
from ..plan import Plan
from . import reading
from .checks import checked
from .fitting import config_hash, model_identity  # noqa: F401 (measure.py imports them from here)
from .settings import Branch, SetRanking

SchemaVersion = Literal[1, 2]  # 2 adds `staleness` and `plans`
Kind = Literal["profiling-dit-profile"]
Component = Literal["transformer", "transformer_2"]
SCHEMA_VERSION = 2
READABLE_VERSIONS: tuple[int, ...] = get_args(SchemaVersion)
KIND: str = get_args(Kind)[0]
COMPONENTS: tuple[str, ...] = get_args(Component)
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")
REQUIRED_VERSIONS = ("profiling_dit", "torch", "diffusers")


# --- the values a profile holds, bounded ------------------------------------------------------------
StepCount = Annotated[int, Meta(ge=1, le=MAX_STEPS)]
Step = Annotated[int, Meta(ge=0, le=MAX_STEPS - 1)]  # a step index, from 0
BlockCount = Annotated[int, Meta(ge=1, le=MAX_BLOCKS)]
Block = Annotated[int, Meta(ge=0, le=MAX_BLOCKS - 1)]  # a block index, from 0
Size = Annotated[int, Meta(ge=1, le=MAX_SIZE)]  # pixels, frames, cells of a grid
TokenCount = Annotated[int, Meta(ge=1, le=MAX_TOKENS)]
Share = Annotated[float, Meta(ge=0, le=1)]
PositiveShare = Annotated[float, Meta(gt=0, le=1)]
NonNegative = Annotated[float, Meta(ge=0)]
Name = Annotated[str, Meta(max_length=200)]
ConfigHash = Annotated[str, Meta(pattern=r"^sha256:[0-9a-f]{16}$")]
FileName = Annotated[str, Meta(pattern=r"^(?!\.\.?$)[^/\\]{1,255}$", description="a file name beside the profile")]
Steps = Annotated[tuple[Step, ...], Meta(min_length=1)]
Matrix = Annotated[list[Annotated[list[Share], Meta(min_length=1)]],
                   Meta(min_length=1, description="blocks x profiled steps")]
Mask = Annotated[list[Annotated[list[Annotated[list[Literal[0, 1]], Meta(min_length=1)]], Meta(min_length=1)]],
                 Meta(min_length=1, description="the foreground mask on the token grid, frames x height x width")]


# --- the typed parts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelIdentity:
    """Which model a profile was made on: the reference as given (alias, Hub id or folder name, never a path), and
    what must match for the profile to apply (class, block count, config hash). Files of pdit 0.1 also hold
    ``location``, an absolute path, ignored on load."""

    requested: Annotated[str, Meta(min_length=1, max_length=1000)]
    transformer_class: Name
    num_blocks: BlockCount
    block_names: tuple[Name, ...]
    config_hash: ConfigHash


class SegmenterInfo(TypedDict):
    """What made the foreground masks: ``pca-otsu`` (the fallback), ``sam2`` or ``user-masks``, with its details
    (checkpoint and config file names, or the masks file name)."""

    name: Literal["pca-otsu", "sam2", "user-masks"]
    detail: Annotated[str, Meta(max_length=2000)]


SchedulerInfo = TypedDict("SchedulerInfo", {"class": Name, "config": dict[str, Any]})
SchedulerInfo.__doc__ = "The scheduler of the profiling run: its class and config."


class _RunSettingsRequired(TypedDict):
    every: StepCount
    chunk_size: TokenCount
    query_stride: TokenCount
    attn_threshold: Annotated[float, Meta(gt=0)]
    branch: Branch


class RunSettings(_RunSettingsRequired, total=False):
    """The ``ProfileSettings`` of the run, as a dict (files of version 1 lack the later ones)."""

    mask_step: Step | None
    tau: Share | None
    background_share: Share | None
    staleness: bool
    staleness_tokens: TokenCount | None
    staleness_max_gap: StepCount | None
    set_ranking: SetRanking
    time_blocks: bool


@dataclass(frozen=True)
class RunInfo:
    """How the profiling run was made (prompts, size, steps, scheduler, settings, where and how long)."""

    prompts: Annotated[tuple[str, ...], Meta(min_length=1, max_length=10_000)]
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    steps: StepCount
    height: Size
    width: Size
    frames: Size
    guidance: Annotated[float, Meta(ge=0, le=100)]
    scheduler: SchedulerInfo
    latent_grid: tuple[Size, Size, Size]
    token_grid: tuple[Size, Size, Size]
    profiled_steps: Annotated[Steps, Meta(description="the steps whose attention was measured, increasing")]
    mask_step: Annotated[Step, Meta(description="the step whose noise prediction was segmented")]
    settings: RunSettings
    negative_prompt: str = ""
    dtype: Annotated[str, Meta(max_length=50)] = ""
    device: dict[str, Any] = field(default_factory=dict)
    wall_s: Annotated[tuple[NonNegative, ...], Meta(description="seconds per prompt")] = ()
    transformer_s: Annotated[tuple[NonNegative, ...], Meta(description="seconds in the transformer per prompt")] = ()
    block_time_share: Annotated[PositiveShare | None,
                                Meta(description="the share of transformer time spent in blocks (version 2)")] = None


@dataclass(frozen=True)
class Split:
    """The F/B block split (paper Eq. 7): blocks scoring >= tau (an R_attn, in [0, 1]) are foreground, the rest
    background."""

    tau: Share
    method: Literal["tau", "background_share"]
    background_share: Share
    foreground_blocks: tuple[Block, ...]
    background_blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Schedule:
    """Suggested step schedule (paper Eq. 15): warm-up s0, first gap T_max, last gap T_min."""

    warmup: Step
    interval_max: StepCount
    interval_min: StepCount
    method: Annotated[str, Meta(max_length=500)] = ""


@dataclass(frozen=True)
class RAttn:
    """R_attn (paper Eq. 6) per block (rows) and profiled step (columns): mean over prompts, and per prompt."""

    steps: Annotated[Steps, Meta(description="the profiled steps of these columns, increasing")]
    mean: Matrix
    per_prompt: Annotated[list[Matrix], Meta(min_length=1)]


@dataclass(frozen=True)
class StalenessSet:
    """The error of reusing the deltas of one set of blocks (the first ``size`` of the ranking): ``error[s][g-1]``
    for a reuse at step s + g of the deltas of step s (None: not measured), and ``scale[t]``, the size of the
    set's whole delta at step t."""

    size: BlockCount
    error: list[list[NonNegative | None]]
    scale: list[NonNegative | None]


@dataclass(frozen=True)
class Staleness:
    """What reusing a stale delta costs, measured in the profiling run (``profile/staleness.py``): per nested
    set of blocks in ``order`` (``ranking``: ``r_attn``, lowest R_attn first, or ``staleness``, the greedy
    order by measured reuse error), over the steps the transformer runs (version 2)."""

    proxy: Literal["guided-delta-l2"]
    tokens: TokenCount
    max_gap: StepCount
    order: tuple[Block, ...]
    sets: Annotated[tuple[StalenessSet, ...], Meta(min_length=1)]
    sigmas: Annotated[tuple[NonNegative, ...] | None, Meta(description="the scheduler's noise levels")] = None
    ranking: SetRanking = "r_attn"

    def set_of(self, size: int) -> StalenessSet:
        return self.sets[size - 1]


@dataclass(frozen=True)
class L1Curve:
    """L1 distance between consecutive noise predictions (paper Fig. 4) at each step from 1, mean over prompts
    (also relative to the previous prediction's size) and per prompt."""

    steps: Steps
    mean: tuple[NonNegative, ...]
    relative_mean: tuple[NonNegative, ...]
    per_prompt: Annotated[list[Annotated[list[NonNegative], Meta(min_length=1)]], Meta(min_length=1)]


@dataclass(frozen=True, kw_only=True)
class BlockProfile:
    """One transformer's block profile: R_attn, block scores, the split, the suggested schedule (the paper's)
    and, from schema version 2, the staleness table the planner uses."""

    r_attn: RAttn
    block_scores: Annotated[tuple[Share, ...], Meta(min_length=1)]
    split: Split
    schedule: Schedule
    staleness: Staleness | None = None

    @property
    def blocks(self) -> BlockProfile:
        """These block fields alone (of a two-expert profile's top level: the first expert's)."""
        if type(self) is BlockProfile:
            return self
        return BlockProfile(**{f.name: getattr(self, f.name) for f in dataclasses.fields(BlockProfile)})

    def to_dict(self) -> dict:
        return _plain(self)


@dataclass(frozen=True, kw_only=True)
class ExpertProfile(BlockProfile):
    """A two-expert pipeline's (Wan2.2 A14B) block profile of one expert, over the steps [start, stop) it runs:
    its own steps count from ``start``, its R_attn columns are the profiled steps in the range."""

    component: Component
    transformer_class: Name
    num_blocks: BlockCount
    config_hash: ConfigHash
    step_range: tuple[Step, StepCount]
    block_names: tuple[Name, ...] = ()


@dataclass(frozen=True, init=False)
class CalibratedPlan:
    """A plan refined with real generations on the profiling prompts for one budget (computed share), with the
    PSNR it reached against stock sampling (a mean over ``calibration_prompts`` prompts, at ``calibration_size``)
    and the generations it took. Saved flat: the plan's fields beside
    these. ``plan`` is that ``Plan``, for its transformer's block count (attached when the profile is read)."""

    component: Component
    budget: PositiveShare
    steps: StepCount
    cached_blocks: Annotated[tuple[Block, ...], Meta(min_length=1)]
    full_steps: Annotated[tuple[Step, ...], Meta(min_length=1)]
    computed_share: Share
    predicted_error: NonNegative | None = None
    calibration_psnr_db: float | None = None
    generations: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    calibration_prompts: Annotated[int, Meta(ge=1, le=1000, description="prompts the PSNR is a mean over")] = 1
    calibration_size: Annotated[tuple[Size, Size, Size] | None, Meta(
        description="[frames, height, width] of the calibration generations; null: the profiled size")] = None
    segment_generations: Annotated[int, Meta(ge=0, le=1_000_000, description=(
        "generations the calibration's segment search took, shared by all its budgets (0: none)"))] = 0

    def __init__(self, component: str, budget: float, plan: Plan, calibration_psnr_db: float | None = None,
                 generations: int = 0, calibration_prompts: int = 1,
                 calibration_size: tuple[int, int, int] | None = None, segment_generations: int = 0):
        values = {"component": component, "budget": budget, "steps": plan.steps, "cached_blocks": plan.cached_blocks,
                  "full_steps": plan.full_steps, "computed_share": plan.computed_share,
                  "predicted_error": plan.predicted_error, "calibration_psnr_db": calibration_psnr_db,
                  "generations": generations, "calibration_prompts": calibration_prompts,
                  "calibration_size": None if calibration_size is None else tuple(calibration_size),
                  "segment_generations": segment_generations}
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_plan", plan)

    @property
    def plan(self) -> Plan:
        plan = self.__dict__.get("_plan")
        if plan is None:
            raise ProfileError("this calibrated plan was not read as part of a profile, so it has no block count")
        return plan


@dataclass(frozen=True, kw_only=True)
class Profile(BlockProfile):
    """A ProfilingDiT profile: which blocks attend to the foreground, and a suggested schedule.

    Make one with ``profiling_dit.profile_model``; ``save`` / ``load`` it; ``profiling_dit.make_plan(profile, ...)``
    turns it into a ``Plan`` and ``profiling_dit.apply(pipe, profile)`` installs plans on a pipeline. Its block
    fields (``r_attn``, ``block_scores``, ``split``, ``schedule``, ``staleness``; together ``blocks``) are the
    transformer's, for a two-expert pipeline the first expert's; ``experts`` then holds both.

    Example:
        ```python
        >>> import profiling_dit as pdit
        >>> profile = pdit.Profile.load(pdit.shipped_profile("tiny"))
        >>> profile.split.background_blocks
        (0, 2, 3, 4, 6, 7)
        >>> plan = pdit.make_plan(profile, steps=30, budget=0.4)   # 30 steps, 40% of the block evaluations
        ```
    """

    schema_version: Annotated[SchemaVersion, Meta(description="2 adds `staleness` and `plans`")]
    kind: Kind
    created: Annotated[str, Meta(max_length=100)]
    model: ModelIdentity
    run: RunInfo
    segmenter: SegmenterInfo
    foreground_share: Annotated[tuple[Share, ...], Meta(description="per prompt")]
    masks: Annotated[list[Mask], Meta(min_length=1, description="per prompt")]
    l1: L1Curve
    versions: Annotated[dict[str, Name], Meta(extra_json_schema={"required": list(REQUIRED_VERSIONS)})]
    pictures: dict[str, FileName]
    experts: Annotated[tuple[ExpertProfile, ...], Meta(min_length=2, max_length=2)] = ()
    plans: tuple[CalibratedPlan, ...] = ()
    # not saved: what the mask picture needs (PCA frames and the mask shown on them), when just measured; left out of
    # the schema, and a file's "views" (of any type) is ignored as other unknown keys are
    views: Any = field(default=None, compare=False, repr=False)

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
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "profile") -> Profile:
        """Validate (types and bounds, then what pairs) and build; ``ProfileError`` names the first bad field."""
        return _checked(reading.convert(cls, data, source, KIND, READABLE_VERSIONS), source)

    @classmethod
    def from_json(cls, text: bytes | str, source: str = "profile") -> Profile:
        """``from_dict`` of a JSON document, decoded and validated in one pass."""
        return _checked(reading.decode(cls, text, source, KIND, READABLE_VERSIONS), source)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read and validate a profile file (JSON; nothing else is ever loaded from it)."""
        blob, source = reading.read_file(Path(path).expanduser())
        return cls.from_json(blob, source)

    def save(self, path: str | Path, pictures: bool = True, overwrite: bool = True) -> Path:
        """Write the profile JSON and, with ``pictures``, its pictures beside it (``STEM.heatmap.png``,
        ``STEM.l1.png`` and, for a profile just measured, ``STEM.masks.png``), as one set: all are written to a
        temporary folder first and moved into place together, the JSON last, so an interrupted save leaves
        the previous files as they were and the JSON never names a missing picture. Without ``overwrite`` a file
        that appeared meanwhile (another run saving to the same name) is left alone (``FileExistsError``)."""
        from .._io import atomic_set, remove_stale_sets

        path = Path(path).expanduser()
        remove_stale_sets(path.parent)
        profile = self
        with atomic_set(path.parent, overwrite) as stage:
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
        from .fitting import check_fits

        check_fits(self, model)


def _checked(profile: Profile, source: str) -> Profile:
    return checked(profile, source, COMPONENTS, REQUIRED_VERSIONS)


def finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _plain(obj) -> Any:
    """A part of the profile as JSON-ready values: dataclasses as dicts (their own fields before the block fields
    they share, ``views`` and optional fields left empty out), tuples as lists."""
    if dataclasses.is_dataclass(obj):
        return {name: _plain(getattr(obj, name)) for name in _saved_fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


_FIELD_ORDER: dict[type, tuple[dataclasses.Field, ...]] = {}


def _field_order(cls: type) -> tuple[dataclasses.Field, ...]:
    if cls not in _FIELD_ORDER:
        fields = [f for f in dataclasses.fields(cls) if f.name != "views"]
        shared = {f.name for f in dataclasses.fields(BlockProfile)} if issubclass(cls, BlockProfile) else set()
        _FIELD_ORDER[cls] = (*(f for f in fields if f.name not in shared), *(f for f in fields if f.name in shared))
    return _FIELD_ORDER[cls]


def _saved_fields(obj) -> list[str]:
    return [f.name for f in _field_order(type(obj))
            if not (f.default in (None, ()) and getattr(obj, f.name) in (None, ()))]


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
