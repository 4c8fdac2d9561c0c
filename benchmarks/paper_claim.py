"""The paper's central claim, tested on an embedded model: blocks specialise (some attend to the foreground,
others to the background), and reusing the background blocks' deltas loses less than reusing other blocks or
whole steps at the same cost.

Three parts, each writing ``OUT/<part>.json`` and ``OUT/<part>.md``:

    # 1. do blocks keep their foreground / background preference across steps and prompts?
    python benchmarks/paper_claim.py stability --profile P.json --out DIR
    # 3. does the mask matter? profiles of the same runs with the segmenter's mask, the generator's
    #    ground truth, an empty mask and an all-foreground mask (DIR/profile-<mask>.json)
    python benchmarks/paper_claim.py masks --model tiny-deep --out DIR
    # 2. at equal computed share and the same full steps: the profiled background set against random sets
    #    of the same size, the foreground set, and whole-step caching; PSNR against stock per case
    python benchmarks/paper_claim.py sets --model tiny-deep --profile P.json --prompts F --seeds 1,2 --out DIR \\
        [--extra truth=DIR/profile-truth.json ...]

Choices: every set of one comparison gets the same full steps, evenly spaced from the first step to the last
(``even_full_steps``), so only the set differs; whole-step caching (every block cached) gets the number of
full steps that gives the same computed share of block evaluations. Random sets are seeded (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


# --- helpers --------------------------------------------------------------------------------------------------
def even_full_steps(count: int, steps: int) -> tuple[int, ...]:
    """``count`` full steps spread evenly from step 0 to the last step."""
    if count < 1 or count > steps:
        raise ValueError(f"cannot place {count} full steps in {steps}")
    if count == 1:
        return (0,)
    return tuple(sorted({int(round(x)) for x in np.linspace(0, steps - 1, count)}))


def computed_share(num_blocks: int, cached: int, full: int, steps: int) -> float:
    from profiling_dit.plan import Plan

    return Plan(num_blocks, steps, tuple(range(cached)), tuple(range(full))).computed_share


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a constant ranking (ties everywhere) has no rank correlation
    return float(spearmanr(a, b).statistic)


def block_order(profile) -> list[int]:
    """Blocks from the lowest score (most background) to the highest, ties by index (as the split breaks them)."""
    from profiling_dit.profile.scoring import score_order

    return score_order(profile.block_scores)


def planner_order(profile) -> list[int]:
    """The order the planner's nested sets grow in (its staleness table's), else the R_attn order."""
    st = profile.blocks.staleness
    return list(st.order) if st is not None else block_order(profile)


def write(out: Path, name: str, data: dict, markdown: str) -> None:
    from profiling_dit._io import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{name}.json", json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / f"{name}.md", markdown)


def fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


# --- 1. stability ---------------------------------------------------------------------------------------------
def stability(profile_path: str) -> tuple[dict, str]:
    from profiling_dit import Profile

    p = Profile.load(profile_path)
    d = p.to_dict()
    r = np.asarray(d["r_attn"]["mean"], float)  # (blocks, steps)
    per_prompt = [np.asarray(x, float) for x in d["r_attn"]["per_prompt"]]
    steps = d["r_attn"]["steps"]
    scores = np.asarray(d["block_scores"], float)
    tau = float(d["split"]["tau"])
    fg_blocks = set(d["split"]["foreground_blocks"])
    n_blocks = len(scores)
    # class agreement: share of (block, step) cells on the same side of tau as the block's mean score
    same_side = (r >= tau) == (scores >= tau)[:, None]
    per_block = same_side.mean(axis=1)
    # does each step rank blocks like the whole run does?
    step_rho = [spearman(r[:, j], scores) for j in range(r.shape[1])]
    # the same between the first half of the steps and the second
    half = r.shape[1] // 2
    halves = spearman(r[:, :half].mean(1), r[:, half:].mean(1)) if half else float("nan")
    prompts_rho = [spearman(per_prompt[i].mean(1), per_prompt[j].mean(1))
                   for i in range(len(per_prompt)) for j in range(i + 1, len(per_prompt))]
    # a block-agnostic baseline: every cell given the side most cells are on (no per-block preference)
    above = float((r >= tau).mean())
    baseline = max(above, 1 - above)
    data = {
        "profile": str(profile_path), "blocks": n_blocks, "steps": steps, "tau": tau,
        "foreground_blocks": sorted(fg_blocks), "background_blocks": d["split"]["background_blocks"],
        "block_scores": scores.round(4).tolist(),
        "score_spread": {"min": float(scores.min()), "max": float(scores.max()), "std": float(scores.std())},
        "same_side_share": float(same_side.mean()), "same_side_per_block": per_block.round(3).tolist(),
        "same_side_share_block_agnostic_baseline": baseline,
        "step_vs_run_spearman": {"mean": float(np.nanmean(step_rho)), "min": float(np.nanmin(step_rho)),
                                 "per_step": [None if not np.isfinite(x) else round(x, 3) for x in step_rho]},
        "first_half_vs_second_half_spearman": halves,
        "prompt_vs_prompt_spearman": prompts_rho,
        "blocks_that_change_side_in_over_a_quarter_of_steps": [int(b) for b in np.flatnonzero(per_block < 0.75)],
    }
    md = [f"# R_attn stability: `{profile_path}`", "",
          f"{n_blocks} blocks, {len(steps)} profiled steps, {len(per_prompt)} prompt(s); split threshold tau = "
          f"{tau:.3f}; foreground blocks {sorted(fg_blocks)}.", "",
          "| check | value |", "|---|---|",
          f"| block scores (mean R_attn over steps) | {scores.min():.3f} to {scores.max():.3f} (std {scores.std():.3f}) |",
          f"| (block, step) cells on the same side of tau as the block's mean | {same_side.mean():.1%} "
          f"(every cell on the side most cells are on: {baseline:.1%}) |",
          f"| Spearman, each step's block ranking vs the run's | mean {np.nanmean(step_rho):.2f}, "
          f"min {np.nanmin(step_rho):.2f} |",
          f"| Spearman, first half of the steps vs second half | {fmt(halves)} |",
          f"| Spearman, prompt vs prompt | {', '.join(fmt(x) for x in prompts_rho) or 'n/a'} |",
          f"| blocks on their side in under 75% of steps | {data['blocks_that_change_side_in_over_a_quarter_of_steps']} |",
          ""]
    return data, "\n".join(md)


# --- 3. masks -------------------------------------------------------------------------------------------------
MASKS = ("segmenter", "truth", "empty", "full")


def masks(model_ref: str, prompts: list[str], out: Path, steps: int | None) -> tuple[dict, str]:
    import dataclasses

    from profiling_dit import ProfileSettings
    from profiling_dit.embedded.synthetic import foreground_masks, mask_iou, truth_token_mask
    from profiling_dit.pipeline.generation import GenerationSettings
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.profile.measure import build_profile, measure_prompt, token_grid

    model = load_pipeline(resolve_model(model_ref), device="cpu")
    ps = ProfileSettings()
    gens = [GenerationSettings(prompt=p, steps=steps or model.source.default("steps"),
                               height=model.source.default("height"), width=model.source.default("width"),
                               frames=model.source.default("frames"), guidance=model.source.default("guidance"))
            for p in prompts]
    work = out / "masks"
    work.mkdir(parents=True, exist_ok=True)
    measured = {name: [] for name in MASKS}
    ious = []
    for i, gen in enumerate(gens):
        seg = measure_prompt(model, gen, ps)
        measured["segmenter"].append(seg)
        video_fg = foreground_masks(seg.frames)  # the generated video's own foreground, by the generator's palette
        _, grid = token_grid(model, gen)
        truth = truth_token_mask(seg.frames, grid, model.arch.frame_multiple)
        ious.append(mask_iou(seg.token_mask, truth))
        files = {"truth": video_fg, "empty": np.zeros_like(video_fg), "full": np.ones_like(video_fg)}
        for name, m in files.items():
            path = work / f"{name}-{i}.npy"
            np.save(path, m.astype(np.uint8))
            meas = measure_prompt(model, gen, ps, user_masks=path)
            if not np.array_equal(meas.frames, seg.frames):
                raise RuntimeError("profiling runs of one prompt differ; the comparison needs identical runs")
            measured[name].append(meas)
    profiles, paths = {}, {}
    for name in MASKS:
        info = {"name": "pca-otsu" if name == "segmenter" else "user-masks",
                "detail": {"segmenter": "the fallback segmenter on the PCA frames",
                           "truth": "the generated video's foreground by the synthetic generator's palette",
                           "empty": "no foreground anywhere", "full": "everything foreground"}[name]}
        prof = build_profile(model, gens, dataclasses.replace(ps, time_blocks=False), measured[name], info)
        paths[name] = prof.save(out / f"profile-{name}.json")
        profiles[name] = prof
    # the same runs, with the planner's sets grown by measured reuse error instead of R_attn
    by_staleness = build_profile(model, gens, dataclasses.replace(ps, time_blocks=False, set_ranking="staleness"),
                                 measured["segmenter"], {"name": "pca-otsu", "detail": "as profile-segmenter"})
    paths["staleness-ranking"] = by_staleness.save(out / "profile-staleness-ranking.json")
    orders = {n: block_order(p) for n, p in profiles.items()}
    scores = {n: np.asarray(p.block_scores, float) for n, p in profiles.items()}
    k = len(profiles["segmenter"].split.background_blocks)
    data = {"model": model_ref, "prompts": prompts, "segmenter_iou_vs_truth": ious, "background_size": k,
            "profiles": {n: str(p) for n, p in paths.items()},
            "block_scores": {n: s.round(4).tolist() for n, s in scores.items()},
            "background_blocks": {n: sorted(orders[n][:k]) for n in MASKS},
            "staleness_ranking": list(by_staleness.blocks.staleness.order),
            "spearman_vs_segmenter": {n: spearman(scores["segmenter"], scores[n]) for n in MASKS if n != "segmenter"},
            "spearman_vs_truth": {n: spearman(scores["truth"], scores[n]) for n in MASKS if n != "truth"},
            "background_overlap_with_segmenter": {n: len(set(orders[n][:k]) & set(orders["segmenter"][:k]))
                                                  for n in MASKS if n != "segmenter"}}
    md = [f"# Does the mask matter? `{model_ref}`, {len(prompts)} profiling prompts", "",
          f"The segmenter's masks against the generator's ground truth: IoU {', '.join(f'{x:.2f}' for x in ious)} "
          "on the token grid.", "",
          f"| mask | Spearman vs segmenter | Spearman vs truth | background set ({k} blocks) | overlap with segmenter's |",
          "|---|---|---|---|---|"]
    for n in MASKS:
        md.append(f"| {n} | {fmt(data['spearman_vs_segmenter'].get(n, 1.0))} | "
                  f"{fmt(data['spearman_vs_truth'].get(n, 1.0))} | {data['background_blocks'][n]} | "
                  f"{data['background_overlap_with_segmenter'].get(n, k)}/{k} |")
    md += ["", "An empty mask leaves R_attn undefined (no foreground token): every score is 0 and the split falls "
           "back to block order. An all-foreground mask makes R_attn the share of high-attention tokens, with no "
           "mask at all.", ""]
    return data, "\n".join(md)


# --- 2. sets --------------------------------------------------------------------------------------------------
def sets(model_ref: str, profile_path: str, prompts: list[str], seeds: list[int], comparisons: list[tuple[int, int]],
         random_sets: int, extras: dict[str, str], seed: int, out: Path) -> tuple[dict, str]:
    from profiling_dit import Plan, Profile
    from profiling_dit.caching.sampling import generate_cached
    from profiling_dit.metrics import psnr
    from profiling_dit.embedded.synthetic import prompt_judge
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    profile = Profile.load(profile_path)
    d = profile.to_dict()
    n_blocks, steps = len(profile.block_scores), int(d["run"]["steps"])
    order = block_order(profile)
    extra_orders = {name: planner_order(Profile.load(path)) for name, path in extras.items()}
    rng = np.random.default_rng(seed)
    runs = []  # (comparison label, set kind, set name, cached blocks, full steps)
    for k, full in comparisons:
        share = computed_share(n_blocks, k, full, steps)
        whole_full = share * steps
        if abs(whole_full - round(whole_full)) > 1e-9:
            raise SystemExit(f"{k} cached blocks with {full} full steps give share {share:.4f}, which whole-step "
                             f"caching cannot match with whole steps ({whole_full:.2f}); choose another pair")
        label = f"share {share:.2f}: {k} of {n_blocks} blocks cached, {full} full steps"
        fs = even_full_steps(full, steps)
        runs.append((label, "background (profiled)", "background", tuple(sorted(order[:k])), fs))
        runs.append((label, "foreground (the paper's ablation)", "foreground", tuple(sorted(order[-k:])), fs))
        for name, o in extra_orders.items():
            runs.append((label, f"first {k} of {name}", f"extra-{name}", tuple(sorted(o[:k])), fs))
        seen = set()
        while len(seen) < random_sets:
            seen.add(tuple(sorted(int(b) for b in rng.choice(n_blocks, k, replace=False))))
        for i, s in enumerate(sorted(seen)):
            runs.append((label, "random", f"random-{i}", s, fs))
        runs.append((label, "whole steps (every block cached)", "whole", tuple(range(n_blocks)),
                     even_full_steps(int(round(whole_full)), steps)))
    configs = []
    for label, kind, name, cached, fs in runs:
        cfg = Plan(num_blocks=n_blocks, steps=steps, cached_blocks=cached, full_steps=fs,
                   origin=f"paper_claim {name}")
        got = float(cfg.mask().mean())
        want = computed_share(n_blocks, len(cached), len(fs), steps)
        if abs(got - want) > 1e-9:
            raise RuntimeError(f"{name}: computed share {got} != {want}")
        configs.append(cfg)
    model = load_pipeline(resolve_model(model_ref), device="cpu")
    results = []
    t0 = time.time()
    cases = [(p, s) for p in prompts for s in seeds]
    for ci, (prompt, case_seed) in enumerate(cases):
        gen = GenerationSettings(prompt=prompt, steps=steps, seed=case_seed, height=d["run"]["height"],
                                 width=d["run"]["width"], frames=d["run"]["frames"], guidance=d["run"]["guidance"])
        ref = generate(model, gen).frames[0]
        for (label, kind, name, cached, fs), cfg in zip(runs, configs):
            frames = generate_cached(model, gen, {"transformer": cfg})[0].frames[0]
            results.append({"case": ci, "prompt": prompt, "seed": case_seed, "comparison": label, "kind": kind,
                            "set": name, "cached_blocks": list(cached), "full_steps": list(fs),
                            "computed_share": float(cfg.mask().mean()), "psnr": psnr(ref, frames),
                            "judge": prompt_judge(frames, prompt)})
        print(f"case {ci + 1}/{len(cases)} done, {time.time() - t0:.0f} s", flush=True)
    data = {"model": model_ref, "profile": str(profile_path), "blocks": n_blocks, "steps": steps,
            "prompts": prompts, "seeds": seeds, "order_lowest_first": order, "extras": extras,
            "random_seed": seed, "results": results}
    return data, sets_markdown(data)


def sets_markdown(data: dict) -> str:
    res = data["results"]
    cases = sorted({r["case"] for r in res})
    md = [f"# Which blocks to cache, at equal cost: `{data['model']}`", "",
          f"{len(cases)} held-out cases ({len(data['prompts'])} prompts x seeds {data['seeds']}), {data['steps']} "
          f"steps; PSNR (dB) against stock sampling of the same case; every set of one comparison has the same "
          f"full steps (evenly spaced), whole-step caching as many as give the same computed share. "
          f"Profile: `{data['profile']}`.", ""]
    for label in dict.fromkeys(r["comparison"] for r in res):
        rows = [r for r in res if r["comparison"] == label]
        md += [f"## {label}", "", "| set | blocks cached | mean PSNR | std over cases | min | max | judge passes |",
               "|---|---|---|---|---|---|---|"]

        def per_case(name):
            return np.array([next(r["psnr"] for r in rows if r["set"] == name and r["case"] == c) for c in cases])

        names = list(dict.fromkeys(r["set"] for r in rows))
        randoms = [n for n in names if n.startswith("random")]
        for n in names:
            v = per_case(n)
            r0 = next(r for r in rows if r["set"] == n)
            passes = sum(bool(r["judge"]) for r in rows if r["set"] == n)
            blocks = r0["cached_blocks"] if len(r0["cached_blocks"]) < data["blocks"] else "all"
            md.append(f"| {r0['kind'] if not n.startswith('random') else n} | {blocks} | {v.mean():.2f} | "
                      f"{v.std():.2f} | {v.min():.2f} | {v.max():.2f} | {passes}/{len(cases)} |")
        if randoms:
            rand = np.stack([per_case(n) for n in randoms])  # (sets, cases)
            bg = per_case("background")
            means = rand.mean(1)
            md += ["", f"Random sets ({len(randoms)}): mean {rand.mean():.2f} dB, set means {means.min():.2f} to "
                   f"{means.max():.2f} dB. Profiled background set minus the random sets' mean, per case: mean "
                   f"{(bg - rand.mean(0)).mean():+.2f} dB (std {(bg - rand.mean(0)).std():.2f}); it beats every random "
                   f"set in {int((bg[None] > rand).all(0).sum())} of {len(cases)} cases, and ranks "
                   f"{int((means > bg.mean()).sum()) + 1} of {len(randoms) + 1} by mean."]
        md.append("")
    return "\n".join(md)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="part", required=True)
    a = sub.add_parser("stability")
    a.add_argument("--profile", required=True)
    a.add_argument("--out", required=True)
    b = sub.add_parser("masks")
    b.add_argument("--model", default="tiny-deep")
    b.add_argument("--prompt", action="append",
                   help="profiling prompts (default: the shipped profiles' two)")
    b.add_argument("--steps", type=int, default=None)
    b.add_argument("--out", required=True)
    c = sub.add_parser("sets")
    c.add_argument("--model", default="tiny-deep")
    c.add_argument("--profile", required=True)
    c.add_argument("--prompts", required=True, help="a file, one prompt a line")
    c.add_argument("--seeds", default="1,2")
    c.add_argument("--compare", default="15:4,15:8,10:4",
                   help="comma-separated CACHED:FULL pairs: cached blocks, full steps")
    c.add_argument("--random", type=int, default=5, help="random sets per comparison")
    c.add_argument("--extra", action="append", default=[],
                   help="NAME=PROFILE: also the first blocks of that profile's planner order (its staleness table's)")
    c.add_argument("--seed", type=int, default=0, help="seeds the random sets")
    c.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.part == "stability":
        data, md = stability(args.profile)
    elif args.part == "masks":
        prompts = args.prompt or ["a red circle moving right over grass", "a blue square moving left over sand"]
        data, md = masks(args.model, prompts, out, args.steps)
    else:
        prompts = [line.strip() for line in Path(args.prompts).read_text().splitlines() if line.strip()]
        pairs = [tuple(int(x) for x in pair.split(":")) for pair in args.compare.split(",")]
        extras = dict(e.split("=", 1) for e in args.extra)
        data, md = sets(args.model, args.profile, prompts, [int(s) for s in args.seeds.split(",")], pairs,
                        args.random, extras, args.seed, out)
    write(out, args.part, data, md)
    print(md)


if __name__ == "__main__":
    main()
