"""Will a generation fit? A rough estimate of the memory a generation's sizes need, from the model's saved
configs alone, checked against what the device has before any weights load.

The estimate counts what grows with the video's size (weights are left out): the decoded frames (the VAE's
float32 output, the float64 rescale and the uint8 result), the latents (about 8 live copies: noise, latents,
model input, both CFG branches' predictions, the scheduler's history) and the transformer's activations
(about 12 hidden states of tokens × width in the compute dtype). It is meant to stop a request that cannot
fit by orders of magnitude (a 1,025-frame 4K video), not to predict an out-of-memory error to the gigabyte.
"""

from __future__ import annotations

import math

from ..errors import InvalidSettingError

_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _spatial(source) -> int:
    return source.arch.vae_spatial(getattr(source, "vae_config", None) or {}) or 8


def token_grid(source, settings) -> tuple[int, int, int]:
    """The video tokens along (frames, rows, columns) of a generation of ``settings``, from the saved configs."""
    cfg = source.transformer_config
    spatial = _spatial(source)
    latent_frames = (settings.frames - 1) // source.arch.frame_multiple + 1
    lh, lw = math.ceil(settings.height / spatial), math.ceil(settings.width / spatial)
    pt, ph, pw = source.arch.patch_from_config(cfg)
    return math.ceil(latent_frames / pt), math.ceil(lh / ph), math.ceil(lw / pw)


def check_positions(source, settings) -> None:
    """Refuse sizes whose token grid runs past the positions the model's position embedding covers (a Wan folder
    with a small ``rope_max_seq_len`` fails deep inside diffusers otherwise)."""
    arch = source.arch
    if arch.positions_from_config is None:
        return
    limit = arch.positions_from_config(source.transformer_config)
    grid = token_grid(source, settings)
    if limit is not None and max(grid) > limit:
        raise InvalidSettingError(
            f"{settings.frames} frames at {settings.width}x{settings.height} make a grid of {grid[0]}x{grid[1]}x"
            f"{grid[2]} tokens (frames x rows x columns), and this model's position embedding covers {limit} "
            "positions along an axis; lower `frames`, `height` or `width`")


def estimate_bytes(source, settings, dtype: str = "float32") -> dict[str, int]:
    """Bytes a generation of ``settings`` needs beyond the weights, by part (``total`` is their sum)."""
    cfg = source.transformer_config
    spatial = _spatial(source)
    temporal = source.arch.frame_multiple
    channels = int(cfg.get("out_channels") or cfg.get("in_channels") or 16)
    latent_frames = (settings.frames - 1) // temporal + 1
    lh, lw = math.ceil(settings.height / spatial), math.ceil(settings.width / spatial)
    grid = token_grid(source, settings)
    tokens = grid[0] * grid[1] * grid[2]
    width = int(cfg.get("num_attention_heads", 1)) * int(cfg.get("attention_head_dim", 64))
    batch = len(settings.prompts)
    video = batch * settings.frames * settings.height * settings.width * 3 * (4 + 8 + 1)
    latents = 8 * batch * channels * latent_frames * lh * lw * 4
    # the padded prompt the transformer attends to, beside the video tokens
    text = int(getattr(source, "meta", {}).get("max_sequence_length") or 512)
    activations = 12 * 2 * batch * (tokens + text) * width * _DTYPE_BYTES.get(dtype, 4)
    return {"video": video, "latents": latents, "activations": activations, "tokens": tokens,
            "total": video + latents + activations}


def available_bytes(device) -> int | None:
    """Free memory of the device (CUDA: free on the card; CPU: the system's available memory), or None."""
    try:
        if device.type == "cuda":
            import torch

            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "cpu":
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
    except Exception:
        return None
    return None


def check_memory(source, settings, device, dtype: str = "float32") -> dict[str, int]:
    """Refuse sizes whose estimate exceeds the device's free memory, with the numbers and what to lower."""
    need = estimate_bytes(source, settings, dtype)
    have = available_bytes(device)
    if have is not None and need["total"] > have:
        gib = 2 ** 30
        raise InvalidSettingError(
            f"{settings.frames} frames at {settings.width}x{settings.height} need about {need['total'] / gib:,.1f} GiB "
            f"of memory beyond the weights (decoded frames {need['video'] / gib:,.1f} GiB, latents "
            f"{need['latents'] / gib:,.1f} GiB, activations of {need['tokens']:,} tokens "
            f"{need['activations'] / gib:,.1f} "
            f"GiB) and {device} has {have / gib:,.1f} GiB free; lower `frames`, `height` or `width`")
    return need
