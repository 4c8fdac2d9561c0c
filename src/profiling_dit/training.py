"""Training a tiny Wan text-to-video model on the synthetic scenes (groundwork for issue 5).

Stages, each resumable from safetensors checkpoints in ``OUT/checkpoints``:
1. render the training clips (``synthetic.render``) for the non-held-out scenes;
2. train AutoencoderKLWan on random crops of short windows (L1 + a small KL term);
3. encode every clip to latents (posterior mean) and set the VAE's latents_mean/std from them;
4. train WanTransformer3DModel with flow matching (x_t = (1−σ)x0 + σε, target ε − x0, shifted σ),
   prompts from the frozen tiny UMT5 encoder, the prompt dropped 10% of the time for CFG;
5. save the pipeline in ``save_pretrained`` layout with ``pdit_model.json``.

The architecture to train is ``TRAINED_TRANSFORMER_CONFIG`` / ``TRAINED_VAE_CONFIG`` below; it
replaces the configs in ``tiny.py`` once a trained model is shipped. Choices made to fit 90 minutes on 2 CPU cores, with a
small model that still learns to draw the object: the loss is weighted up on the foreground's
latent cells (the object covers ~5% of the frame and is otherwise learned last), the transformer's
weights are averaged (EMA) and the average is what is saved, and learning rates warm up then
decay along a cosine.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_path, atomic_write_text


@dataclass(frozen=True)
class TrainConfig:
    out: str
    seed: int = 0
    clips: int = 2000
    frames: int = 17
    height: int = 128
    width: int = 128
    vae_steps: int = 3000
    vae_batch: int = 2
    vae_crop: int = 64
    # Curriculum: the loss sits on a plateau (flat colours, L1 ~0.28) until the encoder's latents start
    # to carry the picture; on 5-frame windows it leaves the plateau after ~350 steps (train-experiment-1),
    # on 17-frame windows after ~1,500. So: short windows first (batch 4), then full 17-frame clips,
    # because a VAE trained only on 5-frame windows decodes later latent chunks at ~7 dB.
    vae_short_steps: int = 2100
    vae_short_window: int = 5
    vae_window: int = 17
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    # Objects are ~5% of the pixels: unweighted, the 4x VAE learned backgrounds and dropped objects
    # (error 94/255 on object pixels of held-out clips); weight 5 halved that in as many steps, and
    # weight 8 over 3,000 steps brought it to 38 (benchmarks/results/train-experiment-3.json).
    vae_foreground_weight: float = 8.0
    dit_steps: int = 1500
    dit_batch: int = 8
    # Image pre-training: the first steps train on latent frame 0 alone (the VAE encodes pixel frame 0
    # by itself, so it is an image latent), 7x cheaper a step than 5 latent frames, to learn layout,
    # colour and background before the video steps learn motion. 0 turns it off.
    dit_image_steps: int = 0
    dit_image_batch: int = 8
    dit_lr: float = 6e-4
    dit_warmup: int = 200
    ema_decay: float = 0.998
    # Loss weight of a latent cell = 1 + foreground_weight x (share of its pixels that are foreground).
    foreground_weight: float = 4.0
    num_layers: int | None = None  # None: the shipped model's block count (tests train fewer)
    cfg_dropout: float = 0.1
    flow_shift: float = 3.0
    checkpoint_every: int = 200


# Patch (1, 2, 2) on the VAE's 32x32 latent of a 128x128 frame: 256 video tokens per latent frame,
# so foreground and background are resolved. Two heads of 32 keep a training step on 2 CPU cores near
# 1.1-1.3 s for a batch of 8 clips of 17 frames (4 heads: 2.3 s).
TRAINED_TRANSFORMER_CONFIG = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=8, out_channels=8, text_dim=64,
    freq_dim=64, ffn_dim=256, num_layers=8, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
    rope_max_seq_len=1024,
)
# 4x spatial compression (two down-sampling levels, both also temporal: 17 frames -> 5 latent frames).
# With 8x (three levels) the VAE sat on a flat-colour plateau for 600-1,800 steps; with 4x it left it
# after ~650 steps of 5-frame crops at lr 1e-3 (L1 0.145 at 900; benchmarks/results/train-experiment-2.json).
TRAINED_VAE_CONFIG = dict(
    base_dim=8, z_dim=8, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True], scale_factor_spatial=4,
    latents_mean=[0.0] * 8, latents_std=[1.0] * 8,
)


# --- checkpoints: safetensors for tensors, JSON for the rest (no pickles) ------------------------
def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, extra: dict,
                    ema: dict[str, torch.Tensor] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for k, v in (ema or {}).items():
        tensors[f"ema.{k}"] = v.detach().contiguous()
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.detach().contiguous()
    meta = {"step": step, "param_groups": opt_state["param_groups"], **extra}
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta) + "\n")


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    ema: dict[str, torch.Tensor] | None = None) -> dict | None:
    """Restore ``model``, ``opt`` (and the ``ema`` tensors, in place) from ``path``; None if absent."""
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
    for k, v in (ema or {}).items():
        v.copy_(tensors[f"ema.{k}"])
    return meta


# --- stages -------------------------------------------------------------------------------------
def latent_foreground(masks: np.ndarray, spatial: int = 8, temporal: int = 4) -> np.ndarray:
    """Share of foreground pixels in each latent cell, (T', H/spatial, W/spatial) for masks (T, H, W).

    Latent frame 0 covers pixel frame 0; latent frame k covers frames 4k-3 .. 4k (the Wan VAE's
    causal chunks); a cell's share is the mean over its frames and pixels.
    """
    t, h, w = masks.shape
    groups = [masks[:1]] + [masks[1 + temporal * k: 1 + temporal * (k + 1)] for k in range((t - 1) // temporal)]
    out = np.stack([g.reshape(len(g), h // spatial, spatial, w // spatial, spatial).mean(axis=(0, 2, 4))
                    for g in groups])
    return out.astype(np.float32)


def render_clips(cfg: TrainConfig, progress=None) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(videos uint8 (N, T, H, W, 3), prompts, foreground share per latent cell (N, T', H/s, W/s),
    pixel masks bool (N, T, H, W))."""
    from .synthetic import render, split_scenes

    train, _ = split_scenes()
    videos = np.empty((cfg.clips, cfg.frames, cfg.height, cfg.width, 3), np.uint8)
    masks = np.empty((cfg.clips, cfg.frames, cfg.height, cfg.width), bool)
    prompts, fg = [], []
    for i in range(cfg.clips):
        scene = train[i % len(train)]
        videos[i], masks[i] = render(scene, cfg.frames, cfg.height, cfg.width, seed=cfg.seed * 100003 + i // len(train))
        fg.append(latent_foreground(masks[i], spatial=2 ** (len(TRAINED_VAE_CONFIG["dim_mult"]) - 1)))
        prompts.append(scene.prompt)
        if progress:
            progress(i + 1, cfg.clips)
    return videos, prompts, np.stack(fg), masks


def _to_vae_input(videos_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(videos_uint8).float().div_(127.5).sub_(1.0)  # [-1, 1]
    return x.permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, H, W)


def build_vae(cfg: TrainConfig):
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(**TRAINED_VAE_CONFIG)


def _cosine_lr(base: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% of ``base``."""
    warm = min(1.0, (step + 1) / max(1, warmup))
    return base * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * step / max(1, total))))


def train_vae(cfg: TrainConfig, videos: np.ndarray, progress=None, log=None, masks: np.ndarray | None = None):
    """Train the VAE on crops; with ``masks``, object pixels weigh 1 + ``vae_foreground_weight`` in the loss."""
    torch.manual_seed(cfg.seed)
    vae = build_vae(cfg).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr)
    ckpt = Path(cfg.out) / "checkpoints" / "vae"
    meta = load_checkpoint(ckpt, vae, opt)
    start = meta["step"] if meta else 0
    rng = np.random.default_rng([cfg.seed, start])
    for step in range(start, cfg.vae_steps):
        short = step < cfg.vae_short_steps
        window = min(cfg.frames, cfg.vae_short_window if short else cfg.vae_window)
        idx = rng.integers(0, len(videos), 2 * cfg.vae_batch if short else cfg.vae_batch)
        t0 = rng.integers(0, cfg.frames - window + 1)
        y0 = rng.integers(0, cfg.height - cfg.vae_crop + 1)
        x0 = rng.integers(0, cfg.width - cfg.vae_crop + 1)
        crop = (idx, slice(t0, t0 + window), slice(y0, y0 + cfg.vae_crop), slice(x0, x0 + cfg.vae_crop))
        batch = _to_vae_input(videos[crop])
        post = vae.encode(batch).latent_dist
        # Decode the posterior mean: a sampled latent buries the signal of a freshly initialised encoder
        # in unit noise, and a run decoding samples learned only flat colours in 1,800 steps
        # (held-out PSNR 14.5 dB, no objects). The transformer is trained on posterior means anyway.
        rec = vae.decode(post.mode()).sample
        err = (rec - batch).abs()
        rec_loss = err.mean()
        if masks is not None and cfg.vae_foreground_weight:
            weight = 1 + cfg.vae_foreground_weight * torch.from_numpy(masks[crop]).float().unsqueeze(1)
            fit = (err * weight).mean() / weight.mean()
        else:
            fit = rec_loss
        kl = post.kl().mean()
        loss = fit + cfg.vae_kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = _cosine_lr(cfg.vae_lr, step, cfg.vae_steps, 100)
        opt.step()
        if log:
            log({"stage": "vae", "step": step + 1, "l1": rec_loss.item(), "kl": kl.item()})
        if progress:
            progress(step + 1, cfg.vae_steps, f"l1 {rec_loss.item():.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.vae_steps:
            save_checkpoint(ckpt, vae, opt, step + 1, {"config": asdict(cfg)})
    return vae.eval()


@torch.no_grad()
def encode_latents(vae, videos: np.ndarray, batch: int = 4, progress=None) -> torch.Tensor:
    out = []
    for i in range(0, len(videos), batch):
        out.append(vae.encode(_to_vae_input(videos[i:i + batch])).latent_dist.mode())
        if progress:
            progress(min(i + batch, len(videos)), len(videos))
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

    config = dict(TRAINED_TRANSFORMER_CONFIG)
    if cfg.num_layers is not None:
        config["num_layers"] = cfg.num_layers
    return WanTransformer3DModel(**config)


@torch.no_grad()
def prompt_embeddings(pipe, prompts: list[str], max_len: int) -> dict[str, torch.Tensor]:
    unique = sorted(set(prompts) | {""})
    embeds, _ = pipe.encode_prompt(unique, do_classifier_free_guidance=False, max_sequence_length=max_len,
                                   device=torch.device("cpu"))
    return {p: e for p, e in zip(unique, embeds)}


def train_transformer(cfg: TrainConfig, latents: torch.Tensor, prompts: list[str], embeds: dict[str, torch.Tensor],
                      foreground: torch.Tensor | None = None, progress=None, log=None):
    """Flow matching; returns the model carrying the EMA weights (what gets saved)."""
    torch.manual_seed(cfg.seed + 1)
    model = build_transformer(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = Path(cfg.out) / "checkpoints" / "transformer"
    meta = load_checkpoint(ckpt, model, opt, ema)
    start = meta["step"] if meta else 0
    rng = np.random.default_rng([cfg.seed, 1, start])
    total = cfg.dit_image_steps + cfg.dit_steps
    for step in range(start, total):
        image = step < cfg.dit_image_steps
        batch = cfg.dit_image_batch if image else cfg.dit_batch
        frames = slice(0, 1) if image else slice(None)
        idx = rng.integers(0, len(latents), batch)
        x0 = latents[idx][:, :, frames]
        text = torch.stack([embeds["" if rng.random() < cfg.cfg_dropout else prompts[i]] for i in idx])
        u = torch.from_numpy(rng.random(batch)).float()
        sigma = cfg.flow_shift * u / (1 + (cfg.flow_shift - 1) * u)  # the scheduler's shift, applied to training
        noise = torch.from_numpy(rng.standard_normal(x0.shape)).float()
        s = sigma.view(-1, 1, 1, 1, 1)
        xt = (1 - s) * x0 + s * noise
        pred = model(xt, sigma * 1000, text, return_dict=False)[0]
        err = (pred - (noise - x0)).pow(2)
        plain = err.mean()
        if foreground is not None and cfg.foreground_weight:
            weight = 1 + cfg.foreground_weight * foreground[idx][:, frames].unsqueeze(1)  # (B, 1, T', H', W')
            loss = (err * weight).mean() / weight.mean()
        else:
            loss = plain
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for g in opt.param_groups:
            g["lr"] = _cosine_lr(cfg.dit_lr, step, total, cfg.dit_warmup)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema_decay, (step + 1) / (step + 10))  # short runs: the average follows closely
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].lerp_(v, 1 - decay)
                else:
                    ema[k].copy_(v)
        if log:
            log({"stage": "transformer", "step": step + 1, "latent_frames": x0.shape[2], "loss": loss.item(),
                 "mse": plain.item(), "sigma_mean": float(sigma.mean())})
        if progress:
            progress(step + 1, total, f"{'image' if image else 'video'} loss {loss.item():.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            save_checkpoint(ckpt, model, opt, step + 1, {"config": asdict(cfg)}, ema)
    model.load_state_dict(ema)
    return model.eval()


def train_tiny(cfg: TrainConfig, progress=None) -> Path:
    """Run every stage and write the pipeline to ``cfg.out/model``; returns that folder."""
    from .tiny import TINY_MAX_SEQUENCE_LENGTH, build_tiny_pipeline, write_model_meta

    out = Path(cfg.out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    log_path = out / "loss_log.jsonl"

    def log(record):
        with open(log_path, "a") as f:
            f.write(json.dumps({**record, "time": round(time.time(), 2)}) + "\n")

    def stage(name):
        return (lambda i, n, note="": progress(name, i, n, note)) if progress else None

    videos, prompts, foreground, masks = render_clips(cfg, stage("render"))
    vae = train_vae(cfg, videos, stage("vae"), log, masks)
    del masks
    latents = encode_latents(vae, videos, progress=stage("encode"))
    mean = latents.mean(dim=(0, 2, 3, 4))
    std = latents.std(dim=(0, 2, 3, 4)).clamp_min(1e-4)
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    latents = (latents - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1)
    pipe = build_tiny_pipeline(seed=cfg.seed, num_layers=cfg.num_layers)
    embeds = prompt_embeddings(pipe, prompts, TINY_MAX_SEQUENCE_LENGTH)
    transformer = train_transformer(cfg, latents, prompts, embeds, torch.from_numpy(foreground),
                                    stage("transformer"), log)
    pipe.vae, pipe.transformer = vae, transformer
    pipe.register_modules(vae=vae, transformer=transformer)
    folder = out / "model"
    pipe.save_pretrained(folder, safe_serialization=True)
    write_model_meta(folder, trained=True, description=(
        f"Tiny Wan pipeline trained by profiling_dit.training on synthetic scenes ({cfg.clips} clips, "
        f"VAE {cfg.vae_steps} steps, transformer {cfg.dit_image_steps} image + {cfg.dit_steps} video steps, "
        f"seed {cfg.seed})."))
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


def write_model_card(folder: str | Path, cfg: TrainConfig, result: dict) -> Path:
    """Write ``README.md`` (the model card) into a trained model folder, with the measured results."""
    from .synthetic import BACKGROUNDS, COLORS, DIRECTIONS, SHAPES, split_scenes

    train, held = split_scenes()
    verdicts = result["verdicts"]
    judged = len(verdicts)
    passed = sum(v["passed"] for v in verdicts)
    colour = sum(v["color_ok"] for v in verdicts)
    motion = sum(v["motion_ok"] for v in verdicts)
    background = sum(v["background_ok"] for v in verdicts)
    minutes = result.get("train_seconds", 0) / 60
    spatial = 2 ** (len(TRAINED_VAE_CONFIG["dim_mult"]) - 1)
    temporal = 2 ** sum(TRAINED_VAE_CONFIG["temperal_downsample"])
    patch = TRAINED_TRANSFORMER_CONFIG["patch_size"]
    grid = (cfg.height // spatial // patch[1], cfg.width // spatial // patch[2])
    latent_frames = (cfg.frames - 1) // temporal + 1
    text = f"""# pdit tiny-wan: a tiny trained Wan text-to-video model

The embedded model of ProfilingDiT (`--model tiny`). It is a stock diffusers `WanPipeline`:
`WanTransformer3DModel` ({TRAINED_TRANSFORMER_CONFIG['num_layers']} blocks, \
{TRAINED_TRANSFORMER_CONFIG['num_attention_heads']} heads x {TRAINED_TRANSFORMER_CONFIG['attention_head_dim']}, \
patch {tuple(TRAINED_TRANSFORMER_CONFIG['patch_size'])}), `AutoencoderKLWan` ({spatial}x spatial and {temporal}x temporal \
compression, {TRAINED_VAE_CONFIG['z_dim']} latent channels), a 2-layer UMT5 encoder that was **not** trained \
(random, frozen), and a word-level tokenizer over a closed vocabulary. At {cfg.frames} x {cfg.height} x {cfg.width} \
the transformer sees {latent_frames} latent frames of {grid[0]} x {grid[1]} = {grid[0] * grid[1]} tokens.

## What it was trained on
Synthetic clips from `profiling_dit.synthetic` (no downloaded data): one shape \
({", ".join(SHAPES)}) of one colour ({", ".join(COLORS)}) moving {"/".join(DIRECTIONS)} over a textured \
background ({", ".join(BACKGROUNDS)}), with prompts such as "a red circle moving left over grass". \
{len(held)} of the {len(train) + len(held)} colour x shape x direction x background combinations are held \
out of training (a hash of the prompt); every single colour, shape, direction and background is seen.

## How
`make train-tiny` (`python -m profiling_dit.training`, seed {cfg.seed}) on 2 CPU cores, \
{minutes:.0f} minutes for this run:
- {cfg.clips} clips of {cfg.frames} x {cfg.height} x {cfg.width};
- the VAE: {cfg.vae_steps} steps of L1 on {cfg.vae_crop}-pixel crops (5-frame windows first, then \
{cfg.vae_window}-frame), object pixels weighted x{1 + cfg.vae_foreground_weight:g}, posterior-mean decoding;
- the transformer: {cfg.dit_image_steps} steps of flow matching on first frames (images) at batch \
{cfg.dit_image_batch}, then {cfg.dit_steps} on whole clips at batch {cfg.dit_batch}, loss weighted up on \
the object's latent cells, prompt dropped {cfg.cfg_dropout:.0%} of the time (for CFG), EMA \
{cfg.ema_decay} of the weights saved.

## Measured (held-out prompts, 20 steps, CFG 5, seed 0)
- Judge (`synthetic.judge`: colour, direction and background from the generator's own palette): \
**{passed}/{judged} passed**; colour right {colour}/{judged}, direction right {motion}/{judged}, \
background right {background}/{judged}.
- VAE reconstruction PSNR on held-out clips: {result["vae_psnr_held_out"]:.1f} dB.

## Limits
- It knows only the words and scenes above: one object, straight motion, four backgrounds. Other \
words map to `<unk>`; other prompts give one of the training scenes, or a blend.
- Small and blurry: object edges are soft, colours can drift, and a fast object can leave a faint trail.
- It is a test bed for caching and profiling, not a video model. Its speed and quality figures say \
nothing about real models.
"""
    path = Path(folder) / "README.md"
    atomic_write_text(path, text)
    return path


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import argparse
    import time

    from tqdm import tqdm

    ap = argparse.ArgumentParser(description="Train the tiny Wan model on synthetic scenes (resumable).")
    ap.add_argument("--out", required=True)
    for name, field_ in TrainConfig.__dataclass_fields__.items():
        if name != "out":
            kind = int if field_.default is None else type(field_.default)
            ap.add_argument("--" + name.replace("_", "-"), type=kind, default=field_.default)
    ap.add_argument("--eval-prompts", type=int, default=0, help="held-out prompts to judge (0: all of them)")
    args = vars(ap.parse_args())
    n_eval = args.pop("eval_prompts")
    cfg = TrainConfig(**args)
    bars: dict[str, tqdm] = {}

    def progress(name, i, n, note=""):
        if name not in bars:
            bars[name] = tqdm(total=n, desc=name, mininterval=2.0)
        bar = bars[name]
        bar.n = i
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()

    t0 = time.time()
    folder = train_tiny(cfg, progress)
    for bar in bars.values():
        bar.close()
    from .synthetic import split_scenes

    held = split_scenes()[1]
    result = evaluate(folder, held[:n_eval] if n_eval else held)
    result["train_seconds"] = time.time() - t0
    atomic_write_text(Path(cfg.out) / "eval.json", json.dumps(result, indent=2) + "\n")
    write_model_card(folder, cfg, result)
    print(json.dumps({k: v for k, v in result.items() if k != "verdicts"}))
