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


def _frame_diffs(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames, dtype=np.float64)
    return np.diff(f, axis=-4)  # along time: (..., T-1, H, W, 3)


def temporal_error(ref: np.ndarray, test: np.ndarray) -> float:
    """How far the method's frame-to-frame changes are from the reference's: mean |Δtest − Δref| / 255."""
    if np.asarray(ref).shape[-4] < 2:
        return 0.0
    return float(np.mean(np.abs(_frame_diffs(test) - _frame_diffs(ref))) / 255.0)


def motion_ratio(ref: np.ndarray, test: np.ndarray) -> float:
    """mean |Δtest| / mean |Δref|: below 1, motion was lost; above 1, sped up or flickering."""
    if np.asarray(ref).shape[-4] < 2:
        return 1.0
    denom = np.mean(np.abs(_frame_diffs(ref)))
    return float(np.mean(np.abs(_frame_diffs(test))) / denom) if denom > 0 else float("nan")


LPIPS_UNAVAILABLE = ("unavailable: LPIPS needs pretrained backbone weights that are not available locally "
                     "as safetensors (pdit never loads pickled checkpoints); a random backbone is not LPIPS")
