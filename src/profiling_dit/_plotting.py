"""Matplotlib without a screen, and atomic PNG writes (shared by the profile's and the benchmark's pictures)."""

from __future__ import annotations

from pathlib import Path

from ._io import atomic_path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    plt = pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
