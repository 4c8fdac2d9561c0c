"""The embedded model called as a plain diffusers WanPipeline: how many held-out prompts pass its judge with
diffusers' default max_sequence_length (512) and with the 16 tokens it was trained with (its model card
quotes the result).

    python benchmarks/sequence_length_check.py
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DiffusionPipeline

from profiling_dit.embedded.synthetic import prompt_judge, split_scenes
from profiling_dit.models import TINY_MODEL_DIR

PROMPTS = 12


def main() -> None:
    pipe = DiffusionPipeline.from_pretrained(str(TINY_MODEL_DIR))
    pipe.set_progress_bar_config(disable=True)
    passed = {512: 0, 16: 0}
    for scene in split_scenes()[1][:PROMPTS]:
        for length in passed:
            video = pipe(scene.prompt, num_inference_steps=20, height=128, width=128, num_frames=17,
                         max_sequence_length=length, output_type="np",
                         generator=torch.Generator("cpu").manual_seed(0)).frames[0]
            passed[length] += bool(prompt_judge((video * 255).round().clip(0, 255).astype(np.uint8), scene.prompt))
    print(f"judge passes over the first {PROMPTS} held-out prompts, by max_sequence_length: {passed}")


if __name__ == "__main__":
    main()
