"""Writing frames: ``.mp4`` (H.264 via imageio-ffmpeg), ``.gif``, or ``.npy`` (exact uint8 frames).

Frames are uint8 arrays of shape (T, H, W, 3). They are written as they are: no float round trip
(``diffusers.utils.export_to_video`` would rescale uint8 input and corrupt it). Every write is atomic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import OutputPathError

VIDEO_EXTENSIONS = (".mp4", ".gif", ".npy")


def check_output_path(path: str | Path, force: bool = False, extensions=VIDEO_EXTENSIONS) -> Path:
    """Check an output path before any work: known extension, not overwriting, a folder where a file can
    really be created (tried, then removed), and a name the filesystem accepts. Creates the parent folder and
    removes temporary files an interrupted earlier write left beside the target. Raises ``OutputPathError``
    with the fix.
    """
    import os

    from .._io import remove_stale_temporaries

    shown = _shown(path)
    try:
        path = Path(path).expanduser()
        if path.is_dir():
            raise OutputPathError(f"{shown} is a folder; give a file name such as {path / ('out' + extensions[0])}")
        if path.suffix.lower() not in extensions:
            raise OutputPathError(f"cannot write {shown}: the extension must be one of {', '.join(extensions)}")
        if path.exists() and not force:
            raise OutputPathError(f"{shown} already exists; overwrite it with `force`")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK):
            raise OutputPathError(f"cannot write into {_shown(path.parent)}: permission denied")
        remove_stale_temporaries(path)
        _try_create(path)
    except OSError as e:
        raise OutputPathError(f"cannot write {shown}: {e.strerror or e}") from None
    return path


def _try_create(path: Path) -> None:
    """Create and remove a temporary file beside ``path`` with a name as long as ``path``'s: proves the folder
    takes new files (``/proc``, read-only mounts refuse) and that the name is not too long."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)


def _shown(path) -> str:
    """A path for a message: quoted, and cut in the middle when very long."""
    text = str(path)
    return repr(text if len(text) <= 120 else text[:60] + "…" + text[-50:])


def write_video(frames: np.ndarray, path: str | Path, fps: int = 16) -> Path:
    """Write uint8 frames (T, H, W, 3) to ``path``, by extension, atomically."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    path = Path(path)
    ext = path.suffix.lower()
    with atomic_path(path) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, frames, allow_pickle=False)
        elif ext == ".gif":
            import imageio.v3 as iio

            iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
        elif ext == ".mp4":
            import imageio.v2 as iio2

            # yuv420p for players' sake; sizes are multiples of 16 so no resizing happens.
            writer = iio2.get_writer(
                tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                quality=8, macro_block_size=1, output_params=["-movflags", "+faststart"],
            )
            try:
                for frame in frames:
                    writer.append_data(frame)
            finally:
                writer.close()
        else:
            raise OutputPathError(f"cannot write {str(path)!r}: unknown extension {ext!r}")
    return path


def side_by_side(reference: np.ndarray, test: np.ndarray, amplify: float = 8.0, gap: int = 4,
                 labels: tuple[str, str, str] | None = None) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of ``reference | test | |test − reference| × amplify``, with white gaps: what a
    caching method changed, made visible. ``labels``: a name over each panel, on a white band above the frames."""
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {test.shape}")
    diff = np.clip(np.abs(test.astype(np.int16) - reference.astype(np.int16)) * amplify, 0, 255).astype(np.uint8)
    t, h, w, c = reference.shape
    white = np.full((t, h, gap, c), 255, np.uint8)
    out = np.concatenate([reference, white, test, white, diff], axis=2)
    if labels is None:
        return out
    band = _label_band(labels, w, gap, c)
    return np.concatenate([np.broadcast_to(band, (t, *band.shape)), out], axis=1)


def _label_band(labels, width: int, gap: int, channels: int) -> np.ndarray:
    """A white band (16 rows, a multiple of 16 so video encoders keep the size) with each label at the left of its
    panel, in PIL's built-in font."""
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (3 * width + 2 * gap, 16), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for i, text in enumerate(labels):
        draw.text((i * (width + gap) + 2, 2), text, fill=(0, 0, 0))
    return np.asarray(band, dtype=np.uint8)[..., :channels]
