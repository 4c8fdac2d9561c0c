"""Frame similarity against a reference, on uint8 frames: PSNR and SSIM (scikit-image), LPIPS (torchmetrics'
network, from a safetensors weights file), and two motion measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB over the whole video (scikit-image; inf when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    ref, test = np.asarray(ref), np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
    if np.array_equal(ref, test):
        return float("inf")
    return float(peak_signal_noise_ratio(ref, test, data_range=255))


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


LPIPS_ENV = "PDIT_LPIPS_WEIGHTS"
LPIPS_HOWTO = (
    "to get it: on a machine with internet, pip install torchmetrics torchvision, then python -c \"from "
    "torchmetrics.functional.image.lpips import _LPIPS; from safetensors.torch import save_model; "
    "save_model(_LPIPS(pretrained=True, net='alex'), 'lpips-alex.safetensors')\" and pass the file (`lpips_weights`, "
    "or the PDIT_LPIPS_WEIGHTS variable)")


class Lpips:
    """LPIPS (Zhang et al. 2018; AlexNet variant) with torchmetrics' network, weights from a safetensors file
    (the backbone and the linear layers; never a pickle). Lower is more similar; 0 for identical frames.

    Args:
        weights: the ``.safetensors`` file (see ``LPIPS_HOWTO``).
        device: where to run it.
    """

    def __init__(self, weights: str | Path, device: str = "cpu"):
        import torch
        from safetensors.torch import load_model

        from ._compat import lpips_network
        from .errors import InvalidSettingError

        path = Path(weights).expanduser()
        if not path.is_file() or path.suffix != ".safetensors":
            raise InvalidSettingError(f"LPIPS weights {str(path)!r} must be an existing .safetensors file; "
                                      f"{LPIPS_HOWTO}")
        try:
            net = lpips_network("alex")
        except ImportError as e:
            raise InvalidSettingError(f"LPIPS needs torchmetrics and torchvision ({e}): pip install "
                                      "'profiling-dit[lpips]' with a torchvision that matches your torch") from None
        try:
            load_model(net, str(path), strict=True)
        except Exception as e:  # a file that is not safetensors, or not these weights
            raise InvalidSettingError(f"LPIPS weights {str(path)!r} do not fit torchmetrics' AlexNet LPIPS "
                                      f"({str(e).splitlines()[0][:160]})") from None
        self.net = net.to(device).eval()
        self.device = device
        self.torch = torch
        self.source = path.name

    def __call__(self, ref: np.ndarray, test: np.ndarray, batch: int = 16) -> float:
        """Mean LPIPS over frames; frames are (..., H, W, 3) uint8."""
        torch = self.torch
        ref = np.asarray(ref).reshape(-1, *np.asarray(ref).shape[-3:])
        test = np.asarray(test).reshape(-1, *np.asarray(test).shape[-3:])
        if ref.shape != test.shape:
            raise ValueError(f"shapes differ: {ref.shape} vs {test.shape}")
        scores = []
        with torch.inference_mode():
            for i in range(0, len(ref), batch):
                a = torch.from_numpy(ref[i:i + batch]).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(self.device)
                b = torch.from_numpy(test[i:i + batch]).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(self.device)
                scores.append(self.net(a, b).reshape(-1).cpu())
        return float(torch.cat(scores).mean())


def lpips_scorer(weights: str | Path | None = None, device: str = "cpu") -> tuple[Lpips | None, str]:
    """An LPIPS scorer and a line for reports: from ``weights``, else the PDIT_LPIPS_WEIGHTS variable; without
    either, None and why LPIPS is unavailable and how to make it available."""
    import os

    weights = weights or os.environ.get(LPIPS_ENV)
    if not weights:
        return None, ("unavailable: LPIPS needs pretrained AlexNet and LPIPS weights, which cannot be downloaded "
                      f"here and are not given as safetensors (a random network is not LPIPS); {LPIPS_HOWTO}")
    scorer = Lpips(weights, device)
    return scorer, f"torchmetrics' AlexNet LPIPS, weights {scorer.source}"
