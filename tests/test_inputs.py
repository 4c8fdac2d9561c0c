"""Every bad input is one line and exit code 2, before anything heavy: a seeded fuzzer over profiles and the
command line, and the classes of faults a hostile-user pass found (long names, unwritable targets, bad
masks and checkpoints, sizes that cannot fit, pickles, leftovers of killed runs)."""

from __future__ import annotations

import copy
import json
import math
import random
import re
import sys

import msgspec
import msgspec.inspect as mi
import numpy as np
import pytest

from profiling_dit.caching.policy import make_plan
from profiling_dit.errors import PditError, ProfileError
from profiling_dit.profile.file import Profile, shipped_profile

SHIPPED = json.loads(shipped_profile("tiny").read_text())
HOSTILE_VALUES = [None, float("nan"), float("inf"), -1, 0, 1e30, 1.5e308, 2**63, 2.5, True, "x" * 300, [], {}, [[[]]],
                  -(10 ** 40), {"kind": "profiling-dit-profile"}, "../../etc/passwd"]
# lists whose length pairs with another's (the prompts, the blocks, the steps, l1.steps, r_attn.steps)
PAIRED = [("foreground_share",), ("masks",), ("masks", 0), ("masks", 1, 2), ("l1", "mean"), ("l1", "relative_mean"),
          ("l1", "per_prompt"), ("l1", "per_prompt", 1), ("r_attn", "mean"), ("r_attn", "mean", 3),
          ("r_attn", "per_prompt"), ("r_attn", "per_prompt", 0, 5), ("block_scores",), ("model", "block_names"),
          ("run", "wall_s"), ("run", "transformer_s"), ("staleness", "order"), ("staleness", "sets"),
          ("staleness", "sets", 2, "error"), ("staleness", "sets", 4, "error", 7), ("staleness", "sets", 6, "scale"),
          ("staleness", "sigmas")]
FREE_FORM = (("run", "scheduler", "config"), ("run", "device"))  # free-form dicts of the run, not profile fields


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list) and node:
        for i in sorted({0, len(node) - 1}):
            yield from _paths(node[i], (*prefix, i))


def _mutate(data: dict, rng: random.Random) -> dict:
    data = copy.deepcopy(data)
    path = rng.choice([p for p in _paths(data) if p])
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action < 0.25 and isinstance(parent[path[-1]], list):
        parent[path[-1]] = parent[path[-1]][: rng.randrange(len(parent[path[-1]]) + 1)]
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return data


def fuzz_profiles(cases: int, seed: int = 0) -> dict[str, int]:
    """Mutate the shipped profile ``cases`` times; every outcome must be a valid profile that plans, or a
    one-line ``ProfileError``. Returns the tally (``unexpected`` must stay 0)."""
    rng = random.Random(seed)
    tally = {"refused": 0, "accepted": 0, "unexpected": 0}
    for _ in range(cases):
        data = _mutate(SHIPPED, rng)
        try:
            profile = Profile.from_dict(data)
            make_plan(profile, schedule="paper")
            make_plan(profile, budget=0.5, steps=rng.choice([5, 20, 30]))
            tally["accepted"] += 1
        except PditError as e:
            tally["refused" if "\n" not in str(e) else "unexpected"] += 1
        except Exception:  # noqa: BLE001 - the fuzzer's point
            tally["unexpected"] += 1
    return tally


def test_profile_fuzzer_finds_no_crash():
    tally = fuzz_profiles(250, seed=1)
    print(f"profile fuzzer: {tally}")
    assert tally["unexpected"] == 0 and tally["refused"] > tally["accepted"]


def _int_leaves(node, prefix=()):
    if isinstance(node, int) and not isinstance(node, bool):
        yield prefix
    elif isinstance(node, dict) and prefix not in FREE_FORM:
        for k, v in node.items():
            yield from _int_leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _int_leaves(v, (*prefix, i))


def _describing_nothing(rng: random.Random) -> tuple[dict, tuple]:
    """The shipped profile with one seeded change that leaves it describing nothing, or something that does not
    exist, and the path of the field the refusal must name (or of one that holds it)."""
    data = copy.deepcopy(SHIPPED)
    kind = rng.randrange(6)
    if kind == 0:  # an empty list where one thing at least must be
        path = rng.choice([("plans", rng.randrange(len(data["plans"])), "cached_blocks"), ("r_attn", "per_prompt"),
                           ("l1", "per_prompt", rng.randrange(2)), ("masks", rng.randrange(2)),
                           ("masks", 0, rng.randrange(5)), ("r_attn", "mean", rng.randrange(8)), ("r_attn", "steps")])
        value = []
    elif kind == 1:  # r_attn.steps naming a step the run does not have, or not increasing
        steps = list(data["r_attn"]["steps"])
        i = rng.randrange(len(steps))
        if rng.random() < 0.5:
            steps[i] = rng.choice([data["run"]["steps"], data["run"]["steps"] + rng.randrange(1, 10**5)])
        else:
            j = (i + rng.randrange(1, len(steps))) % len(steps)
            steps[i], steps[j] = steps[j], steps[i]
        path, value = ("r_attn", "steps"), steps
    elif kind == 2:  # an integer past any sane bound
        path = rng.choice(list(_int_leaves(data)))
        value = rng.choice([1.5e308, 2**63, 2**63 + rng.randrange(1, 10**6), 10**30])
    elif kind == 5:  # what once planned without a word: a schema-2 profile without staleness table, tau past 1
        path, value = rng.choice([(("staleness",), None), (("split", "tau"), rng.choice([1e300, 1.5, 2]))])
    else:  # a list one longer or shorter than the one it pairs with
        path = rng.choice(PAIRED)
        node = data
        for key in path:
            node = node[key]
        value = node[:-1] if rng.random() < 0.5 else node + node[-1:]
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return data, path


def test_profiles_that_describe_nothing_are_refused_naming_the_field():
    """Seeded: empty lists, steps that do not exist, integers past their bound, lists of the wrong length, a
    schema-2 profile without its staleness table and a tau past 1 are refused, through a dict and through a file's
    text alike, in one line naming the field (or the one holding it)."""
    rng = random.Random(4)
    for case in range(160):
        data, path = _describing_nothing(rng)
        for read in (Profile.from_dict, lambda d: Profile.from_json(json.dumps(d))):
            with pytest.raises(ProfileError) as e:
                read(data)
            message = str(e.value)
            named = re.search(r"field `([^`]+)`", message)
            assert "\n" not in message and named, (case, path, message)
            field = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")
            # the field itself, one that holds it, or (for a list that pairs) the one it pairs with
            assert field.startswith(named[1]) or path in PAIRED or path[:-1] in PAIRED, (case, field, message)


def _unwrap(t, node):
    """The type (msgspec's type information) that holds ``node``: metadata taken off, of a union the member."""
    if isinstance(t, mi.Metadata):
        return _unwrap(t.type, node)
    if isinstance(t, mi.UnionType):
        members = [_unwrap(m, node) for m in t.types]
        held = [m for m in members if isinstance(node, HOLDS.get(type(m), ()))]
        numbers = [m for m in members if node is None and isinstance(m, (mi.IntType, mi.FloatType))]  # a null's bound
        return (held or numbers or [mi.AnyType()])[0]
    return t


HOLDS = {mi.IntType: int, mi.FloatType: (int, float), mi.StrType: str, mi.ListType: list, mi.VarTupleType: list,
         mi.TupleType: list, mi.DictType: dict, mi.DataclassType: dict, mi.TypedDictType: dict}
BOUNDS = ("ge", "gt", "le", "lt", "min_length", "max_length")


def _bounded(node, t, path=()):
    """(path, type) of each value of ``node`` (the first and last of each list) whose type in the profile's
    definition has a bound: read off the types themselves, so a new bound is fuzzed without a new test."""
    t = _unwrap(t, node)
    if any(getattr(t, b, None) is not None for b in BOUNDS) and getattr(t, "pattern", None) is None:
        yield path, t
    if isinstance(t, (mi.DataclassType, mi.TypedDictType)):
        for f in t.fields:
            if f.encode_name in node:
                yield from _bounded(node[f.encode_name], f.type, (*path, f.encode_name))
    elif isinstance(t, mi.DictType) and node:
        key = next(iter(node))
        yield from _bounded(node[key], t.value_type, (*path, key))
    elif isinstance(t, (mi.ListType, mi.VarTupleType)) and node:
        for i in sorted({0, len(node) - 1}):
            yield from _bounded(node[i], t.item_type, (*path, i))
    elif isinstance(t, mi.TupleType):
        for i, (item, item_type) in enumerate(zip(node, t.item_types)):
            yield from _bounded(item, item_type, (*path, i))


def _at_and_past(t, value) -> list[tuple[str, object, object]]:
    """For each bound of ``t``: (its name, a value at it, a value just past it)."""
    out = []
    if isinstance(t, (mi.IntType, mi.FloatType)):
        as_type = int if isinstance(t, mi.IntType) else float
        step = (lambda x, d: x + d) if as_type is int else (lambda x, d: math.nextafter(float(x), d * math.inf))
        for name, inward in (("ge", 1), ("gt", 1), ("le", -1), ("lt", -1)):
            bound = getattr(t, name)
            if bound is not None:
                closed = name in ("ge", "le")
                at, past = (as_type(bound), step(bound, -inward)) if closed else (step(bound, inward), as_type(bound))
                out.append((name, at, past))
        return out
    assert isinstance(t, (mi.StrType, mi.ListType, mi.VarTupleType)), f"fuzz the bounds of {t} too"
    grow = (lambda n: "x" * n) if isinstance(t, mi.StrType) else (lambda n: (value + value[-1:] * n)[:n])
    if t.min_length:
        out.append(("min_length", grow(t.min_length), grow(t.min_length - 1)))
    if t.max_length is not None:
        out.append(("max_length", grow(t.max_length), grow(t.max_length + 1)))
    return out


def _replaced(data: dict, path: tuple, value) -> dict:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return data


def _filled(data: dict) -> dict:
    """``data`` with what the shipped profile leaves out: two experts (its own block fields twice), a calibration
    size; so their bounds are fuzzed too (the checks of what pairs may refuse it; the types must not)."""
    blocks = {k: data[k] for k in ("r_attn", "block_scores", "split", "schedule", "staleness")}
    ident = {k: data["model"][k] for k in ("transformer_class", "num_blocks", "config_hash", "block_names")}
    steps = data["run"]["steps"]
    experts = [{"component": c, **copy.deepcopy({**ident, **blocks}), "step_range": r}
               for c, r in (("transformer", [0, steps // 2]), ("transformer_2", [steps // 2, steps]))]
    plans = [{**plan, "calibration_size": [data["run"]["frames"], 64, 64]} for plan in data["plans"]]
    return {**data, "experts": experts, "plans": plans}


def test_every_bound_of_the_profile_holds_at_its_value_and_refuses_past_it():
    """For every bounded field of the profile (numbers, also where null, and lengths of strings and lists): a value
    at its bound passes the types (and the whole profile, where the fields it pairs with allow), one just past it is
    refused, through a dict and through a file's text alike, in one line naming exactly that field."""
    tally: dict = {"fields": set(), "cases": 0, "accepted": 0}
    for shipped in (SHIPPED, _filled(SHIPPED)):
        for path, t in _bounded(shipped, mi.type_info(Profile)):
            field = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")
            if re.sub(r"\[\d+\]", "[]", field) in tally["fields"]:
                continue
            for bound, at, past in _at_and_past(t, _value_at(shipped, path)):
                tally["cases"] += 1
                data = _replaced(shipped, path, at)
                msgspec.convert(data, Profile)  # the types take it
                try:
                    profile = Profile.from_dict(data)
                    make_plan(profile, schedule="paper")
                    tally["accepted"] += 1
                except PditError as e:  # a field it pairs with no longer agrees, said in one line
                    assert "\n" not in str(e), (field, bound, str(e))
                data = _replaced(shipped, path, past)
                for read in (Profile.from_dict, lambda d: Profile.from_json(json.dumps(d))):
                    with pytest.raises(ProfileError) as e:
                        read(data)
                    message = str(e.value)
                    assert "\n" not in message and f"field `{field}`:" in message, (field, bound, message)
                tally["fields"].add(re.sub(r"\[\d+\]", "[]", field))
    print(f"bounds fuzzer: {len(tally['fields'])} fields, {tally['cases']} bounds, {tally['accepted']} accepted whole")
    assert {"split.tau", "experts[].split.tau", "r_attn.mean[][]", "run.settings.tau", "plans[].calibration_size[]",
            "run.seed"} <= tally["fields"]
    assert tally["accepted"] > tally["cases"] / 3


def _value_at(data, path):
    for key in path:
        data = data[key]
    return data


def test_a_schema_2_profile_without_its_staleness_table_is_refused_and_a_schema_1_one_loads():
    for data in (_replaced(SHIPPED, ("staleness",), None), {k: v for k, v in SHIPPED.items() if k != "staleness"}):
        for read in (Profile.from_dict, lambda d: Profile.from_json(json.dumps(d))):
            with pytest.raises(ProfileError, match=r"field `staleness` is null or absent, but a schema-version-2") as e:
                read(data)
            assert "\n" not in str(e.value)
    v1 = {**{k: v for k, v in SHIPPED.items() if k not in ("staleness", "plans")}, "schema_version": 1}
    assert Profile.from_dict(v1).staleness is None


def test_profile_bytes_fuzzer(tmp_path):
    rng = random.Random(2)
    text = shipped_profile("tiny").read_bytes()
    tally = {"refused": 0, "accepted": 0}
    for i in range(60):
        blob = bytearray(text)
        for _ in range(rng.randrange(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        p = tmp_path / f"p{i}.json"
        p.write_bytes(bytes(blob))
        try:
            Profile.load(p)
            tally["accepted"] += 1
        except ProfileError as e:
            assert "\n" not in str(e)
            tally["refused"] += 1
    print(f"profile bytes fuzzer: {tally}")
    assert tally["refused"] > 0


# --- the command line: one line, exit 2, before anything loads ---------------------------------------
def _main(monkeypatch, capsys, *args) -> tuple[int, str]:
    from profiling_dit.cli.app import main

    monkeypatch.setattr(sys, "argv", ["pdit", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    return e.value.code, err


def _one_line_error(code, err):
    lines = [line for line in err.splitlines() if line.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err


FLAG_VALUES = {
    "--steps": ["0", "-3", "1e9", "nan", "", "1001", "2.5"],
    "--frames": ["16", "0", "-1", "abc", "1026"],
    "--height": ["0", "15", "100000", "x"],
    "--guidance": ["nan", "-1", "inf", "1e400", "abc"],
    "--seed": ["-1", "99999999999999999999999", "x"],
    "--budget": ["0", "1.5", "-0.2", "nan"],
    "--warmup": ["-1", "1000000", "x"],
    "--device": ["xpu", "meta", "cuda:99", "tpu", ""],
    "--dtype": ["float8", "int8"],
    "--model": ["", "no/such/folder/x", "Bad Name"],
}


def test_command_line_fuzzer(monkeypatch, capsys, tmp_path):
    rng = random.Random(3)
    failures, count = [], 0
    base = ["generate", "--prompt", "a red ball", "--out", tmp_path / "v.npy"]
    for flag, values in FLAG_VALUES.items():
        for value in values:
            args = [*base, flag, value]
            if flag in ("--budget", "--warmup"):
                args += ["--profile", shipped_profile("tiny")]
                if flag == "--warmup":
                    args += ["--schedule", "paper"]
            if flag == "--device":  # the device is checked after the cheap checks: give valid sizes
                args += ["--steps", "2", "--frames", "1026"]
            count += 1
            code, err = _main(monkeypatch, capsys, *args)
            if not _one_line_error(code, err):
                failures.append((args[5:], code, err[-300:]))
    for _ in range(20):  # random junk
        junk = ["generate", "--prompt", "x", "--out", tmp_path / "w.npy",
                rng.choice(list(FLAG_VALUES)), "".join(rng.choice("0123456789.-eEnax ") for _ in range(rng.randrange(1, 8))),
                "--frames", "16"]
        count += 1
        code, err = _main(monkeypatch, capsys, *junk)
        if not _one_line_error(code, err):
            failures.append((junk[5:], code, err[-300:]))
    for args in _list_option_cases(rng, tmp_path) + _number_cases(tmp_path):  # the classes a second pass found
        count += 1
        code, err = _main(monkeypatch, capsys, *args)
        if not _one_line_error(code, err):
            failures.append((args, code, err[-300:]))
    print(f"command-line fuzzer: {count} cases, {len(failures)} not one line with exit 2")
    assert failures == []
    assert not (tmp_path / "v.npy").exists() and not (tmp_path / "w.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # a refused command leaves no folder behind


def _list_option_cases(rng: random.Random, tmp_path) -> list[list]:
    """List options with spaces, empty items, duplicates and junk; each case also carries one bad item, so every
    case must be refused (on that item or before)."""
    items = {"--seeds": ["1", " 2 ", "x", "", "1", "-1", "1e3"], "--methods": ["baseline", " ", "warp", "baseline", ""],
             "--budgets": ["0.5", " 0.4", "", "0.5", "nan", "2"]}
    cases = []
    for flag, pool in items.items():
        for _ in range(8):
            values = rng.sample(pool, k=rng.randrange(2, len(pool)))
            bad = {"--seeds": "x", "--methods": "", "--budgets": "nan"}[flag]
            text = ",".join([*values, bad]) if rng.random() < 0.5 else " , ".join([bad, *values])
            command = (["profile", "--prompt", "a red ball", "--generations", "99", "--out", tmp_path / "out" / "p.json"]
                       if flag == "--budgets" else ["bench", "--out", tmp_path / "out" / "b"])
            cases.append([*command, flag, text])
    return cases


def _number_cases(tmp_path) -> list[list]:
    """Non-finite and huge numbers, and counts that would run away, on every command that takes them."""
    out = tmp_path / "out" / "v.npy"
    plan = ["plan", "--profile", shipped_profile("tiny")]
    return [
        [*plan, "--speedup", "nan"], [*plan, "--speedup", "inf"], [*plan, "--budget", "inf"],
        [*plan, "--steps", "100000"], [*plan, "--steps", "2", "--budget", "0.1"], [*plan, "--final-full-steps", "999"],
        [*plan, "--tau", "nan"], [*plan, "--background-share", "1e308"],
        ["generate", "--prompt", "x", "--out", out, "--nproc", "999", "--context-parallel", "ulysses"],
        ["generate", "--prompt", "x", "--out", out, "--fps", "1e9"],
        ["generate", "--prompt", "x", "--out", ""],
        ["bench", "--repeats", "1000000000", "--methods", "baseline", "--out", tmp_path / "out" / "b"],
        ["bench", "--prompts", tmp_path, "--out", tmp_path / "out" / "b"],
        ["profile", "--prompt", "x", "--generations", "9", "--budgets", "0.5,0.5", "--out", tmp_path / "out" / "p.json"],
        ["profile", "--prompt", "x", "--generations", "6", "--out", tmp_path / "out" / "p.json"],
    ]


LONG = "a" * 300


@pytest.mark.parametrize("args", [
    ["generate", "--prompt", "x", "--out", f"/tmp/{LONG}.npy"],
    ["generate", "--prompt", "x", "--out", "/proc/x.npy"],
    ["generate", "--prompt", "x", "--out", "/sys/x.mp4"],
    ["generate", "--prompt", "x", "--profile", f"/tmp/{LONG}.json", "--out", "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--model", f"/tmp/{LONG}", "--out", "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--image", f"/tmp/{LONG}.png", "--out", "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--image", "{tmp}", "--out", "{tmp}/v.npy"],
    ["profile", "--prompt", "x", "--masks", f"/tmp/{LONG}.npy", "--out", "{tmp}/p.json"],
    ["generate", "--prompt", "x", "--profile", "{tmp}", "--out", "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--model", "", "--out", "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--device", "", "--out", "{tmp}/v.npy"],
    ["profile", "--prompt", "x", "--device", " ", "--out", "{tmp}/p.json"],
    ["generate", "--prompt", "x", "--device", "", "--nproc", "2", "--context-parallel", "ulysses", "--out",
     "{tmp}/v.npy"],
    ["generate", "--prompt", "x", "--frames", "1025", "--height", "4096", "--width", "4096", "--out", "{tmp}/v.npy"],
    ["bench", "--prompts", "x" * 400, "--frames", "16", "--out", "{tmp}/b"],
    ["bench", "--seeds", "0,-1", "--out", "{tmp}/b"],
    ["bench", "--lpips-weights", "{tmp}/none.safetensors", "--out", "{tmp}/b"],
    ["bench", "--out", ""],  # not the current folder
    ["bench", "--out", "/proc/x"],  # a folder that cannot be made: refused before the bench, not after it
    ["profile", "--prompt", "x", "--sam2-config", "bogus", "--sam2", "{tmp}/w.safetensors", "--out", "{tmp}/p.json"],
    ["profile", "--prompt", "x", "--sam2", "{tmp}/w.safetensors", "--out", "{tmp}/p.json"],
    ["profile", "--prompt", "x", "--generations", "3", "--out", "{tmp}/p.json"],
    ["plan", "--profile", "{tmp}/none.json"],
    ["plan", "--profile", shipped_profile("tiny"), "--budget", "0.01"],
])
def test_hostile_inputs_are_one_line_before_any_work(monkeypatch, capsys, tmp_path, args):
    (tmp_path / "w.safetensors").write_bytes(b"this is not a safetensors file")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    monkeypatch.setattr("profiling_dit.cli._common.start", lambda *a, **k: pytest.fail("the model loaded first"))
    code, err = _main(monkeypatch, capsys, *args)
    assert _one_line_error(code, err), err
    assert not (tmp_path / "b").exists() and not (tmp_path / "v.npy").exists()


@pytest.mark.parametrize("make", [
    lambda p: np.save(p, np.array([[[object()]]], dtype=object), allow_pickle=True),
    lambda p: np.save(p, np.array([[["a"]]])),
    lambda p: np.save(p, np.zeros((2, 2, 2), dtype=[("a", "i4"), ("b", "f4")])),
    lambda p: np.save(p, np.zeros((9, 8, 8), dtype=complex)),
    lambda p: np.save(p, np.zeros((5, 0, 0))),
    lambda p: np.savez(p.with_suffix(".npz"), a=np.zeros((9, 8, 8))) or p.with_suffix(".npz").rename(p),
    lambda p: np.save(p, np.full((9, 8, 8), np.nan)),
    lambda p: np.save(p, np.zeros((4, 64, 64), np.uint8)),  # 4 frames fit neither 17 video nor 5 latent frames
], ids=["object", "string", "structured", "complex", "empty", "npz", "nan", "frame-count"])
def test_bad_masks_are_refused_before_the_model_loads(monkeypatch, capsys, tmp_path, make):
    masks = tmp_path / "m.npy"
    make(masks)
    code, err = _main(monkeypatch, capsys, "profile", "--prompt", "x", "--masks", masks, "--out", tmp_path / "p.json")
    assert _one_line_error(code, err) and "masks" in err
    assert not (tmp_path / "p.json").exists()


def test_image_on_a_text_to_video_model_is_refused_before_loading(monkeypatch, capsys, tmp_path):
    from PIL import Image

    image = tmp_path / "f.png"
    Image.new("RGB", (32, 32)).save(image)  # a real image: the model's kind, not the file, is what is wrong
    code, err = _main(monkeypatch, capsys, "generate", "--prompt", "x", "--image", image, "--out", tmp_path / "v.npy")
    assert _one_line_error(code, err) and "text-to-video" in err


def test_pickled_weights_are_not_loaded(tmp_path):
    from profiling_dit.embedded.tiny import build_tiny_pipeline
    from profiling_dit.errors import ModelNotAvailableError
    from profiling_dit.pipeline.loading import load_pipeline

    build_tiny_pipeline(num_layers=1).save_pretrained(tmp_path / "bin", safe_serialization=False)
    assert not list((tmp_path / "bin" / "transformer").glob("*.safetensors"))  # the transformer's weights: a pickle
    with pytest.raises(ModelNotAvailableError, match="pickles are never loaded"):  # refused from the file names
        load_pipeline(str(tmp_path / "bin"), device="cpu")


# --- what a killed run leaves behind -----------------------------------------------------------------
def test_leftover_temporaries_are_removed_on_the_next_run(tmp_path):
    from profiling_dit.pipeline.video_io import check_output_path

    target = tmp_path / "v.npy"
    stale = tmp_path / ".v.npy.abc123.pdit-tmp.npy"
    stale.write_bytes(b"half a video")
    other = tmp_path / ".other.npy.abc.pdit-tmp.npy"
    other.write_bytes(b"not ours to remove")
    check_output_path(target)
    assert not stale.exists() and other.exists()


def test_a_set_is_written_whole_or_not_at_all(tmp_path):
    from profiling_dit._io import atomic_set, remove_stale_sets

    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_set(tmp_path) as stage:
            stage("a.txt").write_text("new")
            stage("b.txt").write_text("new")
            raise RuntimeError("killed")
    assert (tmp_path / "a.txt").read_text() == "old" and not (tmp_path / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    leftover = tmp_path / ".pdit-set-xyz"
    leftover.mkdir()
    (leftover / "p.json").write_text("{}")
    remove_stale_sets(tmp_path)
    assert not leftover.exists()
    with atomic_set(tmp_path) as stage:
        stage("b.txt").write_text("new")
        stage("a.txt").write_text("new")
    assert (tmp_path / "a.txt").read_text() == "new" and (tmp_path / "b.txt").read_text() == "new"


@pytest.mark.slow
def test_pictures_without_their_profile_do_not_block_a_rerun(cli, tmp_path):
    out = tmp_path / "p.json"
    (tmp_path / "p.heatmap.png").write_bytes(b"left by a killed run")
    res = cli("profile", "--prompt", "a red ball", "--steps", 2, "--height", 32, "--width", 32, "--frames", 5,
              "--out", out)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.heatmap.png").read_bytes()[:4] == b"\x89PNG" and out.is_file()
    res = cli("profile", "--prompt", "a red ball", "--steps", 2, "--out", out)
    assert res.exit_code == 2 and "already exists" in res.output


# --- metrics -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_lpips_with_a_random_backbone_saved_as_safetensors(tmp_path):
    pytest.importorskip("torchmetrics")
    pytest.importorskip("torchvision")
    import torch
    from safetensors.torch import save_file, save_model

    from profiling_dit._compat import lpips_network
    from profiling_dit.metrics import Lpips, lpips_scorer

    torch.manual_seed(0)
    net = lpips_network("alex")
    for p in net.parameters():  # random linear heads, positive so the distance is not zero
        p.data.abs_()
    weights = tmp_path / "lpips-random.safetensors"
    save_model(net, str(weights))
    scorer = Lpips(weights)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert scorer(a, a) == pytest.approx(0.0, abs=1e-6)
    assert scorer(a, b) > 0 and math.isfinite(scorer(a, b))
    none, why = lpips_scorer(None)
    assert none is None and why.startswith("unavailable") and "safetensors" in why
    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(PditError, match="do not fit"):
        Lpips(bad)


def test_psnr_and_ssim_come_from_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from profiling_dit.metrics import psnr, ssim

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255))
    assert ssim(a, b) == pytest.approx(np.mean([structural_similarity(x, y, channel_axis=-1, data_range=255)
                                                for x, y in zip(a, b)]))
    assert math.isinf(psnr(a, a))
