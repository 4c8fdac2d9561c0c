"""Context parallelism, 1 to N processes: stock and ProfilingDiT sampling through `pdit generate`
(`--context-parallel ulysses` under torch's launcher for N > 1), with transformer time per step and peak
memory per rank from the run reports, and whether the frames match the one-process run.

    python benchmarks/scaling.py --nproc 1,2 --out benchmarks/results/scaling-tiny-cpu          # CPU, gloo
    python benchmarks/scaling.py --model wan2.1 --height 480 --width 832 --frames 81 --steps 50 --nproc 1 --out DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--profile", default=None, help="default: the shipped profile of the embedded model")
    ap.add_argument("--nproc", default="1,2")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--budget", type=float, default=0.5)
    ap.add_argument("--out", required=True, help="output stem: writes STEM.json and STEM.md")
    args = ap.parse_args(argv)

    import profiling_dit as pdit
    from profiling_dit._io import atomic_write_text

    profile = args.profile or str(pdit.shipped_profile("tiny"))
    rows = []
    frames_one = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.nproc.split(",")):
            for cached in (False, True):
                out, report = Path(tmp) / f"v{n}{cached}.npy", Path(tmp) / f"r{n}{cached}.json"
                cmd = ["generate", "--model", args.model, "--prompt", "a red circle moving right over grass",
                       "--steps", args.steps, "--height", args.height, "--width", args.width, "--frames", args.frames,
                       "--out", out, "--report", report]
                if cached:
                    cmd += ["--profile", profile, "--budget", args.budget]
                if n > 1:
                    cmd += ["--context-parallel", "ulysses", "--nproc", n]
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "profiling_dit.cli", *map(str, cmd)], capture_output=True,
                                      text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-2000:]}")
                rep = json.loads(report.read_text())
                frames = np.load(out)
                key = "cached" if cached else "stock"
                if n == 1:
                    frames_one[key] = frames
                par = rep.get("parallel", {})
                rows.append({
                    "processes": n, "sampling": key,
                    "transformer_s_per_step": rep["timings"]["transformer_s"] / args.steps,
                    "command_wall_s": wall,
                    "peak_memory_gib_per_rank": [b / 2**30 for b in par.get("peak_memory_bytes_per_rank",
                                                                           [rep["peak_memory_bytes"]])],
                    "cache_mib_per_rank": [sum((c or {}).values()) / 2**20 for c in par.get(
                        "cache_bytes_per_rank", [rep.get("profiling_dit", {}).get("cache_bytes")])],
                    "max_abs_frame_difference_to_one_process": int(np.abs(frames.astype(int)
                                                                          - frames_one[key].astype(int)).max()),
                    "computed_share": rep.get("profiling_dit", {}).get("computed_share", 1.0),
                })
                print(json.dumps(rows[-1]), flush=True)
    result = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "settings": vars(args),
              "rows": rows}
    stem = Path(args.out)
    atomic_write_text(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    lines = ["| processes | sampling | transformer s / step | peak memory per rank (GiB) | delta cache per rank (MiB) | "
             "max frame difference to 1 process |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['processes']} | {r['sampling']} | {r['transformer_s_per_step']:.3f} | "
                     f"{', '.join(f'{m:.2f}' for m in r['peak_memory_gib_per_rank']) or '–'} | "
                     f"{', '.join(f'{m:.2f}' for m in r['cache_mib_per_rank']) or '–'} | "
                     f"{r['max_abs_frame_difference_to_one_process']} |")
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
