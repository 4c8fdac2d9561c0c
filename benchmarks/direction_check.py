"""Does a model's transformer use the direction word? One-step denoising with the true prompt against
the same prompt with the opposite direction, and against the empty prompt.

For 12 training scenes (every 20th; 17 frames, 128x128, seed 999) the clip is encoded with the
pipeline's own VAE (normalised as in training), noised to each sigma (the same noise for every
prompt), and the transformer's implied clean latent x0 = x_t - sigma * v is compared with the true
one (mean squared error, normalised latents). A model that uses the direction word has a lower
error with the true direction than with the opposite one; with the empty prompt the error shows
what the whole prompt is worth.

    python benchmarks/direction_check.py --model tiny
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# the repository root, for the embedded model's tooling (tools/train_embedded) when run as a script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="an alias or a pipeline folder")
    ap.add_argument("--sigmas", default="0.5,0.8,0.95")
    args = ap.parse_args(argv)

    import torch

    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.embedded.synthetic import Scene, render, split_scenes
    from tools.train_embedded.data import normalized_latents

    pipe = load_pipeline(resolve_model(args.model), device="cpu").pipe
    scenes = split_scenes()[0][::20][:12]
    clips = np.stack([render(s, 17, 128, 128, seed=999)[0] for s in scenes])
    prompts = {
        "true": [s.prompt for s in scenes],
        "opposite": [Scene(s.color, s.shape, OPPOSITE[s.direction], s.background).prompt for s in scenes],
        "empty": [""] * len(scenes),
    }
    out = {"model": args.model, "scenes": len(scenes), "x0_mse": {}}
    with torch.no_grad():
        z = normalized_latents(pipe.vae, clips)
        embeds = {k: pipe.encode_prompt(p, do_classifier_free_guidance=False,
                                        max_sequence_length=pipe.tokenizer.model_max_length,
                                        device=torch.device("cpu"))[0] for k, p in prompts.items()}
        for sigma in (float(s) for s in args.sigmas.split(",")):
            noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
            xt = (1 - sigma) * z + sigma * noise
            row = {}
            for name, text in embeds.items():
                v = pipe.transformer(xt, torch.full((len(scenes),), sigma * 1000.0), text, return_dict=False)[0]
                row[name] = round(float(((xt - sigma * v - z) ** 2).mean()), 4)
            out["x0_mse"][str(sigma)] = row
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
