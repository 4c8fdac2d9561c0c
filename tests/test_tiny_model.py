"""The shipped embedded model is trained: on prompts it never saw it draws the prompted colour,
moving the prompted way, over the prompted background (the synthetic generator's own judge)."""

import json
from pathlib import Path

import pytest

from profiling_dit.pipeline.generation import GenerationSettings, generate
from profiling_dit.embedded.synthetic import judge, split_scenes

# A fixed spread of held-out prompts (every 11th of the 55), chosen before the model was trained.
JUDGED = split_scenes()[1][::11]


def test_the_shipped_model_is_marked_trained_and_has_a_model_card(tiny_model):
    from profiling_dit.pipeline.loading import resolve_model

    folder = resolve_model("tiny").location
    meta = json.loads((Path(folder) / "pdit_model.json").read_text())
    assert meta["trained"] is True
    card = (Path(folder) / "README.md").read_text()
    assert "Judge" in card and "held-out" in card


@pytest.fixture(scope="module")
def verdicts(tiny_model):
    return {s.prompt: judge(generate(tiny_model, GenerationSettings(prompt=s.prompt, steps=20, seed=0)).frames[0], s)
            for s in JUDGED}


def _show(verdicts):
    return {p: (v.detected_color, v.detected_background, tuple(round(d) for d in v.displacement))
            for p, v in verdicts.items()}


def test_held_out_prompts_get_their_colour_and_background(verdicts):
    assert len(verdicts) == 5
    right = [p for p, v in verdicts.items() if v.color_ok and v.background_ok]
    assert len(right) >= 4, _show(verdicts)


def test_held_out_prompts_pass_the_judge(verdicts):
    passed = [p for p, v in verdicts.items() if v.passed]
    # The README reports the pass rate over all 55 held-out prompts (issue 5's target: 80%); on these five,
    # at least four must pass. The shipped model passes four: the white circle moves too little.
    assert len(passed) >= 4, _show(verdicts)
