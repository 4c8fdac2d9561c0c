"""How well a trained tiny pipeline's transformer denoises, one step at a time, by noise level.

For the first N training scenes and the first N held-out scenes (17 frames, 128x128, seed 999),
encodes the clip with the pipeline's own VAE (normalised as in training), noises it to each
sigma, asks the transformer for the flow (conditional prompt only, no CFG), and reports the mean
squared error of the implied clean latent x0 = x_t - sigma * v against the true one, as a share of
the latents' variance (1.0: no better than predicting the mean). The sampler starts at sigma = 1,
where the layout (background, object, position) must come from the prompt alone.

    python benchmarks/dit_check.py outputs/train-tiny/model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# the repository root, for the embedded model's tooling (tools/train_embedded) when run as a script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a trained model folder (save_pretrained layout)")
    ap.add_argument("--clips", type=int, default=8, help="scenes of each split")
    ap.add_argument("--sigmas", default="0.2,0.5,0.8,0.95,1.0")
    args = ap.parse_args(argv)

    import torch

    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.embedded.synthetic import render, split_scenes
    from tools.train_embedded.data import normalized_latents

    pipe = load_pipeline(resolve_model(args.model), device="cpu").pipe
    sigmas = [float(s) for s in args.sigmas.split(",")]
    out = {"model": args.model, "clips_per_split": args.clips, "x0_error_share": {}}
    train, held = split_scenes()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for split, scenes in (("train", train[:args.clips]), ("held_out", held[:args.clips])):
            clips = np.stack([render(s, 17, 128, 128, seed=999)[0] for s in scenes])
            z = normalized_latents(pipe.vae, clips)
            text, _ = pipe.encode_prompt([s.prompt for s in scenes], do_classifier_free_guidance=False,
                                         max_sequence_length=pipe.tokenizer.model_max_length,
                                         device=torch.device("cpu"))
            var = float(z.var())
            row = {}
            for sigma in sigmas:
                noise = torch.randn(z.shape, generator=gen)
                xt = (1 - sigma) * z + sigma * noise
                v = pipe.transformer(xt, torch.full((len(scenes),), sigma * 1000.0), text, return_dict=False)[0]
                row[str(sigma)] = round(float(((xt - sigma * v - z) ** 2).mean()) / var, 4)
            out["x0_error_share"][split] = row
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
