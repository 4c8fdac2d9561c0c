"""Training a tiny Wan text-to-video model on the synthetic scenes (groundwork for issue 5).

Stages, each resumable from safetensors checkpoints in ``OUT/checkpoints``:
1. render the training clips (``synthetic.render``) for the non-held-out scenes;
2. train AutoencoderKLWan on random crops of short windows (L1 + a small KL term);
3. encode every clip to latents (posterior mean) and set the VAE's latents_mean/std from them;
4. train WanTransformer3DModel with flow matching (x_t = (1−σ)x0 + σε, target ε − x0, shifted σ),
   prompts from the frozen tiny UMT5 encoder, the prompt dropped 10% of the time for CFG;
5. save the pipeline in ``save_pretrained`` layout with ``pdit_model.json``.

Not yet run to completion at full size: the sizes and step counts of ``TrainConfig`` are a plan.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_path, atomic_write_text


@dataclass(frozen=True)
class TrainConfig:
    out: str
    seed: int = 0
    clips: int = 1000
    frames: int = 17
    height: int = 128
    width: int = 128
    vae_steps: int = 1500
    vae_batch: int = 4
    vae_crop: int = 32
    # Full clips: a VAE trained on 5-frame windows decoded later latent chunks of a 17-frame clip at
    # ~7 dB against ~18 dB in its window (benchmarks/results/train-experiment-1.json).
    vae_window: int = 17
    vae_lr: float = 3e-4
    vae_kl_weight: float = 1e-6
    vae_base_dim: int = 8
    dit_steps: int = 1500
    dit_batch: int = 8
    dit_lr: float = 3e-4
    num_layers: int = 8
    patch: tuple[int, int, int] = (1, 1, 1)
    cfg_dropout: float = 0.1
    flow_shift: float = 3.0
    checkpoint_every: int = 200


# --- checkpoints: safetensors for tensors, JSON for the rest (no pickles) ------------------------
def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, extra: dict) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.detach().contiguous()
    meta = {"step": step, "param_groups": opt_state["param_groups"], **extra}
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta) + "\n")


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict | None:
    from safetensors.torch import load_file

    if not path.with_suffix(".json").is_file():
        return None
    meta = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta


# --- stages -------------------------------------------------------------------------------------
def render_clips(cfg: TrainConfig, progress=None) -> tuple[np.ndarray, list[str]]:
    from .synthetic import render, split_scenes

    train, _ = split_scenes()
    videos = np.empty((cfg.clips, cfg.frames, cfg.height, cfg.width, 3), np.uint8)
    prompts = []
    for i in range(cfg.clips):
        scene = train[i % len(train)]
        videos[i], _ = render(scene, cfg.frames, cfg.height, cfg.width, seed=cfg.seed * 100003 + i // len(train))
        prompts.append(scene.prompt)
        if progress:
            progress(i + 1, cfg.clips)
    return videos, prompts


def _to_vae_input(videos_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(videos_uint8).float().div_(127.5).sub_(1.0)  # [-1, 1]
    return x.permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, H, W)


def build_vae(cfg: TrainConfig):
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(base_dim=cfg.vae_base_dim, z_dim=8, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                            temperal_downsample=[False, True, True], latents_mean=[0.0] * 8, latents_std=[1.0] * 8)


def train_vae(cfg: TrainConfig, videos: np.ndarray, progress=None, log=None):
    torch.manual_seed(cfg.seed)
    vae = build_vae(cfg).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr)
    ckpt = Path(cfg.out) / "checkpoints" / "vae"
    meta = load_checkpoint(ckpt, vae, opt)
    start = meta["step"] if meta else 0
    rng = np.random.default_rng([cfg.seed, start])
    for step in range(start, cfg.vae_steps):
        idx = rng.integers(0, len(videos), cfg.vae_batch)
        t0 = rng.integers(0, cfg.frames - cfg.vae_window + 1)
        y0 = rng.integers(0, cfg.height - cfg.vae_crop + 1)
        x0 = rng.integers(0, cfg.width - cfg.vae_crop + 1)
        batch = _to_vae_input(videos[idx, t0:t0 + cfg.vae_window, y0:y0 + cfg.vae_crop, x0:x0 + cfg.vae_crop])
        post = vae.encode(batch).latent_dist
        rec = vae.decode(post.sample()).sample
        rec_loss = (rec - batch).abs().mean()
        kl = post.kl().mean()
        loss = rec_loss + cfg.vae_kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log:
            log({"stage": "vae", "step": step + 1, "l1": rec_loss.item(), "kl": kl.item()})
        if progress:
            progress(step + 1, cfg.vae_steps)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.vae_steps:
            save_checkpoint(ckpt, vae, opt, step + 1, {"config": asdict(cfg)})
    return vae.eval()


@torch.no_grad()
def encode_latents(vae, videos: np.ndarray, batch: int = 4) -> torch.Tensor:
    out = []
    for i in range(0, len(videos), batch):
        out.append(vae.encode(_to_vae_input(videos[i:i + batch])).latent_dist.mode())
    return torch.cat(out)


def vae_psnr(vae, videos: np.ndarray) -> float:
    """Reconstruction PSNR (dB, uint8 scale) of ``videos`` through the VAE (posterior mean)."""
    from .metrics import psnr

    with torch.no_grad():
        rec = vae.decode(vae.encode(_to_vae_input(videos)).latent_dist.mode()).sample
    rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
    return psnr(videos, rec)


def build_transformer(cfg: TrainConfig):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(patch_size=cfg.patch, num_attention_heads=4, attention_head_dim=32, in_channels=8,
                                 out_channels=8, text_dim=64, freq_dim=64, ffn_dim=256, num_layers=cfg.num_layers,
                                 cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=1024)


@torch.no_grad()
def prompt_embeddings(pipe, prompts: list[str], max_len: int) -> dict[str, torch.Tensor]:
    unique = sorted(set(prompts) | {""})
    embeds, _ = pipe.encode_prompt(unique, do_classifier_free_guidance=False, max_sequence_length=max_len,
                                   device=torch.device("cpu"))
    return {p: e for p, e in zip(unique, embeds)}


def train_transformer(cfg: TrainConfig, latents: torch.Tensor, prompts: list[str], embeds: dict[str, torch.Tensor],
                      progress=None, log=None):
    torch.manual_seed(cfg.seed + 1)
    model = build_transformer(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
    ckpt = Path(cfg.out) / "checkpoints" / "transformer"
    meta = load_checkpoint(ckpt, model, opt)
    start = meta["step"] if meta else 0
    rng = np.random.default_rng([cfg.seed, 1, start])
    for step in range(start, cfg.dit_steps):
        idx = rng.integers(0, len(latents), cfg.dit_batch)
        x0 = latents[idx]
        text = torch.stack([embeds["" if rng.random() < cfg.cfg_dropout else prompts[i]] for i in idx])
        u = torch.from_numpy(rng.random(cfg.dit_batch)).float()
        sigma = cfg.flow_shift * u / (1 + (cfg.flow_shift - 1) * u)  # the scheduler's shift, applied to training
        noise = torch.from_numpy(rng.standard_normal(x0.shape)).float()
        s = sigma.view(-1, 1, 1, 1, 1)
        xt = (1 - s) * x0 + s * noise
        pred = model(xt, sigma * 1000, text, return_dict=False)[0]
        loss = (pred - (noise - x0)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for g in opt.param_groups:  # linear warm-up, then cosine decay
            warm = min(1.0, (step + 1) / 100)
            g["lr"] = cfg.dit_lr * warm * (0.5 + 0.5 * math.cos(math.pi * step / max(1, cfg.dit_steps)))
        opt.step()
        if log:
            log({"stage": "transformer", "step": step + 1, "loss": loss.item()})
        if progress:
            progress(step + 1, cfg.dit_steps)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.dit_steps:
            save_checkpoint(ckpt, model, opt, step + 1, {"config": asdict(cfg)})
    return model.eval()


def train_tiny(cfg: TrainConfig, progress=None) -> Path:
    """Run every stage and write the pipeline to ``cfg.out/model``; returns that folder."""
    from .tiny import TINY_MAX_SEQUENCE_LENGTH, build_tiny_pipeline, write_model_meta

    out = Path(cfg.out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    log_path = out / "loss_log.jsonl"

    def log(record):
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def stage(name):
        return (lambda i, n: progress(name, i, n)) if progress else None

    videos, prompts = render_clips(cfg, stage("render"))
    vae = train_vae(cfg, videos, stage("vae"), log)
    latents = encode_latents(vae, videos)
    mean = latents.mean(dim=(0, 2, 3, 4))
    std = latents.std(dim=(0, 2, 3, 4)).clamp_min(1e-4)
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    latents = (latents - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1)
    pipe = build_tiny_pipeline(seed=cfg.seed)
    embeds = prompt_embeddings(pipe, prompts, TINY_MAX_SEQUENCE_LENGTH)
    transformer = train_transformer(cfg, latents, prompts, embeds, stage("transformer"), log)
    pipe.vae, pipe.transformer = vae, transformer
    pipe.register_modules(vae=vae, transformer=transformer)
    folder = out / "model"
    pipe.save_pretrained(folder, safe_serialization=True)
    write_model_meta(folder, trained=True, description=(
        f"Tiny Wan pipeline trained by profiling_dit.training on synthetic scenes ({cfg.clips} clips, "
        f"VAE {cfg.vae_steps} steps, transformer {cfg.dit_steps} steps, seed {cfg.seed})."))
    return folder


def evaluate(folder: str | Path, prompts_scenes, steps: int = 20, seed: int = 0) -> dict:
    """Judge pass rate on scenes, and VAE reconstruction PSNR on their renders (held-out clips)."""
    from .generation import GenerationSettings, generate
    from .loading import load_pipeline, resolve_model
    from .synthetic import judge, render

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


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import argparse
    import time

    from tqdm import tqdm

    ap = argparse.ArgumentParser(description="Train the tiny Wan model on synthetic scenes (resumable).")
    ap.add_argument("--out", required=True)
    for name, field_ in TrainConfig.__dataclass_fields__.items():
        if name not in ("out", "patch"):
            ap.add_argument("--" + name.replace("_", "-"), type=type(field_.default), default=field_.default)
    ap.add_argument("--eval-prompts", type=int, default=8)
    args = vars(ap.parse_args())
    n_eval = args.pop("eval_prompts")
    cfg = TrainConfig(**args)
    bars: dict[str, tqdm] = {}

    def progress(name, i, n):
        bar = bars.setdefault(name, tqdm(total=n, desc=name))
        bar.n = i
        bar.refresh()

    t0 = time.time()
    folder = train_tiny(cfg, progress)
    for bar in bars.values():
        bar.close()
    from .synthetic import split_scenes

    result = evaluate(folder, split_scenes()[1][:n_eval])
    result["train_seconds"] = time.time() - t0
    atomic_write_text(Path(cfg.out) / "eval.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "verdicts"}))
