import numpy as np
import pytest

from profiling_dit.errors import InvalidSettingError
from profiling_dit.embedded.synthetic import (
    COLORS,
    DIRECTIONS,
    Scene,
    all_scenes,
    judge,
    mask_iou,
    render,
    scene_from_prompt,
    split_scenes,
)
from profiling_dit.embedded.tiny import VOCABULARY


def test_render_is_deterministic_and_masks_match_the_object():
    s = Scene("red", "circle", "left", "grass")
    v1, m1 = render(s, seed=3)
    v2, m2 = render(s, seed=3)
    v3, _ = render(s, seed=4)
    assert v1.shape == (17, 128, 128, 3) and v1.dtype == np.uint8 and m1.shape == (17, 128, 128)
    assert np.array_equal(v1, v2) and np.array_equal(m1, m2) and not np.array_equal(v1, v3)
    assert np.all(v1[m1] == COLORS["red"])  # the mask is exactly the painted object
    assert 0.02 < m1.mean() < 0.2


def test_prompts_use_the_tokenizer_vocabulary():
    words = set(VOCABULARY)
    for s in all_scenes():
        assert set(s.prompt.split()) <= words, s.prompt


def test_held_out_split_is_deterministic_and_covers_every_value():
    train, test = split_scenes()
    assert train and test and not set(train) & set(test)
    assert 0.08 < len(test) / len(all_scenes()) < 0.25
    assert split_scenes() == (train, test)


@pytest.mark.slow
def test_judge_passes_ground_truth_for_every_scene():
    failures = [s.prompt for s in all_scenes() if not judge(render(s, frames=9, height=64, width=64)[0], s).passed]
    assert not failures, failures[:5]


@pytest.mark.parametrize("wrong", [
    Scene("blue", "circle", "left", "grass"),     # colour
    Scene("red", "circle", "right", "grass"),     # direction
    Scene("red", "circle", "left", "sand"),       # background
])
def test_judge_fails_a_mismatched_prompt(wrong):
    video, _ = render(Scene("red", "circle", "left", "grass"), seed=1)
    assert not judge(video, wrong).passed


def test_judge_fails_a_static_or_empty_video():
    video, _ = render(Scene("red", "square", "up", "sky"), seed=2)
    static = np.repeat(video[:1], len(video), axis=0)
    assert not judge(static, Scene("red", "square", "up", "sky")).motion_ok
    blank = np.broadcast_to(np.array([120, 180, 235], np.uint8), video.shape).copy()
    assert not judge(blank, Scene("red", "square", "up", "sky")).passed


def test_mask_iou():
    a = np.zeros((2, 4, 4), bool)
    a[:, :2] = True
    b = np.zeros_like(a)
    b[:, :, :2] = True
    assert mask_iou(a, a) == 1.0 and mask_iou(a, b) == pytest.approx(4 / 12)


def test_unknown_scene_values():
    with pytest.raises(InvalidSettingError, match="colour"):
        Scene("teal", "circle", "left", "grass")
    assert set(DIRECTIONS) == {"left", "right", "up", "down"}


def test_scene_from_prompt_reads_the_generators_prompts_only():
    assert all(scene_from_prompt(s.prompt) == s for s in all_scenes())
    assert scene_from_prompt("  An Orange square moving up over sky ") == Scene("orange", "square", "up", "sky")
    for other in ("a red ball rolling on grass", "a teal circle moving left over grass", "a red circle moving left",
                  "a red circle moving sideways over grass", ""):
        assert scene_from_prompt(other) is None
