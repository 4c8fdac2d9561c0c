# Records tests/data/reference-frames.json: frame hashes of the embedded model, stock and cached, made with
# the library as it stood before the library-first layout (commit 43a2219). Kept to show how they were made.
import hashlib, json, torch, numpy as np
torch.set_num_threads(2)
from profiling_dit.loading import load_pipeline, resolve_model
from profiling_dit.generation import GenerationSettings, generate
from profiling_dit.cache import ProfilingDiTConfig
from profiling_dit.profile_file import load_profile
from profiling_dit.sampling import generate_cached
model = load_pipeline(resolve_model("tiny"), device="cpu")
prof = load_profile("profiles/tiny-wan.json")
out = {"recorded_with": {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}, "cases": {}}
def h(frames): return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()
for steps in (20, 10, 30):
    g = GenerationSettings(prompt="a red circle moving right over grass", steps=steps, height=64, width=64, frames=9, seed=3)
    if steps == 20:
        r = generate(model, g); out["cases"]["stock-20"] = h(r.frames)
    cfg = ProfilingDiTConfig.from_profile(prof, steps=steps)
    r, s = generate_cached(model, g, cfg)
    out["cases"][f"cached-{steps}"] = h(r.frames)
    out["cases"][f"cached-{steps}-full-steps"] = s["full_compute_steps"]
print(json.dumps(out, indent=1))
