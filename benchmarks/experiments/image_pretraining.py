"""Issue 5 experiment: pre-train the tiny transformer on first frames only, then sample first frames.

Uses the VAE, text encoder and latent statistics of a trained run (outputs/train-tiny/model,
run 7). Renders the first frame of 2,000 training clips, trains a fresh transformer on latent
frame 0 (batch 8, lr 6e-4 cosine, EMA 0.998, prompt dropped 10%, object cells weighted 1 + FGW),
samples the first 20 held-out prompts (Euler, 20 steps, CFG 5, seed 0), and reports how many have
the right colour and background, and how many real first frames keep their colour through the
VAE alone. Writes a picture of the samples to /tmp.

    python benchmarks/experiments/image_pretraining.py STEPS FGW
"""

import json
import sys
import time

import numpy as np
import torch
from PIL import Image

from profiling_dit.loading import load_pipeline, resolve_model
from profiling_dit.synthetic import BACKGROUNDS, COLORS, _nearest, foreground_masks, render, split_scenes
from profiling_dit.tiny import TINY_MAX_SEQUENCE_LENGTH
from profiling_dit.training import (
    TrainConfig,
    _cosine_lr,
    _to_vae_input,
    build_transformer,
    latent_foreground,
)

torch.manual_seed(0)
pipe = load_pipeline(resolve_model("outputs/train-tiny/model"), device="cpu").pipe
vae = pipe.vae
mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
train, held = split_scenes()
t0 = time.time()
frames, fgs, prompts = [], [], []
for i in range(2000):
    s = train[i % len(train)]
    v, m = render(s, 17, 128, 128, seed=i // len(train))
    frames.append(v[:1])
    fgs.append(latent_foreground(m[:1], spatial=4))
    prompts.append(s.prompt)
frames = np.stack(frames)
with torch.no_grad():
    z = torch.cat(
        [vae.encode(_to_vae_input(frames[i : i + 50])).latent_dist.mode() for i in range(0, 2000, 50)]
    )
z = (z - mean) / std
fg = torch.from_numpy(np.stack(fgs)).float()
print("encoded", z.shape, round(time.time() - t0), flush=True)
with torch.no_grad():
    uniq = sorted(set(prompts) | {""} | {s.prompt for s in held})
    e, _ = pipe.encode_prompt(
        uniq,
        do_classifier_free_guidance=False,
        max_sequence_length=TINY_MAX_SEQUENCE_LENGTH,
        device=torch.device("cpu"),
    )
emb = dict(zip(uniq, e))
model = build_transformer(TrainConfig(out="x")).train()
opt = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.0)
ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
rng = np.random.default_rng(0)
STEPS = int(sys.argv[1])
B = 8
FGW = float(sys.argv[2])
for step in range(STEPS):
    idx = rng.integers(0, len(z), B)
    x0 = z[idx]
    text = torch.stack([emb["" if rng.random() < 0.1 else prompts[i]] for i in idx])
    u = torch.from_numpy(rng.random(B)).float()
    sigma = 3 * u / (1 + 2 * u)
    noise = torch.from_numpy(rng.standard_normal(x0.shape)).float()
    s = sigma.view(-1, 1, 1, 1, 1)
    pred = model((1 - s) * x0 + s * noise, sigma * 1000, text, return_dict=False)[0]
    w = 1 + FGW * fg[idx].unsqueeze(1)
    loss = ((pred - (noise - x0)).pow(2) * w).mean() / w.mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    for g in opt.param_groups:
        g["lr"] = _cosine_lr(6e-4, step, STEPS, 200)
    opt.step()
    with torch.no_grad():
        d = min(0.998, (step + 1) / (step + 10))
        for k, v in model.state_dict().items():
            ema[k].lerp_(v, 1 - d)
    if step % 250 == 0:
        print(step, round(loss.item(), 4), round(time.time() - t0), flush=True)
model.load_state_dict(ema)
model.eval()
rows, ok_c, ok_b = [], 0, 0
scenes = held[:20]
with torch.no_grad():
    for s in scenes:
        x = torch.randn((1, 8, 1, 32, 32), generator=torch.Generator().manual_seed(0))
        u = torch.linspace(1, 0, 21)
        sig = 3 * u / (1 + 2 * u)
        c, un = emb[s.prompt][None], emb[""][None]
        for i in range(20):
            vc = model(x, sig[i : i + 1] * 1000, c, return_dict=False)[0]
            vu = model(x, sig[i : i + 1] * 1000, un, return_dict=False)[0]
            x = x + (sig[i + 1] - sig[i]) * (vu + 5 * (vc - vu))
        img = vae.decode(x * std + mean).sample
        img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte()[0].permute(1, 2, 3, 0).numpy()[0]
        bg = _nearest(np.median(img.reshape(-1, 3).astype(np.float32), axis=0), BACKGROUNDS)
        m = foreground_masks(img[None])[0]
        col = _nearest(np.median(img[m].astype(np.float32), axis=0), COLORS) if m.sum() >= 4 else None
        ok_c += col == s.color
        ok_b += bg == s.background
        rows.append(img)
# the VAE alone on real held-out first frames: the colour ceiling
rc = 0
with torch.no_grad():
    for s in scenes:
        v, _ = render(s, 17, 128, 128, seed=999)
        img = vae.decode(vae.encode(_to_vae_input(v[None, :1])).latent_dist.mode()).sample
        img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte()[0].permute(1, 2, 3, 0).numpy()[0]
        m = foreground_masks(img[None])[0]
        rc += (
            _nearest(np.median(img[m].astype(np.float32), axis=0), COLORS) if m.sum() >= 4 else None
        ) == s.color
print(
    json.dumps(
        {
            "fg_weight": FGW,
            "vae_round_trip_colour_right": rc,
            "steps": STEPS,
            "seconds": round(time.time() - t0),
            "first_frames_judged": len(scenes),
            "colour_right": int(ok_c),
            "background_right": int(ok_b),
        }
    )
)
Image.fromarray(np.concatenate([np.concatenate(rows[:10], 1), np.concatenate(rows[10:], 1)], 0)).save(
    f"/tmp/imgpre_{STEPS}_{FGW:g}.png"
)
