"""Synthetic text-to-video data with ground truth, and an automatic judge (groundwork for training
the embedded model, issue 5).

A scene is one shape (circle, square, triangle) of a named colour moving in a named direction
over a named background (grass, sky, sand, floor). ``render`` draws it deterministically from a
seed and returns the frames and the foreground mask of every frame. ``judge`` checks a generated
video against its prompt using the generator's own palette: the foreground colour, the direction
its centroid moves, and the background.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSettingError

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 60, 230),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
    "purple": (140, 40, 180),
    "orange": (250, 140, 20),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
# Mean colour of each background, used by the painter and by the judge.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grass": (60, 140, 50),
    "sky": (120, 180, 235),
    "sand": (215, 190, 130),
    "floor": (110, 105, 100),
}
# How far the object travels over a clip, as a share of the frame (drawn uniformly in this range).
TRAVEL: tuple[float, float] = (0.40, 0.50)


@dataclass(frozen=True)
class Scene:
    color: str
    shape: str
    direction: str
    background: str

    def __post_init__(self):
        for value, allowed, what in ((self.color, COLORS, "colour"), (self.shape, SHAPES, "shape"),
                                     (self.direction, DIRECTIONS, "direction"),
                                     (self.background, BACKGROUNDS, "background")):
            if value not in allowed:
                raise InvalidSettingError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")

    @property
    def prompt(self) -> str:
        return f"a {self.color} {self.shape} moving {self.direction} over {self.background}"


def scene_from_prompt(prompt: str) -> Scene | None:
    """The scene a prompt of the generator's form describes ("a red circle moving left over grass"),
    or None for any other prompt (case and surrounding spaces are ignored)."""
    words = prompt.strip().lower().split()
    if len(words) != 7 or words[0] not in ("a", "an") or words[3] != "moving" or words[5] != "over":
        return None
    color, shape, direction, background = words[1], words[2], words[4], words[6]
    if color not in COLORS or shape not in SHAPES or direction not in DIRECTIONS or background not in BACKGROUNDS:
        return None
    return Scene(color, shape, direction, background)


def all_scenes() -> list[Scene]:
    return [Scene(*c) for c in itertools.product(COLORS, SHAPES, DIRECTIONS, BACKGROUNDS)]


def held_out(scene: Scene, share: float = 0.15) -> bool:
    """Deterministic hold-out of about ``share`` of the combinations (a hash of the prompt)."""
    return (zlib.crc32(scene.prompt.encode()) % 1000) < share * 1000


def split_scenes(share: float = 0.15) -> tuple[list[Scene], list[Scene]]:
    """(training scenes, held-out scenes); every colour, shape, direction and background is trained on."""
    train = [s for s in all_scenes() if not held_out(s, share)]
    test = [s for s in all_scenes() if held_out(s, share)]
    for attr, values in (("color", COLORS), ("shape", SHAPES), ("direction", DIRECTIONS),
                         ("background", BACKGROUNDS)):
        seen = {getattr(s, attr) for s in train}
        if seen != set(values):
            raise AssertionError(f"hold-out removed every training scene with some {attr}")  # a bug, not input
    return train, test


def _background(name: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array(BACKGROUNDS[name], dtype=np.float32)
    img = np.broadcast_to(base, (h, w, 3)).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if name == "grass":  # blades: vertical streaks of lighter and darker green
        streaks = np.clip(rng.normal(0, 14, size=(1, w, 1)), -30, 30).astype(np.float32)
        img += streaks * np.array([0.5, 1.0, 0.4], np.float32) + rng.normal(0, 6, size=(h, w, 1)).astype(np.float32)
    elif name == "sky":  # vertical gradient, lighter near the horizon
        img += (yy / max(h - 1, 1) - 0.5)[..., None] * np.array([50, 40, 10], np.float32)
    elif name == "sand":  # fine grain
        img += rng.normal(0, 10, size=(h, w, 1)).astype(np.float32)
    elif name == "floor":  # tiles
        tile = max(4, h // 8)
        checker = ((yy // tile + xx // tile) % 2)[..., None]
        img += (checker - 0.5) * 30
    return img


def _shape_mask(shape: str, cy: float, cx: float, r: float, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if shape == "square":
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    # triangle pointing up: inside when below the two sloped edges and above the base
    top, base = cy - r, cy + r * 0.8
    half_width = (yy - top) / (base - top) * r
    return (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half_width)


def render(scene: Scene, frames: int = 17, height: int = 128, width: int = 128,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(video uint8 (T, H, W, 3), masks bool (T, H, W)); the same seed gives the same video."""
    rng = np.random.default_rng([seed, zlib.crc32(scene.prompt.encode())])
    bg = _background(scene.background, height, width, rng)
    size = min(height, width)
    r = rng.uniform(0.11, 0.15) * size
    dy, dx = DIRECTIONS[scene.direction]
    travel = rng.uniform(*TRAVEL) * size
    # The path starts about a quarter of the frame from the edge it leaves and crosses the middle; only
    # the position across the motion varies (0.35-0.65 of the frame). This keeps the layout easy to
    # learn for a tiny model trained in about an hour on two CPU cores (issue 5).
    start = 0.5 - travel / size / 2 + rng.uniform(-0.04, 0.04)
    across = rng.uniform(0.35, 0.65)
    cy0 = (start if dy > 0 else 1 - start if dy < 0 else across) * height
    cx0 = (start if dx > 0 else 1 - start if dx < 0 else across) * width
    color = np.array(COLORS[scene.color], np.float32)
    video = np.empty((frames, height, width, 3), np.uint8)
    masks = np.empty((frames, height, width), bool)
    for t in range(frames):
        f = t / max(frames - 1, 1)
        m = _shape_mask(scene.shape, cy0 + dy * travel * f, cx0 + dx * travel * f, r, height, width)
        img = bg.copy()
        img[m] = color
        video[t] = np.clip(img, 0, 255).round().astype(np.uint8)
        masks[t] = m
    return video, masks


@dataclass(frozen=True)
class Verdict:
    color_ok: bool
    motion_ok: bool
    background_ok: bool
    detected_color: str | None
    detected_background: str
    displacement: tuple[float, float]  # (dy, dx) of the foreground centroid, first → last frame, pixels

    @property
    def passed(self) -> bool:
        return self.color_ok and self.motion_ok and self.background_ok


def _nearest(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    d = [np.linalg.norm(rgb - np.array(palette[n], np.float32)) for n in names]
    return names[int(np.argmin(d))]


def foreground_masks(video: np.ndarray, background_rgb: np.ndarray | None = None,
                     threshold: float = 60.0) -> np.ndarray:
    """Pixels far (RGB distance > threshold) from the background colour (the frame median by default)."""
    v = np.asarray(video, np.float32)
    bg = np.median(v.reshape(v.shape[0], -1, 3), axis=1)[:, None, None, :] if background_rgb is None else background_rgb
    return np.linalg.norm(v - bg, axis=-1) > threshold


def judge(video: np.ndarray, scene: Scene, min_travel: float = 0.12) -> Verdict:
    """Does a video show the prompt's colour moving the prompt's way over the prompt's background?

    The background is the median colour of each frame (the object is small), matched to the nearest
    background colour; the foreground is every pixel far from it; its median colour is matched to the
    nearest palette colour; its centroid must move at least ``min_travel`` of the frame size along the
    prompt's direction, and more along it than across it.
    """
    v = np.asarray(video, np.float32)
    t, h, w, _ = v.shape
    bg_rgb = np.median(v.reshape(-1, 3), axis=0)
    detected_bg = _nearest(bg_rgb, BACKGROUNDS)
    fg = foreground_masks(v)
    if fg[0].sum() < 4 or fg[-1].sum() < 4:
        return Verdict(False, False, detected_bg == scene.background, None, detected_bg, (0.0, 0.0))
    color = _nearest(np.median(v[fg], axis=0), COLORS)  # median: robust to stray background pixels

    def centroid(m):
        ys, xs = np.nonzero(m)
        return ys.mean(), xs.mean()

    (y0, x0), (y1, x1) = centroid(fg[0]), centroid(fg[-1])
    disp = (float(y1 - y0), float(x1 - x0))
    dy, dx = DIRECTIONS[scene.direction]
    along = disp[0] * dy + disp[1] * dx
    across = abs(disp[0] * dx) + abs(disp[1] * dy)
    motion_ok = along >= min_travel * min(h, w) and along > across
    return Verdict(color == scene.color, bool(motion_ok), detected_bg == scene.background, color, detected_bg, disp)


def truth_token_mask(video: np.ndarray, grid: tuple[int, int, int], frame_multiple: int = 4) -> np.ndarray:
    """The foreground of a generated video on the transformer's token grid (F', H', W').

    The "ground truth" of a generated video is what the generator's palette says: pixels far from
    the frame's background colour (``foreground_masks``, as the judge uses), grouped into latent
    frames and area-pooled to tokens exactly like user masks are.
    """
    from ..profile.segmentation import to_token_grid, video_masks_to_latent_frames

    return to_token_grid(video_masks_to_latent_frames(foreground_masks(video), grid[0], frame_multiple), grid)


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    return float((pred & truth).sum() / union) if union else 1.0


def prompt_judge(video: np.ndarray, prompt: str) -> bool | None:
    """The judge as ``pdit bench`` takes it: True/False for a prompt of the generator's form, None otherwise."""
    scene = scene_from_prompt(prompt)
    return None if scene is None else bool(judge(video, scene).passed)
