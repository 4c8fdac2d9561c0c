import numpy as np
import pytest

from profiling_dit.errors import InvalidSettingError
from profiling_dit.profile.scoring import r_attn, split_blocks, suggest_schedule
from profiling_dit.profile.segmentation import (
    PcaOtsuSegmenter,
    load_user_masks,
    pca_rgb,
    to_token_grid,
    video_masks_to_latent_frames,
)


def test_r_attn_hand_computed():
    # 2 frames of 2x3 tokens. Foreground: frame 0 {(0,0),(0,1)}, frame 1 {(1,2)}.
    fg = np.zeros((2, 2, 3), bool)
    fg[0, 0, 0] = fg[0, 0, 1] = True
    fg[1, 1, 2] = True
    # ā over 12 tokens; mean is 1/12. High (> 1/12): frame0 (0,0) and frame1 (1,2) and frame1 (0,0).
    abar = np.full((2, 2, 3), 0.5 / 9)
    abar[0, 0, 0] = abar[1, 1, 2] = abar[1, 0, 0] = 0.5 / 3
    assert abs(abar.sum() - 1) < 1e-12
    # frame 0: 1 of 2 fg tokens high -> 0.5; frame 1: 1 of 1 -> 1.0; mean 0.75
    assert r_attn(abar.ravel(), fg, 1.0) == pytest.approx(0.75)
    # κ = 2.5: threshold 2.5/12 ≈ 0.208 > 1/6, nothing is high
    assert r_attn(abar.ravel(), fg, 2.5) == 0.0


def test_r_attn_skips_frames_without_foreground_and_nan_when_empty():
    fg = np.zeros((2, 1, 2), bool)
    fg[1, 0, 0] = True
    abar = np.array([0.7, 0.1, 0.1, 0.1])
    assert r_attn(abar, fg) == 0.0  # only frame 1 counts; its fg token has 0.1 < 0.25
    assert np.isnan(r_attn(abar, np.zeros((2, 1, 2), bool)))


def test_split_by_tau_and_by_share():
    scores = [0.9, 0.1, 0.5, 0.3]
    assert split_blocks(scores, tau=0.4) == (0.4, [0, 2], [1, 3])
    tau, fg, bg = split_blocks(scores, background_share=0.5)
    assert (fg, bg) == ([0, 2], [1, 3]) and tau == pytest.approx(0.4)
    assert split_blocks(scores, background_share=0.0)[2] == []
    assert split_blocks(scores, background_share=1.0)[1] == []
    # ties: lower index to background first
    assert split_blocks([0.2, 0.2, 0.2], background_share=0.34)[2] == [0]
    with pytest.raises(InvalidSettingError):
        split_blocks(scores, tau=1.5)
    with pytest.raises(InvalidSettingError):
        split_blocks(scores, tau=0.1, background_share=0.5)


def test_suggest_schedule_shapes():
    rel = {s: (2.0 if s < 4 else 0.1) for s in range(1, 20)}
    sch = suggest_schedule(rel, 20)
    assert sch["warmup"] == 4
    assert 2 <= sch["interval_min"] <= sch["interval_max"] <= 20 // 3


def test_fallback_segmenter_finds_a_square():
    rgb = np.zeros((3, 16, 16, 3), np.float32) + 0.2
    rgb[:, 4:9, 6:11] = [0.9, 0.1, 0.1]
    masks = PcaOtsuSegmenter()(rgb)
    truth = np.zeros((3, 16, 16), bool)
    truth[:, 4:9, 6:11] = True
    iou = (masks & truth).sum() / (masks | truth).sum()
    assert iou > 0.6


def test_pca_rgb_range_and_shape():
    import torch

    pred = torch.randn(8, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    rgb = pca_rgb(pred)
    assert rgb.shape == (3, 6, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1


def test_to_token_grid_area_pooling():
    m = np.zeros((1, 4, 4), bool)
    m[0, :2, :2] = True  # top-left token fully fg
    m[0, 2, 2] = True  # a quarter of the bottom-right token: not fg
    got = to_token_grid(m, (1, 2, 2))
    assert got.tolist() == [[[True, False], [False, False]]]


def test_video_masks_group_like_the_vae():
    video = np.zeros((9, 2, 2), bool)  # 9 frames -> 3 latent frames: [0], [1..4], [5..8]
    video[0] = True
    video[1:4] = True  # 3 of 4 frames of group 1
    video[5] = True  # 1 of 4 frames of group 2
    lat = video_masks_to_latent_frames(video, 3, 4)
    assert [bool(f.all()) for f in lat] == [True, True, False]
    with pytest.raises(InvalidSettingError, match="frames"):
        video_masks_to_latent_frames(np.zeros((7, 2, 2), bool), 3, 4)


def test_user_masks_errors(tmp_path):
    with pytest.raises(InvalidSettingError, match="does not exist"):
        load_user_masks(tmp_path / "none.npy", (3, 4, 4), 4)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 8, 8)))
    with pytest.raises(InvalidSettingError, match="frames"):
        load_user_masks(bad, (3, 4, 4), 4)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((8, 8)))
    with pytest.raises(InvalidSettingError, match="shape"):
        load_user_masks(flat, (3, 4, 4), 4)
    ok = tmp_path / "ok.npy"
    np.save(ok, np.ones((9, 16, 16), np.uint8))
    assert load_user_masks(ok, (3, 4, 4), 4).all()


def test_every_block_background_keeps_tau_an_r_attn():
    tau, fg, bg = split_blocks([0.2, 1.0, 0.5], background_share=1)
    assert fg == [] and bg == [0, 1, 2] and 0 <= tau <= 1  # a profile bounds tau to R_attn's [0, 1]


def test_a_profile_without_its_staleness_table_is_refused_before_the_run():
    from profiling_dit.profile.settings import ProfileSettings

    with pytest.raises(InvalidSettingError, match="`staleness` must be True"):
        ProfileSettings(staleness=False)
