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


def _owner_alive(name: str, prefix: str) -> bool:
    """Whether the process whose id a temporary's name carries after ``prefix`` (``PREFIX<pid>-...``) still runs: a
    live writer's temporaries are its own, only a dead one's are leftovers."""
    pid = name[len(prefix):].split("-", 1)[0]
    if not pid.isdigit():
        return False  # an older run's name: no owner recorded
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's live process (or a number no process has: treated as alive, kept)
    return True


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted write of ``dest`` left beside it (``.NAME.<pid>-*.pdit-tmp*``), those
    of processes that no longer run: a concurrent writer's own are left alone."""
    dest = Path(dest)
    removed: list[Path] = []
    prefix = f".{dest.name}."
    try:
        candidates = list(dest.parent.glob(f".{glob_escape(dest.name)}.*{TEMP_MARK}*"))
    except OSError:
        return removed
    for p in candidates:
        if _owner_alive(p.name, prefix):
            continue
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
def atomic_set(folder: str | Path, overwrite: bool = True) -> Iterator[Stage]:
    """Write several files as one set: ``with atomic_set(folder) as stage: write to stage("name.png") …``.

    Files are written into a hidden temporary folder inside ``folder`` and moved into place only when the
    block succeeds, in the order they were staged (stage the file that names the others, e.g. a profile's
    JSON, last). On an exception nothing is moved and the temporary folder is removed; one a killed run left
    behind is removed by ``remove_stale_sets`` on the next run. Without ``overwrite``, the last file's name is
    claimed first (created exclusively, empty, ``FileExistsError`` when another run has it) and nothing is moved
    unless the claim holds: of two runs racing to one set only one writes it.
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{SET_MARK}{os.getpid()}-", dir=folder))
    stage = Stage(tmp)
    claimed = None
    try:
        yield stage
        if not overwrite and stage.staged:
            claimed = folder / stage.staged[-1]
            os.close(os.open(claimed, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        for name in stage.staged:
            if (tmp / name).exists():
                os.replace(tmp / name, folder / name)
        claimed = None
    except FileExistsError:
        raise
    except BaseException:
        if claimed is not None:  # our own empty claim: nothing of the set was written
            with contextlib.suppress(OSError):
                claimed.unlink()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_sets(folder: str | Path) -> None:
    """Remove the temporary folders of ``atomic_set`` that an interrupted run left in ``folder`` (those of processes
    that no longer run: a concurrent save's own folder is left alone)."""
    import shutil

    with contextlib.suppress(OSError):
        for p in Path(folder).glob(f"{SET_MARK}*"):
            if _owner_alive(p.name, SET_MARK):
                continue
            shutil.rmtree(p, ignore_errors=True)


def try_create(folder: Path, name: str = "") -> None:
    """Create and remove a temporary file in ``folder`` with a name as long as ``name``'s (+ a few characters):
    proves the folder takes new files (``/proc``, read-only mounts refuse) and that such a name is not too long.
    ``OSError`` when it does not."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".check", dir=folder)
    os.close(fd)
    os.unlink(tmp)


def check_output_folder(folder: str | Path, what: str) -> Path:
    """``folder`` as a path, once shown to take new files before any work: not empty, not a file, and a folder that
    can be made (when missing) and a file created in (tried, then undone: the file and any folder the try made are
    removed, so a refused run, or one that fails later, leaves none behind). ``what``: what will be written there,
    for the messages. Raises ``OutputPathError`` (one line) with the fix."""
    import itertools

    from .errors import OutputPathError

    if not str(folder).strip():
        raise OutputPathError(f"the output folder is empty; give a folder for {what}")
    path = Path(folder).expanduser()
    made: list[Path] = []
    doing = "create the folder"
    try:
        if path.exists() and not path.is_dir():
            raise OutputPathError(f"{str(path)!r} is a file; give a folder for {what}")
        made = list(itertools.takewhile(lambda p: not p.exists(), (path, *path.parents)))
        path.mkdir(parents=True, exist_ok=True)
        doing = "write into"
        try_create(path)
    except OSError as e:
        raise OutputPathError(f"cannot {doing} {str(path)!r} ({e.strerror or e}); choose another folder") from None
    finally:
        for p in made:  # the deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
    return path


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


@contextlib.contextmanager
def atomic_path(dest: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dest`` (same suffix); move it onto ``dest`` on success.

    On an exception the temporary file is removed and ``dest`` is left untouched. Without ``overwrite`` the move
    fails (``FileExistsError``) when ``dest`` appeared meanwhile (another run writing the same file): a hard link
    claims the name atomically, so of two runs racing to one file only one writes it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}-", suffix=f"{TEMP_MARK}{dest.suffix}",
                               dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        if overwrite:
            os.replace(tmp_path, dest)
        else:
            _claim(tmp_path, dest)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if e.filename is None and e.errno is not None:  # a write that failed (a full disk) names no file: this one
            raise OSError(e.errno, e.strerror, str(dest)) from e
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _claim(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` onto ``dest`` only if ``dest`` does not exist (``FileExistsError`` otherwise)."""
    import errno

    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise
    except OSError as e:  # a filesystem without hard links: check, then move (a narrow race remains there)
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if dest.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(dest)) from None
        os.replace(tmp, dest)
        return
    tmp.unlink()


def atomic_write_bytes(dest: str | Path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(dest, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(dest: str | Path, text: str, overwrite: bool = True) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"), overwrite)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
