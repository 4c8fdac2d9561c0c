import numpy as np
import pytest

from profiling_dit._io import atomic_path, atomic_write_text
from profiling_dit.errors import OutputPathError
from profiling_dit.pipeline.video_io import check_output_path, write_video


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces(tmp_path):
    dest = tmp_path / "x.json"
    atomic_write_text(dest, "a")
    atomic_write_text(dest, "b")
    assert dest.read_text() == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_npy_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(5, 16, 32, 3), dtype=np.uint8)
    write_video(frames, tmp_path / "f.npy")
    assert np.array_equal(np.load(tmp_path / "f.npy"), frames)


def test_write_video_rejects_float(tmp_path):
    with pytest.raises(ValueError):
        write_video(np.zeros((2, 16, 16, 3), np.float32), tmp_path / "f.npy")


def test_check_output_path_rules(tmp_path):
    with pytest.raises(OutputPathError, match="extension"):
        check_output_path(tmp_path / "a.webm")
    with pytest.raises(OutputPathError, match="folder"):
        check_output_path(tmp_path)
    f = tmp_path / "a.mp4"
    f.write_bytes(b"")
    with pytest.raises(OutputPathError, match="`force`"):
        check_output_path(f)
    assert check_output_path(f, force=True) == f
