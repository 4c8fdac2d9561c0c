"""A stock ``AutoencoderKLWan`` whose weights are set, not learned: an exact mean-pooling autoencoder.

Why: on this 2-core machine a learned Wan VAE did not learn to keep object colours in the time
there is (issue 5: seven runs, at best 13 of 24 held-out reconstructions judged right), and a
transformer cannot draw what its latents do not hold. The synthetic scenes need no learned
compression: the 4x4 mean colour of a patch, per frame, is enough to tell colour, shape, position
and background. So the encoder's weights are written down to compute exactly that, in the stock
architecture (no forked model code; the pipeline loads it like any Wan VAE).

Layout (``z_dim`` 12, 4x spatial and 4x temporal compression, like Wan's 4x temporal chunks):
latent frame 0 holds frame 0's 4x4-pooled RGB in channels 9-11 (channels 0-8 are zero); latent
frame k >= 1 holds frames 4k-3, 4k-2, 4k-1 and 4k in channels 0-2, 3-5, 6-8 and 9-11. The decoder is
the exact inverse up to the pooling: nearest-neighbour upsampling of each frame's pooled colours.

How the weights do it:
- every residual block's last convolution and the attention blocks' output projections are zero,
  so those blocks are identities (their other weights are left at their random initialisation and
  do not matter);
- the strided spatial convolutions average 2x2 pixels (encoder), the upsampling convolutions copy
  the centre pixel (decoder), and the causal time convolutions route each frame's colours into its
  own channel group (encoder) or back out of it (decoder); the first frame, which the Wan VAE
  passes around those time convolutions, already sits where they put the last frame of a chunk;
- the only non-linear parts on the main path are the RMS norm + SiLU of each head. They are made
  linear to ~1e-4 by carrying each value v as a pair of channels (K + v, K - v) with a large K:
  the norm then divides by a near-constant, the SiLU sees values near +20 where it is the identity,
  and the head's convolution takes the difference of the pair.
"""

from __future__ import annotations

from typing import Any

import torch

Z_DIM = 12
_FRAMES_PER_LATENT = 4
_K = 100.0  # offset of the channel pairs; values are in [-1, 1] (pixels) or a few units (latents)
_Z = 20.0  # where the head's SiLU works: SiLU(20 + e) = 20 + e to 2e-9
_LOGVAR = -30.0  # Wan clamps the log-variance to [-30, 20]: a deterministic encoder

POOLING_VAE_CONFIG: dict[str, Any] = dict(
    base_dim=24,  # encoder: 12 values as 24 paired channels at every level
    decoder_base_dim=12,  # decoder: 12 values, 6 after the first upsampling, 3 pairs at the head
    z_dim=Z_DIM,
    dim_mult=[1, 1, 1],
    num_res_blocks=0,
    attn_scales=[],
    temperal_downsample=[True, True],
    scale_factor_spatial=4,
    scale_factor_temporal=4,
    latents_mean=[0.0] * Z_DIM,
    latents_std=[1.0] * Z_DIM,
)


def _slot(group: int) -> list[int]:
    """The three value slots (RGB) of frame ``group`` (0-3) of a latent frame."""
    return [3 * group + c for c in range(3)]


def _zero_residuals(module: torch.nn.Module) -> None:
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanAttentionBlock, WanResidualBlock

    for m in module.modules():
        if isinstance(m, WanResidualBlock):
            assert m.conv2.bias is not None  # the stock block's convolutions have biases
            m.conv2.weight.zero_()
            m.conv2.bias.zero_()
        elif isinstance(m, WanAttentionBlock):
            assert m.proj.bias is not None
            m.proj.weight.zero_()
            m.proj.bias.zero_()


def _set_pair_head(norm, conv, pairs: list[tuple[int, int]], out_channels: list[int], dim: int) -> None:
    """norm -> SiLU -> conv reads value ``out_channels[i]`` from the channel pair ``pairs[i]``."""
    n_paired = 2 * len(pairs)
    # ||x|| ~ K sqrt(n_paired): scale so a paired channel comes out of the norm at Z (1 +- v/K).
    gamma = torch.zeros_like(norm.gamma)
    for plus, minus in pairs:
        gamma[plus] = gamma[minus] = _Z * (n_paired ** 0.5) / (dim ** 0.5)
    norm.gamma.copy_(gamma)
    conv.weight.zero_()
    conv.bias.zero_()
    for (plus, minus), out in zip(pairs, out_channels):
        conv.weight[out, plus, -1, 1, 1] = _K / (2 * _Z)
        conv.weight[out, minus, -1, 1, 1] = -_K / (2 * _Z)


@torch.no_grad()
def _build_encoder(vae) -> None:
    enc = vae.encoder
    dim = POOLING_VAE_CONFIG["base_dim"]

    def plus(v):
        return 2 * v

    def minus(v):
        return 2 * v + 1

    # conv_in: the frame's RGB into slots 9-11 as pairs; every other pair holds (K, K).
    enc.conv_in.weight.zero_()
    enc.conv_in.bias.fill_(_K)
    for c, v in enumerate(_slot(3)):
        enc.conv_in.weight[plus(v), c, -1, 1, 1] = 1.0
        enc.conv_in.weight[minus(v), c, -1, 1, 1] = -1.0
    resamples = [m for m in enc.down_blocks if m.__class__.__name__ == "WanResample"]
    if len(resamples) != 2:
        raise RuntimeError("the pooling VAE expects two down-sampling levels")
    for level, res in enumerate(resamples):
        conv = res.resample[1]  # 3x3 stride 2 after a (0, 1, 0, 1) zero pad: average the top-left 2x2
        conv.weight.zero_()
        conv.bias.zero_()
        for ch in range(dim):
            conv.weight[ch, ch, :2, :2] = 0.25
        tc = res.time_conv  # kernel 3 over (previous chunk's last frame, frames...), stride 2
        tc.weight.zero_()
        tc.bias.fill_(_K)
        if level == 0:  # frames (a, b) of each pair of frames -> slots 6-8 and 9-11
            routes = [(1, _slot(3), _slot(2)), (2, _slot(3), _slot(3))]
        else:  # (a1, b1) and (a2, b2) -> slots 0-2, 3-5, 6-8, 9-11
            routes = [(1, _slot(2), _slot(0)), (1, _slot(3), _slot(1)),
                      (2, _slot(2), _slot(2)), (2, _slot(3), _slot(3))]
        for tap, src, dst in routes:
            for s, d in zip(src, dst):
                tc.bias[plus(d)] = tc.bias[minus(d)] = 0.0
                tc.weight[plus(d), plus(s), tap] = 1.0
                tc.weight[minus(d), minus(s), tap] = 1.0
    _zero_residuals(enc)
    values = list(range(Z_DIM))
    _set_pair_head(enc.norm_out, enc.conv_out, [(plus(v), minus(v)) for v in values], values, dim)
    # quant_conv: means pass through, log-variances are constant
    vae.quant_conv.weight.zero_()
    vae.quant_conv.bias.zero_()
    for v in values:
        vae.quant_conv.weight[v, v] = 1.0
    vae.quant_conv.bias[Z_DIM:] = _LOGVAR


@torch.no_grad()
def _build_decoder(vae) -> None:
    dec = vae.decoder
    dim = POOLING_VAE_CONFIG["decoder_base_dim"]
    vae.post_quant_conv.weight.zero_()
    vae.post_quant_conv.bias.zero_()
    for v in range(Z_DIM):
        vae.post_quant_conv.weight[v, v] = 1.0
    dec.conv_in.weight.zero_()
    dec.conv_in.bias.zero_()
    for v in range(Z_DIM):
        dec.conv_in.weight[v, v, -1, 1, 1] = 1.0
    _zero_residuals(dec)
    blocks = list(dec.up_blocks)
    # Up block 0 (12 values in channels 0-11): each latent frame -> 2 frames carrying (p, q) in
    # channels 6-8, 9-11; the first frame passes untouched with frame 0 already in 9-11.
    # Up block 1 (6 values: p in 0-2, q in 3-5): each frame -> 2 frames with the colour in 3-5;
    # the first frame passes with q = frame 0 in 3-5. Up block 2: pairs for the head.
    plans = [
        ([(_slot(0), [6, 7, 8]), (_slot(1), [9, 10, 11])], [(_slot(2), [6, 7, 8]), (_slot(3), [9, 10, 11])],
         list(range(6, 12)), list(range(6))),
        ([([0, 1, 2], [3, 4, 5])], [([3, 4, 5], [3, 4, 5])], [3, 4, 5], [0, 1, 2]),
    ]
    for block, (first, second, keep, keep_to) in zip(blocks[:2], plans):
        res = block.upsamplers[0]
        tc = res.time_conv  # dim -> 2 dim: channels [0, dim) are the first output frame
        tc.weight.zero_()
        tc.bias.zero_()
        for offset, routes in ((0, first), (dim, second)):
            for src, dst in routes:
                for s, d in zip(src, dst):
                    tc.weight[offset + d, s, -1] = 1.0
        conv = res.resample[1]  # after nearest upsampling: copy the centre pixel
        conv.weight.zero_()
        conv.bias.zero_()
        for s, d in zip(keep, keep_to):
            conv.weight[d, s, 1, 1] = 1.0
    # Up blocks 1 and 2 start with a residual block whose 1x1x1 shortcut changes the width.
    sc1 = blocks[1].resnets[0].conv_shortcut
    sc1.weight.zero_()
    sc1.bias.zero_()
    for ch in range(6):
        sc1.weight[ch, ch] = 1.0
    sc2 = blocks[2].resnets[0].conv_shortcut  # colour (channels 0-2) -> pairs (K +- c) in 0-5
    sc2.weight.zero_()
    sc2.bias.zero_()
    for c in range(3):
        sc2.weight[2 * c, c] = 1.0
        sc2.weight[2 * c + 1, c] = -1.0
        sc2.bias[2 * c] = sc2.bias[2 * c + 1] = _K
    _set_pair_head(dec.norm_out, dec.conv_out, [(2 * c, 2 * c + 1) for c in range(3)], [0, 1, 2], dim)


def build_pooling_vae(seed: int = 0):
    """The constructed ``AutoencoderKLWan`` (eval mode); ``seed`` only fixes the unused weights."""
    from diffusers import AutoencoderKLWan

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        vae = AutoencoderKLWan(**POOLING_VAE_CONFIG)
    finally:
        torch.random.set_rng_state(state)
    _build_encoder(vae)
    _build_decoder(vae)
    return vae.eval()  # type: ignore[attr-defined]  # mypy reads diffusers' torch-less placeholder class


def reference_latents(video: torch.Tensor) -> torch.Tensor:
    """What the encoder computes, in plain torch: (B, 3, 1 + 4n, H, W) in [-1, 1] -> (B, 12, 1 + n, H/4, W/4)."""
    b, c, t, h, w = video.shape
    pooled = torch.nn.functional.avg_pool3d(video, (1, 4, 4))
    first = torch.zeros(b, Z_DIM, 1, h // 4, w // 4, dtype=video.dtype)
    first[:, 9:12, 0] = pooled[:, :, 0]
    rest = pooled[:, :, 1:]
    n = rest.shape[2] // _FRAMES_PER_LATENT
    rest = rest.reshape(b, c, n, _FRAMES_PER_LATENT, h // 4, w // 4).permute(0, 3, 1, 2, 4, 5)
    return torch.cat([first, rest.reshape(b, Z_DIM, n, h // 4, w // 4)], dim=2)
