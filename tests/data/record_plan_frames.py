# Records the "plans" section of tests/data/reference-frames.json: frame hashes of planned, calibrated, paper and
# TeaCache runs of the embedded model, made with the library as it stood before one plan type (commit 857855c,
# `profile.config(...)`), kept to show how they were made. Run: python tests/data/record_plan_frames.py OUT.json
import hashlib, json, sys, warnings
import numpy as np, torch
torch.set_num_threads(2)
warnings.simplefilter("ignore")
import profiling_dit as pdit
from profiling_dit.accelerate.sampling import generate_cached
from profiling_dit.bench.methods.teacache import apply_teacache, remove_teacache, TeaCacheConfig
def h(frames): return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()
model = pdit.load_pipeline("tiny", device="cpu")
prof = pdit.Profile.load(pdit.shipped_profile("tiny"))
deep = pdit.Profile.load(pdit.shipped_profile("tiny-deep"))
out = {}
g = lambda steps: pdit.GenerationSettings(prompt="a red circle moving right over grass", steps=steps, height=64, width=64, frames=9, seed=3)
for steps, kw in ((20, {}), (20, {"budget": 0.35}), (30, {"budget": 0.4}), (20, {"budget": 0.42}), (12, {"budget": 0.5}),
                  (20, {"schedule": "paper", "reuse": "foreground"}), (20, {"schedule": "inverse"}),
                  (20, {"background_share": 0.5, "budget": 0.6}), (20, {"schedule": "paper", "tau": 0.3}),
                  (20, {"speedup": 1.5})):
    cfg = prof.config(steps=steps, **kw)
    r, s = generate_cached(model, g(steps), cfg)
    key = f"tiny-{steps}-" + ",".join(f"{k}={v}" for k, v in sorted(kw.items()))
    out[key] = {"hash": h(r.frames), "full": s["full_compute_steps"], "cached": s["cached_blocks"], "share": s["computed_share"]}
    print(key, out[key]["full"], out[key]["cached"], flush=True)
# teacache
t = model.pipe.transformer
apply_teacache(t, TeaCacheConfig(threshold=0.2, coefficients=(1.0, 0.0), num_inference_steps=20))
try:
    r = pdit.generate(model, g(20))
finally:
    remove_teacache(t)
out["teacache-0.2-linear"] = {"hash": h(r.frames)}
json.dump(out, open(sys.argv[1], "w"), indent=1)
