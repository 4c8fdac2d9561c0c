"""Shared fixtures: tiny pipelines only, built from configs or the embedded folder."""

from __future__ import annotations

import os

import pytest
import torch

# Never reach for the network from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

SMALL = dict(height=64, width=64, frames=9, steps=3)


@pytest.fixture(scope="session")
def saved_tiny_dir(tmp_path_factory):
    """A fresh 2-block tiny WanPipeline written with ``save_pretrained`` (not the embedded one)."""
    from profiling_dit.embedded.tiny import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("saved_tiny")
    pipe = build_tiny_pipeline(seed=123, num_layers=2)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_model():
    """The embedded tiny model, loaded once on CPU."""
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    return load_pipeline(resolve_model("tiny"), device="cpu")


@pytest.fixture()
def cli():
    """Invoke the CLI in-process; returns click's Result."""
    from typer.testing import CliRunner

    from profiling_dit.cli.app import app

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


# --- tiers: `make test-fast` runs the tests not marked slow ----------------------------------------------------
# A test is slow when it loads or runs a pipeline, trains, or starts processes: it uses one of these fixtures, sits in
# one of these modules, or says so itself (@pytest.mark.slow). Everything else is a unit test of the library's logic.
SLOW_FIXTURES = {"tiny_model", "saved_tiny_dir", "small_profile", "family", "stock", "baseline_count", "verdicts"}
SLOW_MODULES = {"test_training", "test_tiny_model", "test_parallel", "test_models"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__ in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
