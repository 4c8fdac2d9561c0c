"""``python -m tools.train_embedded --out OUT [--arch tiny-deep] [--<any TrainConfig field> VALUE]``, from the
repository root: train (resuming from ``OUT/checkpoints``), judge on held-out prompts, write ``OUT/eval.json`` and
the model card ``OUT/model/README.md``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from profiling_dit._io import atomic_write_text

from .config import TrainConfig
from .model_card import write_model_card
from .stages import evaluate, train_tiny, transformer_seconds


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tools.train_embedded",
                                 description="Train the tiny Wan model on synthetic scenes (resumable).")
    ap.add_argument("--out", required=True)
    for name, field_ in TrainConfig.__dataclass_fields__.items():
        if name != "out":
            kind = (int if field_.default is None else
                    (lambda v: v.lower() in ("1", "true", "yes")) if isinstance(field_.default, bool) else
                    type(field_.default))
            ap.add_argument("--" + name.replace("_", "-"), type=kind, default=field_.default)
    ap.add_argument("--eval-prompts", type=int, default=0, help="held-out prompts to judge (0: all of them)")
    ap.add_argument("--skip-eval", action="store_true", help="train and save only (a phase that a later run resumes)")
    return ap


def main(argv: list[str] | None = None) -> None:
    from tqdm import tqdm

    args = vars(_parser().parse_args(argv))
    n_eval = args.pop("eval_prompts")
    skip_eval = args.pop("skip_eval")
    cfg = TrainConfig(**args)
    bars: dict[str, tqdm] = {}

    def progress(name, i, n, note=""):
        if name not in bars:
            bars[name] = tqdm(total=n, desc=name, mininterval=2.0)
        bar = bars[name]
        bar.n = i
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()

    t0 = time.time()
    folder = train_tiny(cfg, progress)
    for bar in bars.values():
        bar.close()
    if skip_eval:
        return
    from profiling_dit.embedded.synthetic import split_scenes

    held = split_scenes()[1]
    result = evaluate(folder, held[:n_eval] if n_eval else held)
    # a resumed run's own time says little: the transformer's training time is the loss log's span
    result["train_seconds"] = max(time.time() - t0, transformer_seconds(Path(cfg.out) / "loss_log.jsonl"))
    atomic_write_text(Path(cfg.out) / "eval.json", json.dumps(result, indent=2) + "\n")
    write_model_card(folder, cfg, result)
    print(json.dumps({k: v for k, v in result.items() if k != "verdicts"}))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    main()
