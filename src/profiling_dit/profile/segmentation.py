"""Foreground masks from a noise prediction (paper Sec. 3.2, "Block-Level Analysis").

1. ``pca_rgb``: reduce the prediction's latent channels to 3 with scikit-learn PCA → RGB-like frames.
2. A segmenter turns those frames into a foreground mask per latent frame:
   - ``PcaOtsuSegmenter`` (the fallback, deterministic): distance of each pixel's PCA colour from
     the frame's median colour (the background dominates a frame), smoothed with a Gaussian of
     sigma 1 latent pixel, thresholded by Otsu's method
     over the whole video, cleaned with a 3×3 binary opening; if that marks more than half of a
     frame, the frame's mask is inverted (the smaller region is the foreground).
   - ``Sam2Segmenter``: SAM2's image predictor on each PCA frame, prompted with one box: the bounding
     box of the fallback's mask for that frame (the whole frame if the fallback finds nothing).
   - ``load_user_masks``: masks supplied by the user.
3. ``to_token_grid``: masks at any resolution → the transformer's token grid (area pooling, ≥ 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidSettingError


def pca_rgb(pred: torch.Tensor, seed: int = 0) -> np.ndarray:
    """(C, F, H, W) prediction → (F, H, W, 3) float32 in [0, 1] (per-component min-max)."""
    from sklearn.decomposition import PCA

    c, f, h, w = pred.shape
    x = pred.detach().float().cpu().numpy().reshape(c, -1).T  # (F·H·W, C)
    comps = PCA(n_components=min(3, c), random_state=seed).fit_transform(x)
    if comps.shape[1] < 3:
        comps = np.pad(comps, ((0, 0), (0, 3 - comps.shape[1])))
    lo, hi = comps.min(axis=0), comps.max(axis=0)
    comps = (comps - lo) / np.where(hi > lo, hi - lo, 1.0)
    return comps.reshape(f, h, w, 3).astype(np.float32)


@dataclass(frozen=True)
class SegmenterInfo:
    name: str
    detail: str


class PcaOtsuSegmenter:
    info = SegmenterInfo(
        "pca-otsu",
        "fallback: |PCA colour - frame median|, Gaussian-smoothed (sigma 1 latent pixel), thresholded by "
        "Otsu over the video, 3x3 opening, smaller region is foreground",
    )
    sigma = 1.0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from scipy.ndimage import binary_opening, gaussian_filter
        from skimage.filters import threshold_otsu

        med = np.median(rgb.reshape(rgb.shape[0], -1, 3), axis=1)[:, None, None, :]
        dist = np.linalg.norm(rgb - med, axis=-1)  # (F, H, W)
        # Objects are spatially coherent; smoothing within each frame favours blobs over speckle.
        dist = gaussian_filter(dist, sigma=(0, self.sigma, self.sigma))
        thr = threshold_otsu(dist.ravel()) if np.ptp(dist) > 0 else np.inf
        masks = dist > thr
        out = np.zeros_like(masks)
        for i, m in enumerate(masks):
            m = binary_opening(m, structure=np.ones((3, 3), bool)) if min(m.shape) >= 3 else m
            if m.mean() > 0.5:
                m = ~m
            out[i] = m
        return out


class Sam2Segmenter:
    """SAM2 image predictor, one box prompt per frame from the fallback's mask.

    ``checkpoint`` is a ``.safetensors`` file (SAM2's state dict) or a Hub id whose repo holds one;
    ``config`` is a SAM2 config name such as ``configs/sam2.1/sam2.1_hiera_t.yaml``. Pickled ``.pt``
    checkpoints are refused: pdit loads only safetensors from disk.
    """

    def __init__(self, checkpoint: str | None, config: str | None = None, device: str = "cpu", model=None):
        self.device = device
        if model is None:
            model = build_sam2_model(checkpoint, config, device)
        _require_sam2()
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.predictor = SAM2ImagePredictor(model)
        # names only: a profile says nothing about the disk of the machine that made it
        ckpt = Path(str(checkpoint)).name if checkpoint and Path(str(checkpoint)).exists() else checkpoint
        conf = Path(str(config)).name if config and Path(str(config)).exists() else config
        self.info = SegmenterInfo("sam2", f"SAM2 image predictor, box prompt per frame; checkpoint={ckpt}, "
                                          f"config={conf}")

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        boxes_from = PcaOtsuSegmenter()(rgb)
        f, h, w, _ = rgb.shape
        out = np.zeros((f, h, w), bool)
        for i in range(f):
            ys, xs = np.nonzero(boxes_from[i])
            box = np.array([0, 0, w - 1, h - 1]) if len(xs) == 0 else np.array([xs.min(), ys.min(), xs.max(), ys.max()])
            with torch.inference_mode():
                self.predictor.set_image((rgb[i] * 255).astype(np.uint8))
                masks, _, _ = self.predictor.predict(box=box[None, :].astype(np.float32), multimask_output=False)
            out[i] = masks[0] > 0
        return out


SAM2_CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}


def _guess_sam2_config(name: str) -> str | None:
    low = name.lower()
    for key in ("base_plus", "large", "small", "tiny"):
        if key in low or key.replace("_plus", "+") in low:
            return SAM2_CONFIGS[key]
    for short, key in (("hiera_t", "tiny"), ("hiera_s", "small"), ("hiera_b", "base_plus"), ("hiera_l", "large")):
        if short in low:
            return SAM2_CONFIGS[key]
    return None


def _require_sam2() -> None:
    """SAM2 is an optional extra: say how to install it, in one line, when it is missing."""
    try:
        import sam2  # noqa: F401
    except ImportError:
        raise InvalidSettingError("SAM2 segmentation needs the sam2 package: pip install 'profiling-dit[sam2]' "
                                  "(or leave the segmenter out to use the documented fallback)") from None


def resolve_sam2_checkpoint(checkpoint: str) -> Path:
    """A local ``.safetensors`` path (its header read, to refuse a file that is not one), or a Hub id whose repo
    holds one. Checked before any run; offline, a Hub id fails at once."""
    import os

    _require_sam2()
    shown = repr(str(checkpoint)[:120])
    try:
        path = Path(checkpoint).expanduser()
        local = path.exists() or checkpoint.startswith((".", "/", "~")) or checkpoint.endswith((".pt", ".safetensors"))
        is_file = path.is_file()
    except OSError as e:
        raise InvalidSettingError(f"SAM2 checkpoint {shown} cannot be used ({e.strerror})") from None
    if local:
        if not is_file:
            raise InvalidSettingError(f"SAM2 checkpoint {shown} does not exist; pass a .safetensors file or a Hub id")
        if path.suffix != ".safetensors":
            raise InvalidSettingError(
                f"SAM2 checkpoint {shown} is not .safetensors; pdit never loads pickled checkpoints. "
                "Convert it once: python -c \"import torch,safetensors.torch as s; "
                "s.save_file(torch.load('IN.pt', weights_only=True)['model'], 'OUT.safetensors')\""
            )
        _check_safetensors(path, shown)
        return path
    from huggingface_hub import HfApi, hf_hub_download

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        try:  # already downloaded?
            files = [f for f in _cached_repo_files(checkpoint) if f.endswith(".safetensors")]
            return Path(hf_hub_download(checkpoint, files[0], local_files_only=True))
        except Exception:
            raise InvalidSettingError(f"SAM2 checkpoint {shown} is not in the local Hub cache and HF_HUB_OFFLINE is "
                                      "set; download it elsewhere and pass the .safetensors file") from None
    try:
        info = HfApi().model_info(checkpoint, timeout=5.0)
        files = [s.rfilename for s in info.siblings or [] if s.rfilename.endswith(".safetensors")]
        if not files:
            raise InvalidSettingError(f"Hub repo {shown} has no .safetensors SAM2 checkpoint")
        return Path(hf_hub_download(checkpoint, files[0]))
    except InvalidSettingError:
        raise
    except Exception as e:
        why = str(e).strip().splitlines()[0][:150] if str(e).strip() else type(e).__name__
        raise InvalidSettingError(
            f"cannot get SAM2 checkpoint {shown} from the Hub ({why}); download it elsewhere and pass the .safetensors "
            "file"
        ) from None


def _cached_repo_files(repo_id: str) -> list[str]:
    from huggingface_hub import scan_cache_dir

    for repo in scan_cache_dir().repos:
        if repo.repo_id == repo_id:
            return sorted({f.file_name for rev in repo.revisions for f in rev.files})
    return []


def _check_safetensors(path: Path, shown: str) -> None:
    """Read the file's safetensors header (cheap): a file that is not safetensors is refused now."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            if not list(f.keys()):
                raise ValueError("it holds no tensors")
    except Exception as e:
        raise InvalidSettingError(f"SAM2 checkpoint {shown} is not a readable safetensors file "
                                  f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None


def check_sam2_config(config: str | None) -> str | None:
    """The SAM2 config to use: a size name (tiny, small, base_plus, large) or a config path the sam2 package
    knows; anything else is refused now, with the list."""
    if config is None or config in SAM2_CONFIGS:
        return config
    _require_sam2()
    import sam2

    root = Path(sam2.__file__).parent
    if (root / config).is_file() or (root / f"{config}.yaml").is_file():
        return config
    raise InvalidSettingError(f"unknown SAM2 config {config[:80]!r}; give one of {', '.join(SAM2_CONFIGS)} or a "
                              "config path of the sam2 package such as configs/sam2.1/sam2.1_hiera_t.yaml")


def build_sam2_model(checkpoint: str | None, config: str | None, device: str = "cpu"):
    """Build SAM2 from the package's config; load safetensors weights when a checkpoint is given."""
    _require_sam2()
    from sam2.build_sam import build_sam2

    config = config or (_guess_sam2_config(str(checkpoint)) if checkpoint else None) or SAM2_CONFIGS["tiny"]
    if config in SAM2_CONFIGS:
        config = SAM2_CONFIGS[config]
    model = build_sam2(config_file=config, ckpt_path=None, device=device, mode="eval")
    if checkpoint is not None:
        from safetensors.torch import load_file

        state = load_file(str(resolve_sam2_checkpoint(checkpoint)))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InvalidSettingError(
                f"SAM2 checkpoint {checkpoint!r} does not fit config {config!r} "
                f"({len(missing)} missing, {len(unexpected)} unexpected keys); pass the matching `sam2_config`"
            )
    return model


def to_token_grid(masks: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """(F, h, w) masks → (F', H', W') token grid bools by area pooling (a token is foreground if ≥ half is).

    ``F`` must equal the grid's ``F'``; use ``video_masks_to_latent_frames`` first for pixel-frame masks.
    """
    masks = np.asarray(masks)
    gf, gh, gw = grid
    if masks.ndim != 3 or masks.shape[0] != gf:
        raise InvalidSettingError(f"masks of shape {masks.shape} do not fit the token grid {grid}")
    t = torch.from_numpy(masks.astype(np.float32))[:, None]
    pooled = torch.nn.functional.interpolate(t, size=(gh, gw), mode="area")[:, 0]
    return (pooled >= 0.5).numpy()


def video_masks_to_latent_frames(masks: np.ndarray, latent_frames: int, frame_multiple: int) -> np.ndarray:
    """Pixel-frame masks (T = k·(F'-1)+1) → latent frames: frame 0 alone, then groups of k (mean ≥ 0.5)."""
    t = masks.shape[0]
    if t == latent_frames:
        return masks
    if t != frame_multiple * (latent_frames - 1) + 1:
        raise InvalidSettingError(
            f"masks have {t} frames; expected {latent_frames} (latent frames) or "
            f"{frame_multiple * (latent_frames - 1) + 1} (video frames)"
        )
    groups = [masks[:1]] + [masks[1 + frame_multiple * i: 1 + frame_multiple * (i + 1)]
                            for i in range(latent_frames - 1)]
    return np.stack([g.astype(np.float32).mean(axis=0) >= 0.5 for g in groups])


def read_user_masks(path: str | Path) -> np.ndarray:
    """Read and check a masks file without a model: a ``.npy`` array (never a pickle) of shape (frames,
    height, width) with boolean or numeric values, none of its sides empty. Raises ``InvalidSettingError``."""
    shown = repr(str(path)[:120])
    try:
        path = Path(path).expanduser()
        ok = path.is_file()
    except OSError as e:
        raise InvalidSettingError(f"masks file {shown} cannot be used ({e.strerror})") from None
    if not ok:
        raise InvalidSettingError(f"masks file {shown} does not exist (or is not a file)")
    if path.suffix != ".npy":
        raise InvalidSettingError(f"masks file {shown} must be a .npy array of shape (frames, height, width)")
    try:
        masks = np.load(path, allow_pickle=False)
    except Exception as e:
        why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise InvalidSettingError(f"cannot read masks {shown} as a .npy array: {why}") from None
    if not isinstance(masks, np.ndarray):  # an .npz archive renamed .npy
        raise InvalidSettingError(f"masks file {shown} is not a single .npy array (an .npz archive?)")
    if masks.dtype.kind not in "biuf":
        raise InvalidSettingError(f"masks {shown} have dtype {masks.dtype}; give booleans or numbers (0 = background)")
    if masks.ndim != 3 or min(masks.shape) == 0:
        raise InvalidSettingError(f"masks {shown} have shape {masks.shape}; expected (frames, height, width), none 0")
    if masks.dtype.kind == "f" and not np.isfinite(masks).all():
        raise InvalidSettingError(f"masks {shown} hold NaN or infinite values")
    return masks


def load_user_masks(path: str | Path, grid: tuple[int, int, int], frame_multiple: int) -> np.ndarray:
    """Load ``.npy`` masks (no pickles): shape (F', h, w) or (frames, h, w); → token grid bools."""
    masks = read_user_masks(path)
    masks = video_masks_to_latent_frames(masks > 0, grid[0], frame_multiple)
    return to_token_grid(masks, grid)
