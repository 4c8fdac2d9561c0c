"""Atomic file writes: a reader never sees a half-written file.

Each writer writes to a temporary file in the destination folder, flushes it, then renames it over
the destination with ``os.replace`` (atomic on POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


TEMP_MARK = ".pdit-tmp"


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted write of ``dest`` left beside it (``.NAME.*.pdit-tmp*``)."""
    dest = Path(dest)
    removed: list[Path] = []
    try:
        candidates = list(dest.parent.glob(f".{glob_escape(dest.name)}.*{TEMP_MARK}*"))
    except OSError:
        return removed
    for p in candidates:
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


SET_MARK = ".pdit-set-"


class Stage:
    """``stage("name.png")``: the path to write a file of the set to; ``stage.folder``: where staged files go
    (for writers that name their own files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.staged: list[str] = []

    def __call__(self, name: str) -> Path:
        if name in self.staged:
            self.staged.remove(name)
        self.staged.append(name)
        return self.folder / name


@contextlib.contextmanager
def atomic_set(folder: str | Path) -> Iterator[Stage]:
    """Write several files as one set: ``with atomic_set(folder) as stage: write to stage("name.png") …``.

    Files are written into a hidden temporary folder inside ``folder`` and moved into place only when the
    block succeeds, in the order they were staged (stage the file that names the others, e.g. a profile's
    JSON, last). On an exception nothing is moved and the temporary folder is removed; one a killed run left
    behind is removed by ``remove_stale_sets`` on the next run.
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=SET_MARK, dir=folder))
    stage = Stage(tmp)
    try:
        yield stage
        for name in stage.staged:
            if (tmp / name).exists():
                os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_sets(folder: str | Path) -> None:
    """Remove the temporary folders of ``atomic_set`` that an interrupted run left in ``folder``."""
    import shutil

    with contextlib.suppress(OSError):
        for p in Path(folder).glob(f"{SET_MARK}*"):
            shutil.rmtree(p, ignore_errors=True)


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest`` (same suffix); move it onto ``dest`` on success.

    On an exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f"{TEMP_MARK}{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(dest: str | Path, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(dest: str | Path, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
