"""Real-size run on a GPU: the Wan2.1-1.3B transformer (random weights) at 480p x 81 frames.

No weights can be downloaded where this runs, so the transformer is built from Wan2.1-T2V-1.3B's
config with random weights and driven by the same denoising loop as ``WanPipeline`` (UniPC flow
scheduler, CFG with cond/uncond ``cache_context`` calls, random text embeddings in place of UMT5's).
Random weights make the attention maps and the split meaningless; what this measures is cost:
transformer time and peak memory of stock sampling, of profiling, and of ProfilingDiT caching,
through the library's own code paths.

    python benchmarks/gpu_wan_1_3b.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

WAN21_T2V_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)


def log(results, out, key, value):
    results[key] = value
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(key, json.dumps(value, default=str)[:600], flush=True)


def denoise(transformer, latents0, cond, uncond, steps, guidance=5.0):
    from diffusers import UniPCMultistepScheduler

    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                    num_train_timesteps=1000)
    sched.set_timesteps(steps, device=latents0.device)
    latents = latents0.clone()
    calls = []
    for i, t in enumerate(sched.timesteps):
        ts = t.expand(latents.shape[0])
        preds = {}
        for name, emb in (("cond", cond), ("uncond", uncond)):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            with transformer.cache_context(name, step_index=i, num_inference_steps=steps):
                preds[name] = transformer(hidden_states=latents.to(transformer.dtype), timestep=ts,
                                          encoder_hidden_states=emb, return_dict=False)[0]
            torch.cuda.synchronize()
            calls.append(time.perf_counter() - t0)
        noise = preds["uncond"] + guidance * (preds["cond"] - preds["uncond"])
        latents = sched.step(noise, t, latents, return_dict=False)[0]
    from profiling_dit.accelerate.hooks import cache_bytes

    held = cache_bytes(transformer)  # read before the reset, as the pipeline would drop it
    transformer._reset_stateful_cache()
    return latents, calls, held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--profile-every", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--layers", type=int, default=30, help="fewer blocks for a quick smoke test")
    ap.add_argument("--profile-only", action="store_true", help="measure profiling costs only, skip caching")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from diffusers import WanTransformer3DModel

    from profiling_dit.profile.attention import AttentionRecorder, attention_capture, extra_memory_bytes
    from profiling_dit.accelerate.hooks import ProfilingDiTConfig, apply_profiling_dit, compile_blocks, \
        remove_profiling_dit
    from profiling_dit.environment import library_versions
    from profiling_dit.accelerate.plan import computed_share, implied_speedup, runs_of
    from profiling_dit.models import arch_for
    from profiling_dit.profile.scoring import r_attn, split_blocks, suggest_schedule
    from profiling_dit.profile.segmentation import PcaOtsuSegmenter, pca_rgb, to_token_grid
    from profiling_dit.pipeline.timing import attach_block_timers, detach_block_timers

    results = {"args": vars(args), "gpu": torch.cuda.get_device_name(), "versions": library_versions()}
    dev = torch.device("cuda")
    torch.manual_seed(0)
    with torch.device(dev):
        tr = WanTransformer3DModel(**{**WAN21_T2V_1_3B, "num_layers": args.layers})
    tr = tr.to(torch.bfloat16).eval().requires_grad_(False)
    arch = arch_for(tr)
    lat_f = (args.frames - 1) // 4 + 1
    latents = torch.randn(1, 16, lat_f, args.height // 8, args.width // 8, device=dev, generator=torch.Generator(dev).manual_seed(0))
    cond = torch.randn(1, 512, 4096, device=dev, dtype=torch.bfloat16)
    uncond = torch.randn(1, 512, 4096, device=dev, dtype=torch.bfloat16)
    grid = (lat_f, args.height // 16, args.width // 16)
    tokens = int(np.prod(grid))
    log(results, out, "setup", {"tokens": tokens, "token_grid": grid, "params_M": sum(p.numel() for p in tr.parameters()) / 1e6,
                                "weights_GiB": torch.cuda.memory_allocated() / 2**30})

    with torch.inference_mode():
        denoise(tr, latents, cond, uncond, 2)  # warm-up
        # one call: stock vs profiled peak memory
        torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        denoise(tr, latents, cond, uncond, 1)
        stock_peak = torch.cuda.max_memory_allocated() - base
        rec = AttentionRecorder(args.layers, "cond", {0}, 5.0, args.chunk_size, 1, {0})
        torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        with attention_capture(tr, arch, rec):
            _, prof_calls, _ = denoise(tr, latents, cond, uncond, 1)
        prof_peak = torch.cuda.max_memory_allocated() - base
        log(results, out, "memory_one_step", {
            "stock_peak_extra_GiB": stock_peak / 2**30, "profiled_peak_extra_GiB": prof_peak / 2**30,
            "profiling_adds_GiB": (prof_peak - stock_peak) / 2**30,
            "formula_GiB": extra_memory_bytes(1, 12, tokens, 128, args.chunk_size) / 2**30,
            "max_allocated_total_GiB": torch.cuda.max_memory_allocated() / 2**30,
            "profiled_cond_call_s": prof_calls[0], "profiled_uncond_call_s": prof_calls[1]})

        # one profiled cond call per (chunk, stride) variant: time and peak memory
        variants = {}
        for chunk, stride in ((1024, 1), (4096, 1), (1024, 4)):
            rec = AttentionRecorder(args.layers, "cond", {0}, 5.0, chunk, stride, set())
            torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
            with attention_capture(tr, arch, rec):
                _, c, _ = denoise(tr, latents, cond, uncond, 1)
            variants[f"chunk{chunk}_stride{stride}"] = {
                "cond_call_s": c[0], "peak_extra_GiB": (torch.cuda.max_memory_allocated() - base) / 2**30,
                "formula_GiB": extra_memory_bytes(1, 12, tokens, 128, chunk, stride) / 2**30}
        log(results, out, "profiled_call_variants", variants)

        # block share of transformer time, from 2 stock steps with per-block timers
        blocks = arch.blocks(tr)
        timers = attach_block_timers(blocks, dev)
        _, calls, _ = denoise(tr, latents, cond, uncond, 2)
        detach_block_timers(blocks)
        block_share = sum(h.total_s for h in timers) / sum(calls)
        log(results, out, "block_time_share", block_share)

        # stock sampling
        t0 = time.perf_counter()
        stock_latents, stock_calls, _ = denoise(tr, latents, cond, uncond, args.steps)
        log(results, out, "stock", {"transformer_s": sum(stock_calls), "wall_s": time.perf_counter() - t0,
                                    "per_call_s": float(np.median(stock_calls))})

        # profiling run (every K-th step), with the library's recorder
        steps_rec = set(range(0, args.steps, args.profile_every))
        rec = AttentionRecorder(args.layers, "cond", steps_rec, 5.0, args.chunk_size, 1, {args.steps - 1})
        t0 = time.perf_counter()
        with attention_capture(tr, arch, rec):
            _, prof_calls, _ = denoise(tr, latents, cond, uncond, args.steps)
        prof_wall = time.perf_counter() - t0
        rgb = pca_rgb(rec.kept_predictions[args.steps - 1])
        mask = to_token_grid(PcaOtsuSegmenter()(rgb), grid)
        matrix = np.zeros((args.layers, len(steps_rec)))
        order = sorted(steps_rec)
        for (b, s), abar in rec.abar.items():
            matrix[b, order.index(s)] = r_attn(abar.numpy(), mask)
        scores = np.nan_to_num(matrix).mean(axis=1)
        tau, fg, bg = split_blocks(scores, background_share=0.75)
        sched = suggest_schedule(rec.rel_l1, args.steps)
        log(results, out, "profile", {"transformer_s": sum(prof_calls), "wall_s": prof_wall,
                                      "ratio_to_stock_transformer": sum(prof_calls) / sum(stock_calls),
                                      "profiled_steps": len(steps_rec), "foreground_share": float(mask.mean()),
                                      "background_blocks": bg, "schedule": sched})

        if args.profile_only:
            return 0
        config = ProfilingDiTConfig(num_blocks=args.layers, background_blocks=tuple(bg), warmup=sched["warmup"],
                                    interval_max=sched["interval_max"], interval_min=sched["interval_min"])
        share = computed_share(config.plan(args.steps))
        apply_profiling_dit(tr, config)
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        cached_latents, cached_calls, held = denoise(tr, latents, cond, uncond, args.steps)
        wall = time.perf_counter() - t0
        remove_profiling_dit(tr)
        diff = (cached_latents.float() - stock_latents.float()).abs().mean() / stock_latents.float().abs().mean()
        log(results, out, "cached", {
            "config": config.to_dict(), "computed_share": share,
            "transformer_s": sum(cached_calls), "wall_s": wall,
            "transformer_speedup": sum(stock_calls) / sum(cached_calls),
            "implied_speedup": implied_speedup(block_share, share),
            "measured_over_implied": (sum(stock_calls) / sum(cached_calls)) / implied_speedup(block_share, share),
            "cache_GiB": {k: v / 2**30 for k, v in held.items()},
            "cache_GiB_formula": len(runs_of(bg)) * tokens * 1536 * 2 / 2**30,
            "final_latent_relative_L1_vs_stock": float(diff)})

        if args.compile:
            compile_blocks(tr)
            apply_profiling_dit(tr, config)
            t0 = time.perf_counter()
            denoise(tr, latents, cond, uncond, 3)
            compile_s = time.perf_counter() - t0
            _, ccalls, _ = denoise(tr, latents, cond, uncond, args.steps)
            remove_profiling_dit(tr)
            log(results, out, "cached_compiled", {"first_3_steps_s_incl_compile": compile_s,
                                                  "transformer_s": sum(ccalls),
                                                  "speedup_vs_stock_eager": sum(stock_calls) / sum(ccalls)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
