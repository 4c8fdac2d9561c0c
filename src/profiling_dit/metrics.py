"""Frame similarity against a reference: PSNR and SSIM (scikit-image), on uint8 frames."""

from __future__ import annotations

import numpy as np


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB over the whole video (inf when identical)."""
    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
    mse = np.mean((ref - test) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM over frames; frames are (..., H, W, 3) uint8."""
    from skimage.metrics import structural_similarity

    ref = np.asarray(ref).reshape(-1, *np.asarray(ref).shape[-3:])
    test = np.asarray(test).reshape(-1, *np.asarray(test).shape[-3:])
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
    return float(np.mean([
        structural_similarity(r, t, channel_axis=-1, data_range=255) for r, t in zip(ref, test)
    ]))
