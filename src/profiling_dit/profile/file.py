"""The profile: a typed object (``Profile``) saved as JSON with a schema version.

The frozen dataclasses below are the profile's one definition: each field of the file, its type and its bounds
(``Annotated`` with ``msgspec.Meta``; every integer has a sane maximum) and, in the docstrings, what it means.
From them msgspec validates a file while decoding it, and ``profile/schema.py`` generates ``profile.schema.json``
(the documented schema, for readers and other tools; a test keeps it equal to what the classes generate). What a
type cannot say is checked once the file is decoded (``_check_semantics``: lists that pair have matching lengths,
the split covers every block once, named steps exist and increase, a calibrated plan is a plan of its
transformer). A bad file is refused in one line naming the field. ``Profile.check_fits`` refuses a profile made on
another model.

A profile names its model by the reference the user gave (an alias, a Hub id, or a local folder's
*name*) plus the hash of its transformer config: it holds no path of the machine that made it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, get_args

import msgspec
from msgspec import Meta

from .._validate import MAX_BLOCKS, MAX_SIZE, MAX_STEPS, MAX_TOKENS
from ..errors import InvalidSettingError, ProfileError
from ..plan import Plan
from .settings import Branch, SetRanking

SchemaVersion = Literal[1, 2]  # 2 adds `staleness` and `plans`
Kind = Literal["profiling-dit-profile"]
Component = Literal["transformer", "transformer_2"]
SCHEMA_VERSION = 2
READABLE_VERSIONS: tuple[int, ...] = get_args(SchemaVersion)
KIND: str = get_args(Kind)[0]
COMPONENTS: tuple[str, ...] = get_args(Component)
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")
MAX_PROFILE_BYTES = 256 * 1024 * 1024
REQUIRED_VERSIONS = ("profiling_dit", "torch", "diffusers")
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
    """The F/B block split (paper Eq. 7): blocks scoring >= tau are foreground, the rest background."""

    tau: NonNegative
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
        _check_kind(data, source)
        where = _first_non_finite(data)
        if where is not None:
            raise ProfileError(f"{source}: {_json_path(where)} is not a finite number")
        try:
            profile = msgspec.convert(data, cls)
        except msgspec.ValidationError as e:
            raise _refusal(e, data, source) from None
        return _checked(profile, source)

    @classmethod
    def from_json(cls, text: bytes | str, source: str = "profile") -> Profile:
        """``from_dict`` of a JSON document, decoded and validated in one pass."""
        try:
            profile = _decoder().decode(text)
        except msgspec.ValidationError as e:
            data = _parse(text, source)
            _check_kind(data, source)
            raise _refusal(e, data, source) from None
        except msgspec.DecodeError as e:
            raise _not_json(e, source) from None
        except RecursionError:
            raise ProfileError(f"{source} is nested too deeply to be a profile") from None
        return _checked(profile, source)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read and validate a profile file (JSON; nothing else is ever loaded from it)."""
        path = Path(path).expanduser()
        source = f"profile {str(path)!r}"
        try:
            if not path.is_file():
                what = ("is a folder" if path.is_dir() else "is not a regular file" if path.exists()
                        else "does not exist")
                raise ProfileError(f"{source} {what}; make one with `profiling_dit.profile_model` (or `pdit profile`)")
            size = path.stat().st_size
            if size > MAX_PROFILE_BYTES:
                raise ProfileError(f"{source} is {size / 2**20:.0f} MiB; profiles are far smaller, so this is not one")
            blob = path.read_bytes()
        except OSError as e:
            raise ProfileError(f"cannot read {source}: {e.strerror or e}") from None
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
        from ..pipeline.loading import LoadedModel, ModelSource, as_model

        if isinstance(model, ModelSource):
            _compare(identity_from_source(model), self.model, "the profile", "the model's")
            for expert in self.experts[1:]:  # the first is the top level's; the others, from their saved configs
                config = model.component_config(expert.component)
                if config is not None:
                    _compare({"config_hash": config_hash(config)}, expert,
                             f"the profile's block profile for {expert.component}", "the model's")
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
                _compare(want, have[name], f"the profile's block profile for {name}", "the loaded one's")
            return
        want = model_identity(model.pipe.transformer, model.arch)
        _compare(want, self.model, "the profile", "the loaded model's")


# --- reading: types and bounds (msgspec, from the classes above), then what pairs ------------------------
@functools.lru_cache(maxsize=1)
def _decoder() -> msgspec.json.Decoder:
    return msgspec.json.Decoder(Profile)


@functools.lru_cache(maxsize=1)
def _generated_schema() -> dict:
    """The JSON schema msgspec generates from ``Profile`` (``profile/schema.py`` writes it, with a title)."""
    return msgspec.json.schema(Profile)


def _parse(text: bytes | str, source: str) -> Any:
    """The document as plain JSON values (for the message about a file the typed decoder refused)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.ValidationError as e:  # a number beyond float or 64-bit integer range
        message, path = _split_message(e)
        where = f" ({_json_path(path)})" if path and _ANY_KEY not in path else ""  # untyped: keys are not named
        raise ProfileError(f"{source} is not a valid profile: {_short(message.lower())}{where}") from None
    except msgspec.DecodeError as e:  # malformed past the point where the typed decoder stopped (ValidationError
        raise _not_json(e, source) from None  # is a DecodeError too: it is caught first)
    except RecursionError:
        raise ProfileError(f"{source} is nested too deeply to be a profile") from None


def _not_json(error: msgspec.DecodeError, source: str) -> ProfileError:
    return ProfileError(f"{source} is not valid JSON ({_short(str(error).removeprefix('JSON is malformed: '))})")


def _check_kind(data: Any, source: str) -> None:
    """Kind and schema version first, each with its own message."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ProfileError(f"{source} is not a ProfilingDiT profile (no \"kind\": {KIND!r})")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ProfileError(f"{source} has schema version {version!r:.40}; this profiling-dit reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))}: profile the model again with this version")


_AT = re.compile(r" - at `\$([^`]*)`$")
_KEY = re.compile(r"\.([^.\[`]+)|\[(\d+|\.\.\.)\]")
_ANY_KEY = "[...]"  # msgspec does not name the key of a dict entry it refuses
_ABSENT = object()


def _split_message(error: msgspec.ValidationError) -> tuple[str, list]:
    """msgspec's message without its location, and the location as keys and indices."""
    message = str(error)
    at = _AT.search(message)
    if at is None:
        return message, []
    keys = [name if name else int(index) if index.isdigit() else _ANY_KEY for name, index in _KEY.findall(at[1])]
    return message[:at.start()], keys


def _refusal(error: msgspec.ValidationError, data: Any, source: str) -> ProfileError:
    """One line naming the field, what it must be (worded from the generated schema) and what it holds."""
    message, path = _split_message(error)
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        return ProfileError(f"{source}: {_json_path([*path, missing[1]])} is missing")
    if message == "Number out of range":
        return ProfileError(f"{source}: {_json_path(path)} is not a finite number")
    from ._schema_words import describe, fits

    schema = _generated_schema()
    if _ANY_KEY in path:  # name the dict's first entry that does not fit
        i = path.index(_ANY_KEY)
        entries = _value_at(data, path[:i])
        bad = [k for k, v in entries.items() if not fits(schema, [*path[:i], k], v)] if isinstance(entries, dict) \
            else []
        if bad:
            path = [*path[:i], bad[0], *path[i + 1:]]
    where = _json_path(path)
    expected, value = describe(schema, path), _value_at(data, path)
    if expected is None or value is _ABSENT:
        return ProfileError(f"{source}: {where}: {_short(message[:1].lower() + message[1:])}")
    return ProfileError(f"{source}: {where} must be {expected}, got {_show(value)}")


def _value_at(data: Any, path: list) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return _ABSENT
    return data


def _show(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return _short(text, 60)


def _first_non_finite(node, path=(), depth=0):
    """The path of the first NaN or infinity in Python data (JSON text cannot hold one; a dict can)."""
    if isinstance(node, float):
        return None if math.isfinite(node) else path
    if depth > 64:  # deeper than any profile; the types refuse it
        return None
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, (*path, key), depth + 1)
        if found is not None:
            return found
    return None


def _json_path(path) -> str:
    parts = "".join(p if p == _ANY_KEY else f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"field `{parts.lstrip('.')}`" if parts else "the top level"


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 1] + "…"


def _checked(profile: Profile, source: str) -> Profile:
    if profile.views is not None:  # a file's "views" is no field of it: ignored, as other unknown keys are
        object.__setattr__(profile, "views", None)
    _check_semantics(profile, source)
    return profile


def _check_semantics(p: Profile, source: str) -> None:
    """What the types cannot say: lists that pair have matching lengths, named steps exist and increase, the split
    covers every block once, the experts' step ranges cover the run once, calibrated plans are plans."""
    def bad(where: str, what: str):
        raise ProfileError(f"{source}: field `{where}` {what}")

    run, n = p.run, p.model.num_blocks
    prompts = len(run.prompts)
    if len(p.model.block_names) != n:
        bad("model.block_names", f"has {len(p.model.block_names)} names for {n} blocks")
    missing = [k for k in REQUIRED_VERSIONS if k not in p.versions]
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
    if not p.experts:
        _check_block_profile(p, n, (0, run.steps), run, "", bad)
    else:
        if sorted(e.component for e in p.experts) != list(COMPONENTS):
            bad("experts", "must hold one entry for transformer and one for transformer_2")
        ranges = sorted(e.step_range for e in p.experts)
        if ranges[0][0] != 0 or ranges[0][1] != ranges[1][0] or ranges[1][1] != run.steps:
            bad("experts", f"step ranges {[list(r) for r in ranges]} do not cover steps 0 to {run.steps - 1} once")
        for i, e in enumerate(p.experts):
            if e.step_range[1] <= e.step_range[0]:
                bad(f"experts[{i}].step_range", f"{list(e.step_range)} is empty")
            if e.block_names and len(e.block_names) != e.num_blocks:
                bad(f"experts[{i}].block_names", f"has {len(e.block_names)} names for {e.num_blocks} blocks")
            _check_block_profile(e, e.num_blocks, e.step_range, run, f"experts[{i}].", bad)
        i, first = min(enumerate(p.experts), key=lambda x: x[1].step_range[0])
        for name in (f.name for f in dataclasses.fields(BlockProfile)):
            if getattr(p, name) != getattr(first, name):
                bad(name, f"differs from experts[{i}].{name}: a two-expert profile's top-level block fields are its "
                          "first expert's")
    _attach_plans(p, source, bad)


def _check_steps(steps, lo: int, hi: int, where: str, bad) -> None:
    if any(b <= a for a, b in zip(steps, steps[1:])):
        bad(where, f"must increase, got {_short(str(list(steps)), 80)}")
    if steps and not (lo <= steps[0] and steps[-1] < hi):
        bad(where, f"names step {steps[0] if steps[0] < lo else steps[-1]}, outside steps {lo} to {hi - 1}")


def _check_block_profile(b: BlockProfile, n: int, step_range: tuple[int, int], run: RunInfo, prefix: str,
                         bad) -> None:
    """One block profile of ``n`` blocks over the steps [start, stop) of ``step_range``."""
    start, stop = step_range
    steps = stop - start
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
    if s.warmup >= steps:
        bad(f"{prefix}schedule.warmup", f"is {s.warmup}, not shorter than the {steps} steps")
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


def _attach_plans(p: Profile, source: str, bad) -> None:
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


# --- fitting a model ----------------------------------------------------------------------------------
def identity_from_source(source) -> dict:
    """The same identity as ``model_identity``, from a resolved model's saved config (no weights)."""
    ident = {"transformer_class": source.transformer_class, "config_hash": config_hash(source.transformer_config)}
    if source.arch.num_blocks_from_config is not None:
        ident["num_blocks"] = source.arch.num_blocks_from_config(source.transformer_config)
    return ident


def _compare(want: dict, have, what: str, theirs: str) -> None:
    for key, label in (("transformer_class", "transformer class"), ("num_blocks", "block count"),
                       ("config_hash", "config hash")):
        if key in want and getattr(have, key) != want[key]:
            raise ProfileError(
                f"{what} was made for another model: its {label} is {getattr(have, key)!r}, {theirs} is "
                f"{want[key]!r}; profile this model (`profiling_dit.profile_model`, or `pdit profile`)")


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
        if issubclass(cls, BlockProfile):
            shared = {f.name for f in dataclasses.fields(BlockProfile)}
            fields = [f for f in fields if f.name not in shared] + [f for f in fields if f.name in shared]
        _FIELD_ORDER[cls] = tuple(fields)
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
