"""What profiling costs: time against a plain generation, and the attention-score memory.

1. Time: a plain generation and a profiled one (every step, chunk 1024) at the same settings,
   interleaved after a warm-up, medians.
2. Memory: ``received_attention`` alone at a given token count (default: Wan2.1 at 480p x 81 frames,
   32,760 tokens, 12 heads x 128), run in a fresh subprocess; the peak resident memory it adds
   (ru_maxrss after − RSS before) against the formula in ``profiling_dit.profile.attention``.

    python benchmarks/bench_profile.py --out benchmarks/results/profile-tiny-cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

_MEMORY_CHILD = r"""
import json, resource, sys, torch
from profiling_dit.profile.attention import received_attention, extra_memory_bytes
heads, tokens, dim, chunk, dtype = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
dt = getattr(torch, dtype)
torch.manual_seed(0)
q = torch.randn(1, heads, tokens, dim, dtype=dt); k = torch.randn(1, heads, tokens, dim, dtype=dt)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
received_attention(q[:, :, :64], k[:, :, :64], chunk_size=chunk)  # load kernels and thread pools first
before = rss()
import time; t0 = time.perf_counter()
a = received_attention(q, k, chunk_size=chunk)
secs = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"measured_extra_bytes": peak - before, "seconds": secs,
                  "formula_bytes": extra_memory_bytes(1, heads, tokens, dim, chunk, half_precision=dt != torch.float32),
                  "sum_check": float(a.sum())}))
"""


def measure_memory(heads: int, tokens: int, dim: int, chunk: int, dtype: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(heads), str(tokens), str(dim), str(chunk), dtype],
                          capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update({"heads": heads, "tokens": tokens, "head_dim": dim, "chunk_size": chunk, "dtype": dtype})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory-tokens", type=int, default=32760)
    ap.add_argument("--memory-heads", type=int, default=12)
    ap.add_argument("--memory-head-dim", type=int, default=128)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from profiling_dit._io import atomic_write_text
    from profiling_dit.environment import device_info, library_versions
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model
    from profiling_dit.profile.measure import ProfileSettings, measure_prompt

    model = load_pipeline(resolve_model(args.model), device="auto")
    gen = GenerationSettings(prompt="a red circle moving right over grass", steps=args.steps, frames=args.frames,
                             height=args.height, width=args.width)
    ps = ProfileSettings(chunk_size=args.chunk_size)
    generate(model, GenerationSettings(prompt="warm-up", steps=2, frames=args.frames, height=args.height,
                                       width=args.width))
    plain, profiled, plain_tr, prof_tr = [], [], [], []
    for _ in range(args.repeats):
        r = generate(model, gen)
        plain.append(r.timings.total_s)
        plain_tr.append(r.timings.transformer_s)
        t0 = time.perf_counter()
        m = measure_prompt(model, gen, ps)
        profiled.append(time.perf_counter() - t0)  # includes PCA, segmentation and R_attn
        prof_tr.append(m.transformer_s)
    mem = measure_memory(args.memory_heads, args.memory_tokens, args.memory_head_dim, args.chunk_size, "float32")
    result = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "settings": vars(args),
        "plain_total_s": statistics.median(plain), "profiled_total_s": statistics.median(profiled),
        "plain_transformer_s": statistics.median(plain_tr), "profiled_transformer_s": statistics.median(prof_tr),
        "time_ratio": statistics.median(profiled) / statistics.median(plain),
        "memory": mem,
        "environment": {**device_info(model.device), "versions": library_versions()},
    }
    stem = Path(args.out)
    atomic_write_text(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    md = (f"Profiling cost on {args.model} ({args.frames} frames, {args.height}x{args.width}, {args.steps} steps, CFG): "
          f"plain {result['plain_total_s']:.1f} s, profiled {result['profiled_total_s']:.1f} s "
          f"(x{result['time_ratio']:.2f}; transformer {result['plain_transformer_s']:.1f} s -> "
          f"{result['profiled_transformer_s']:.1f} s).\n\n"
          f"Attention-score memory at {mem['tokens']} tokens, {mem['heads']} heads x {mem['head_dim']}, chunk "
          f"{mem['chunk_size']} ({mem['dtype']}): measured peak extra {mem['measured_extra_bytes'] / 2**30:.2f} GiB, "
          f"formula {mem['formula_bytes'] / 2**30:.2f} GiB, {mem['seconds']:.1f} s.")
    atomic_write_text(stem.with_suffix(".md"), md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
