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
    """Check an output path before any work: known extension, not overwriting, folder writable.

    Creates the parent folder. Raises ``OutputPathError`` with the fix.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputPathError(f"{str(path)!r} is a folder; give a file name such as {path / ('out' + extensions[0])}")
    if path.suffix.lower() not in extensions:
        raise OutputPathError(
            f"cannot write {str(path)!r}: the extension must be one of {', '.join(extensions)}"
        )
    if path.exists() and not force:
        raise OutputPathError(f"{str(path)!r} already exists; overwrite it with `force`")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create the folder for {str(path)!r}: {e.strerror or e}") from None
    import os

    if not os.access(path.parent, os.W_OK):
        raise OutputPathError(f"cannot write into {str(path.parent)!r}: permission denied")
    return path


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
