"""Writing frames: ``.mp4`` (H.264 via imageio-ffmpeg), ``.gif``, or ``.npy`` (exact uint8 frames).

Frames are uint8 arrays of shape (T, H, W, 3). They are written as they are: no float round trip
(``diffusers.utils.export_to_video`` would rescale uint8 input and corrupt it). Every write is atomic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path, try_create
from ..errors import OutputPathError

VIDEO_EXTENSIONS = (".mp4", ".gif", ".npy")


def check_output_path(path: str | Path, force: bool = False, extensions=VIDEO_EXTENSIONS) -> Path:
    """Check an output path before any work: known extension, not overwriting, a folder where a file can
    really be created (tried, then removed), and a name the filesystem accepts. Creates nothing (missing folders
    are made when the file is written, so a refused run leaves none behind) and removes temporary files an
    interrupted earlier write left beside the target. Raises ``OutputPathError`` with the fix.
    """
    import os

    from .._io import remove_stale_temporaries

    shown = _shown(path)
    if not str(path).strip():
        raise OutputPathError("the output path is empty; give a file name such as out" + extensions[0])
    try:
        path = Path(path).expanduser()
        if path.is_dir():
            raise OutputPathError(f"{shown} is a folder; give a file name such as {path / ('out' + extensions[0])}")
        if path.suffix.lower() not in extensions:
            raise OutputPathError(f"cannot write {shown}: the extension must be one of {', '.join(extensions)}")
        if path.exists() and not force:
            raise OutputPathError(f"{shown} already exists; overwrite it with `force`")
        folder = next(p for p in (path.parent.absolute(), *path.parent.absolute().parents) if p.exists())
        if not folder.is_dir():
            raise OutputPathError(f"cannot write {shown}: {_shown(folder)} is a file, not a folder")
        if not os.access(folder, os.W_OK):
            raise OutputPathError(f"cannot write into {_shown(folder)}: permission denied")
        if folder == path.parent.absolute():
            remove_stale_temporaries(path)
        try_create(folder, path.name)
    except OSError as e:
        raise OutputPathError(f"cannot write {shown}: {e.strerror or e}") from None
    return path


def _shown(path) -> str:
    """A path for a message: quoted, and cut in the middle when very long."""
    text = str(path)
    return repr(text if len(text) <= 120 else text[:60] + "…" + text[-50:])


def write_video(frames: np.ndarray, path: str | Path, fps: int = 16, overwrite: bool = True) -> Path:
    """Write uint8 frames (T, H, W, 3) to ``path``, by extension, atomically (without ``overwrite``, refused when
    ``path`` exists by then: another run wrote it)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    path = Path(path)
    ext = path.suffix.lower()
    try:
        return _write_video(frames, path, ext, fps, overwrite)
    except FileExistsError:
        raise OutputPathError(f"{str(path)!r} appeared while this run worked (another run wrote it); it was left as "
                              "it is: give another name, or `force` to overwrite") from None


def _write_video(frames: np.ndarray, path: Path, ext: str, fps: int, overwrite: bool) -> Path:
    with atomic_path(path, overwrite) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, frames, allow_pickle=False)
        elif ext == ".gif":
            import imageio.v3 as iio

            # Encoded in memory, then written by us: on a full disk imageio's own file writer failed a second
            # time when it was collected.
            data = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 / fps, loop=0)
            with open(tmp, "wb") as f:
                f.write(data)
        elif ext == ".mp4":
            import imageio.v2 as iio2

            # yuv420p for players' sake; sizes are multiples of 16 so no resizing happens.
            writer = iio2.get_writer(
                tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                quality=8, macro_block_size=1, output_params=["-movflags", "+faststart"],
            )
            try:
                try:
                    for frame in frames:
                        writer.append_data(frame)
                finally:
                    writer.close()
            except (OSError, RuntimeError) as e:  # ffmpeg's failure (a full disk) comes as a broken pipe, and more
                raise OutputPathError(f"the video encoder could not write {str(path)!r} ({str(e).splitlines()[0]}); "
                                      "nothing was replaced (a full disk?)") from e
        else:
            raise OutputPathError(f"cannot write {str(path)!r}: unknown extension {ext!r}")
        _check_written(tmp, path, len(frames))
    return path


def _check_written(tmp: Path, path: Path, frames: int) -> None:
    """The encoder really wrote the video: an encoder that fails (a full disk) may leave an empty or cut file and say
    nothing; then nothing replaces ``path``."""
    size = tmp.stat().st_size
    readable = size > 0
    if readable and path.suffix.lower() == ".mp4":
        import imageio.v2 as iio2

        try:  # ffmpeg counts the frames it can decode
            with iio2.get_reader(tmp, format="FFMPEG") as reader:
                readable = reader.count_frames() == frames  # type: ignore[attr-defined]  # the FFMPEG reader has it
        except Exception:  # noqa: BLE001 - any failure to read it back means it was not written whole
            readable = False
    if not readable:
        raise OutputPathError(f"the video encoder did not write {str(path)!r} whole ({size} bytes; a full disk?); "
                              "nothing was replaced")


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
