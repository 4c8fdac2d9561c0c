"""Every stage in order (``train_tiny``), and the judging of a trained model (``evaluate``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig
from .data import encode_latents, prompt_embeddings, render_clips, vae_psnr
from .transformer import train_transformer


def train_tiny(cfg: TrainConfig, progress=None) -> Path:
    """Run every stage and write the pipeline to ``cfg.out/model``; returns that folder."""
    from profiling_dit.embedded.tiny import TINY_MAX_SEQUENCE_LENGTH, build_tiny_pipeline, write_model_meta

    out = Path(cfg.out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    log_path = out / "loss_log.jsonl"

    def log(record):
        with open(log_path, "a") as f:
            f.write(json.dumps({**record, "time": round(time.time(), 2)}) + "\n")

    def stage(name):
        return (lambda i, n, note="": progress(name, i, n, note)) if progress else None

    videos, prompts, foreground = render_clips(cfg, stage("render"))
    pipe = build_tiny_pipeline(seed=cfg.seed, num_layers=cfg.num_layers, arch=cfg.arch)  # the pooling VAE
    vae = pipe.vae
    latents = encode_latents(vae, videos, progress=stage("encode"))
    del videos
    mean = latents.mean(dim=(0, 2, 3, 4))
    std = latents.std(dim=(0, 2, 3, 4)).clamp_min(1e-4)
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    latents = (latents - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1)
    embeds = prompt_embeddings(pipe, prompts, TINY_MAX_SEQUENCE_LENGTH)
    transformer = train_transformer(cfg, latents, prompts, embeds, torch.from_numpy(foreground),
                                    stage("transformer"), log)
    pipe.register_modules(transformer=transformer)
    folder = out / "model"
    pipe.save_pretrained(folder, safe_serialization=True)
    write_model_meta(folder, trained=True, description=(
        f"Tiny Wan pipeline trained by the repository's tools/train_embedded on synthetic scenes ({cfg.clips} "
        f"clips, constructed mean-pooling VAE, transformer {cfg.dit_image_steps} image + {cfg.dit_steps} video "
        f"steps, seed {cfg.seed})."))
    return folder


def evaluate(folder: str | Path, prompts_scenes, steps: int = 20, seed: int = 0) -> dict:
    """Judge pass rate on scenes, and VAE reconstruction PSNR on their renders (held-out clips)."""
    from profiling_dit.embedded.synthetic import judge, render
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    model = load_pipeline(resolve_model(str(folder)), device="cpu")
    verdicts = []
    for scene in prompts_scenes:
        frames = generate(model, GenerationSettings(prompt=scene.prompt, steps=steps, seed=seed)).frames[0]
        v = judge(frames, scene)
        verdicts.append({"prompt": scene.prompt, "passed": v.passed, "color_ok": v.color_ok, "motion_ok": v.motion_ok,
                         "background_ok": v.background_ok, "detected_color": v.detected_color,
                         "detected_background": v.detected_background})
    clips = np.stack([render(s, 17, 128, 128, seed=999)[0] for s in prompts_scenes[:4]])
    return {"pass_rate": float(np.mean([v["passed"] for v in verdicts])), "verdicts": verdicts,
            "vae_psnr_held_out": vae_psnr(model.pipe.vae, clips)}


def transformer_seconds(log_path: Path) -> float:
    """Seconds from the first to the last transformer step in a loss log, pauses between resumed runs left out
    (a gap of over 10 minutes between two steps counts as one median step)."""
    if not log_path.exists():
        return 0.0
    times = [json.loads(line)["time"] for line in log_path.read_text().splitlines() if '"transformer"' in line]
    if len(times) < 2:
        return 0.0
    gaps = np.diff(np.array(times, dtype=float))
    typical = float(np.median(gaps))
    return float(np.where(gaps > 600, typical, gaps).sum())
