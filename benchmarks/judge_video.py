"""Judge a video file (.mp4, .gif, or pdit's .npy frames) against a synthetic-scene prompt (e.g. what
`make demo` wrote).

Prints the judge's verdict (colour, direction, background) and where the foreground's centroid is
every fourth frame, so the motion can be read as numbers:

    python benchmarks/judge_video.py outputs/demo.mp4 "a red circle moving right over grass"
"""

from __future__ import annotations

import argparse
import json


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("prompt")
    args = ap.parse_args(argv)

    import imageio.v3 as iio
    import numpy as np

    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.embedded.synthetic import foreground_masks, judge, scene_from_prompt

    scene = scene_from_prompt(args.prompt)
    if scene is None:
        raise InvalidSettingError(f"{args.prompt!r} is not a synthetic-scene prompt; write it like "
                                  "'a red circle moving left over grass'")
    if args.video.endswith(".npy"):  # pdit's exact frames (T, H, W, 3) uint8; never a pickle
        video = np.load(args.video, allow_pickle=False)
        if video.ndim == 5:  # a batch: the first video
            video = video[0]
    else:
        video = np.asarray(iio.imread(args.video))
    verdict = judge(video, scene)
    path = []
    for t, mask in enumerate(foreground_masks(video)):
        if t % 4 == 0 or t == len(video) - 1:
            ys, xs = np.nonzero(mask)
            path.append({"frame": t, "y": round(float(ys.mean()), 1) if len(ys) else None,
                         "x": round(float(xs.mean()), 1) if len(xs) else None, "pixels": int(mask.sum())})
    out = {"prompt": args.prompt, "passed": verdict.passed, "color_ok": verdict.color_ok,
           "motion_ok": verdict.motion_ok, "background_ok": verdict.background_ok,
           "detected_color": verdict.detected_color, "detected_background": verdict.detected_background,
           "displacement_px": [round(d, 1) for d in verdict.displacement], "centroid_path": path}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    from profiling_dit.errors import InvalidSettingError

    try:
        main()
    except InvalidSettingError as exc:  # a one-line error, not a traceback
        raise SystemExit(f"error: {exc}") from None
