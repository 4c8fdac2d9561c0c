"""The shipped embedded models are trained: on prompts they never saw they draw the prompted colour,
moving the prompted way, over the prompted background (the synthetic generator's own judge)."""

import json
from pathlib import Path

import pytest

from profiling_dit.pipeline.generation import GenerationSettings, generate
from profiling_dit.embedded.synthetic import judge, split_scenes

# A fixed spread of held-out prompts (every 11th of the 55), chosen before the models were trained.
JUDGED = split_scenes()[1][::11]
EMBEDDED = ("tiny", "tiny-deep")


@pytest.fixture(scope="module", params=EMBEDDED)
def embedded(request, tiny_model):
    from profiling_dit.pipeline.loading import load_pipeline, resolve_model

    model = tiny_model if request.param == "tiny" else load_pipeline(resolve_model(request.param), device="cpu")
    return request.param, model


@pytest.mark.parametrize("name", EMBEDDED)
def test_the_shipped_model_is_marked_trained_small_and_has_a_model_card(name):
    from profiling_dit.pipeline.loading import resolve_model

    folder = Path(resolve_model(name).location)
    meta = json.loads((folder / "pdit_model.json").read_text())
    assert meta["trained"] is True
    card = (folder / "README.md").read_text()
    assert "Judge" in card and "held-out" in card and f"--model {name}`" in card
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 25e6, f"{name} is {size / 1e6:.1f} MB"
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))


def test_the_deep_model_has_twenty_blocks_or_more():
    from profiling_dit.pipeline.loading import resolve_model

    config = json.loads((Path(resolve_model("tiny-deep").location) / "transformer" / "config.json").read_text())
    assert config["num_layers"] >= 20


@pytest.fixture(scope="module")
def verdicts(embedded):
    name, model = embedded
    return name, {s.prompt: judge(generate(model, GenerationSettings(prompt=s.prompt, steps=20, seed=0)).frames[0], s)
                  for s in JUDGED}


def _show(verdicts):
    return {p: (v.detected_color, v.detected_background, tuple(round(d) for d in v.displacement))
            for p, v in verdicts.items()}


def test_held_out_prompts_get_their_colour_and_background(verdicts):
    name, verdicts = verdicts
    assert len(verdicts) == 5
    right = [p for p, v in verdicts.items() if v.color_ok and v.background_ok]
    assert len(right) >= 4, (name, _show(verdicts))


def test_held_out_prompts_pass_the_judge(verdicts):
    name, verdicts = verdicts
    passed = [p for p, v in verdicts.items() if v.passed]
    # The README reports the pass rate over all 55 held-out prompts (target: 80%); on these five, at least
    # four must pass. The 8-block model passes four: its white circle moves too little.
    assert len(passed) >= 4, (name, _show(verdicts))
