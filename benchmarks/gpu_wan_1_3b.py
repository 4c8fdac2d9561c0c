"""Real-size run: a stock ``WanPipeline`` with Wan2.1-T2V-1.3B's transformer and VAE at random weights, at
480p x 81 frames (on a GPU; ``--layers``/sizes make a CPU smoke test).

No weights can be downloaded where this runs, so the transformer and the VAE are built from Wan2.1-1.3B's
configs with random weights, and the text encoder is a one-layer UMT5 of the real width (4096) over the
embedded model's word tokenizer, padded to Wan's 512 tokens. Random weights make the attention maps and
the split meaningless; what this measures is cost, through the library's own calls: stock generation,
``profile_model`` (time and peak memory), the share of transformer time spent in blocks, and
``generate_cached`` with the measured profile (speedup against stock, against the speedup its computed
share implies, and the delta cache's size).

    python benchmarks/gpu_wan_1_3b.py --out DIR
    python benchmarks/gpu_wan_1_3b.py --device cpu --layers 2 --frames 5 --height 64 --width 64 --steps 4 --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

WAN21_T2V_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)


def random_wan_pipeline(layers: int, dtype: torch.dtype, device: torch.device):
    """A stock WanPipeline of Wan2.1-1.3B's shapes with random weights (seeded)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from profiling_dit.embedded.tiny import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=4096, d_kv=64, d_ff=1024,
                                               num_layers=1, num_heads=8, pad_token_id=0, eos_token_id=1))
    pipe = WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=AutoencoderKLWan(),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                          num_train_timesteps=1000),
        transformer=WanTransformer3DModel(**{**WAN21_T2V_1_3B, "num_layers": layers}))
    pipe.vae.to(torch.float32)
    for name in ("text_encoder", "transformer"):
        getattr(pipe, name).to(dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--profile-every", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=30, help="fewer blocks for a quick smoke test")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import profiling_dit as pdit
    from profiling_dit.plan import implied_speedup
    from profiling_dit.environment import device_info, library_versions
    from profiling_dit.pipeline.loading import LoadedModel
    from profiling_dit.pipeline.generation import block_time_share

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    model = LoadedModel.from_pipe(random_wan_pipeline(args.layers, dtype, dev), model_ref="wan2.1-1.3b-random")
    results = {"args": vars(args), "environment": {**device_info(dev), "versions": library_versions()}}

    def log(key, value):
        results[key] = value
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        print(key, json.dumps(value, default=str)[:600], flush=True)

    def peak(fn):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
        return value, seconds, (torch.cuda.max_memory_allocated() / 2**30 if cuda else None)

    gen = pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=args.steps, frames=args.frames,
                                  height=args.height, width=args.width, guidance=5.0)
    log("setup", {"params_M": sum(p.numel() for p in model.pipe.transformer.parameters()) / 1e6,
                  "weights_GiB": torch.cuda.memory_allocated() / 2**30 if cuda else None})
    pdit.generate(model, pdit.GenerationSettings(prompt="warm-up", steps=2, frames=args.frames, height=args.height,
                                                 width=args.width))
    stock, secs, mem = peak(lambda: pdit.generate(model, gen))
    log("stock", {"transformer_s": stock.timings.transformer_s, "wall_s": secs, "peak_GiB": mem})

    settings = pdit.ProfileSettings(every=args.profile_every, chunk_size=args.chunk_size)
    profile, secs, mem = peak(lambda: pdit.profile_model(model, [gen.prompt], settings, steps=args.steps,
                                                         frames=args.frames, height=args.height, width=args.width))
    transformer_s = profile.run.transformer_s[0]
    log("profile", {"wall_s": secs, "transformer_s": transformer_s, "peak_GiB": mem,
                    "transformer_time_over_stock": transformer_s / stock.timings.transformer_s,
                    "profiled_steps": len(profile.run.profiled_steps),
                    "background_blocks": list(profile.split.background_blocks),
                    "schedule": [profile.schedule.warmup, profile.schedule.interval_max, profile.schedule.interval_min]})
    profile.save(out / "profile.json")

    share = block_time_share(model, pdit.GenerationSettings(prompt=gen.prompt, steps=2, frames=args.frames,
                                                           height=args.height, width=args.width))
    log("block_time_share", share)
    plans = pdit.make_plans(model, profile, gen.steps)
    (cached, summary), secs, mem = peak(lambda: pdit.generate_cached(model, gen, plans, compile=args.compile))
    speedup = stock.timings.transformer_s / cached.timings.transformer_s
    implied = implied_speedup(share, summary["computed_share"])
    log("cached", {"computed_share": summary["computed_share"], "full_compute_steps": summary["full_compute_steps"],
                   "transformer_s": cached.timings.transformer_s, "wall_s": secs, "peak_GiB": mem,
                   "transformer_speedup": speedup, "implied_speedup": implied,
                   "measured_over_implied": speedup / implied, "compiled": args.compile,
                   "cache_GiB": {k: v / 2**30 for k, v in summary["cache_bytes"].items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
