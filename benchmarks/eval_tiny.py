"""How good the embedded tiny model is, measured against the synthetic generator's own ground truth.

1. Judge: every held-out prompt (combinations never trained on), one 20-step CFG video each
   (seed 0, the model's default size); pass = right colour, right direction, right background.
2. VAE: reconstruction PSNR on freshly rendered held-out clips (seed 999).
3. Profiling masks: for held-out prompts, the profile's foreground mask (fallback segmenter on the
   PCA frames of the last step's noise prediction, on the token grid) against the foreground of the
   generated video itself (pixels far from the background colour, pooled to the same grid).
   Reported with the IoU a trivial "everything is foreground" mask would get, for scale.

    python benchmarks/eval_tiny.py --out benchmarks/results/tiny-model-eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# the repository root, for the embedded model's tooling (tools/train_embedded) when run as a script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--out", required=True)
    ap.add_argument("--judge-prompts", type=int, default=0, help="held-out prompts to judge (0: all)")
    ap.add_argument("--iou-prompts", type=int, default=12)
    ap.add_argument("--vae-clips", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--training-prompts", type=int, default=0,
                    help="also judge this many training prompts (every 7th training scene): is a miss "
                         "a failure to generalise, or to learn?")
    args = ap.parse_args(argv)

    import torch
    from tqdm import tqdm

    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.profile.measure import ProfileSettings, measure_prompt, token_grid
    from profiling_dit.embedded.synthetic import judge, mask_iou, render, split_scenes, truth_token_mask
    from tools.train_embedded.data import vae_psnr

    torch.manual_seed(0)
    model = load_pipeline(resolve_model(args.model), device="cpu")
    held = split_scenes()[1]
    t0 = time.time()

    def judged(scenes, desc):
        out = []
        for scene in tqdm(scenes, desc=desc):
            frames = generate(model, GenerationSettings(prompt=scene.prompt, steps=args.steps, seed=0)).frames[0]
            v = judge(frames, scene)
            out.append({"prompt": scene.prompt, "passed": v.passed, "color_ok": v.color_ok,
                        "motion_ok": v.motion_ok, "background_ok": v.background_ok,
                        "detected_color": v.detected_color, "detected_background": v.detected_background,
                        "displacement_px": [round(d, 1) for d in v.displacement]})
        return out

    verdicts = judged(held[:args.judge_prompts] if args.judge_prompts else held, "judge")
    trained = judged(split_scenes()[0][::7][:args.training_prompts], "judge (training prompts)")

    clips = np.stack([render(s, 17, 128, 128, seed=999)[0] for s in held[:args.vae_clips]])
    psnr = vae_psnr(model.pipe.vae, clips)

    ious = []
    for scene in tqdm(held[:args.iou_prompts], desc="profile masks"):
        gen = GenerationSettings(prompt=scene.prompt, steps=args.steps, seed=0)
        meas = measure_prompt(model, gen, ProfileSettings(every=args.steps))  # attention at step 0 only
        _, grid = token_grid(model, gen)
        truth = truth_token_mask(meas.frames, grid, model.arch.frame_multiple)
        ious.append({"prompt": scene.prompt, "iou": mask_iou(meas.token_mask, truth),
                     "iou_all_foreground": mask_iou(np.ones_like(truth), truth),
                     "truth_share": float(truth.mean()), "mask_share": float(meas.token_mask.mean())})

    n = len(verdicts)
    result = {
        "model": args.model,
        "steps": args.steps,
        "judge": {
            "held_out_prompts": n,
            "pass_rate": sum(v["passed"] for v in verdicts) / n,
            "color_ok": sum(v["color_ok"] for v in verdicts) / n,
            "motion_ok": sum(v["motion_ok"] for v in verdicts) / n,
            "background_ok": sum(v["background_ok"] for v in verdicts) / n,
            "verdicts": verdicts,
        },
        "training_prompts_judge": {"prompts": len(trained), "passed": sum(v["passed"] for v in trained),
                                   "verdicts": trained},
        "vae_psnr_held_out_db": {"clips": len(clips), "psnr": psnr},
        "profile_mask_iou": {
            "prompts": len(ious),
            "mean_iou": float(np.mean([r["iou"] for r in ious])),
            "median_iou": float(np.median([r["iou"] for r in ious])),
            "mean_iou_all_foreground": float(np.mean([r["iou_all_foreground"] for r in ious])),
            "per_prompt": ious,
        },
        "seconds": time.time() - t0,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from profiling_dit._io import atomic_write_text

    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(json.dumps({"judge_pass_rate": result["judge"]["pass_rate"], "held_out": n,
                      "color_ok": result["judge"]["color_ok"], "motion_ok": result["judge"]["motion_ok"],
                      "background_ok": result["judge"]["background_ok"], "vae_psnr_db": round(psnr, 2),
                      "training_prompts_passed": f"{sum(v['passed'] for v in trained)}/{len(trained)}",
                      "mask_iou_mean": round(result["profile_mask_iou"]["mean_iou"], 3),
                      "mask_iou_all_foreground": round(result["profile_mask_iou"]["mean_iou_all_foreground"], 3)}))
    return result


if __name__ == "__main__":
    main()
