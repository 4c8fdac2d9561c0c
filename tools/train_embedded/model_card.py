"""The model card of a trained model: ``model_card.md``, a ``string.Template``, filled with what the run recorded.

``card_values`` turns a run (its config, its loss log, its judged result) into the template's values, one
string each, so the wording lives in the template and only the numbers and lists come from here."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from profiling_dit._io import atomic_write_text

from .config import TRAINED_VAE_CONFIG, TrainConfig, latent_frame_count, transformer_config

TEMPLATE = Path(__file__).with_name("model_card.md")


def _phase_steps(log_path: Path, cfg: TrainConfig) -> list[tuple[int, int, tuple[int, ...], int | None]]:
    """(step, latent frames, latent size, batch) of every transformer step: from the loss log when there is one,
    else what ``train_transformer`` would do with ``cfg``."""
    spatial = TRAINED_VAE_CONFIG["scale_factor_spatial"]
    full = (cfg.height // spatial, cfg.width // spatial)
    clip_frames = latent_frame_count(cfg)
    if log_path.exists():
        records = [json.loads(line) for line in log_path.read_text().splitlines()]
        return [(r["step"], r["latent_frames"], tuple(r.get("latent_size", full)), r.get("batch"))
                for r in records if r.get("stage") == "transformer"]
    total = cfg.dit_image_steps + cfg.dit_steps
    crops = cfg.dit_steps - cfg.dit_full_steps if cfg.dit_crop and cfg.dit_steps > cfg.dit_full_steps else 0
    window = min(cfg.dit_crop_frames or clip_frames, clip_frames)
    crop_size = (full[0], cfg.dit_crop) if cfg.dit_crop_strips else (cfg.dit_crop,) * 2
    return [(i + 1, 1, full, cfg.dit_image_batch) if i < cfg.dit_image_steps else
            (i + 1, window, crop_size, cfg.dit_crop_batch) if i < cfg.dit_image_steps + crops else
            (i + 1, clip_frames, full, cfg.dit_batch) for i in range(total)]


def _phases(log_path: Path, cfg: TrainConfig) -> str:
    """The transformer's training steps as phases (from the loss log when there is one, else ``cfg``)."""
    spatial = TRAINED_VAE_CONFIG["scale_factor_spatial"]
    full = (cfg.height // spatial, cfg.width // spatial)
    clip_frames = latent_frame_count(cfg)
    on_object = " centred on the object" if cfg.dit_crop_on_object else ""
    phases: list[list] = []
    for step, latent_frames, size, batch in _phase_steps(log_path, cfg):
        strip = size != full and (size[0] == full[0] or size[1] == full[1])
        shape = (f"strips {max(size) // 2} tokens long (the whole frame along the motion) and {min(size) // 2} wide"
                 if strip else f"{size[0] // 2}x{size[1] // 2}-token crops")
        kind = ("first frames (images)" if latent_frames == 1 else
                "whole clips" if size == full else
                f"{shape}{on_object} of "
                + ("clips" if latent_frames >= clip_frames else f"{latent_frames}-latent-frame windows"))
        if phases and phases[-1][0] == (kind, batch):
            phases[-1][2] = step
        else:
            phases.append([(kind, batch), step, step])
    # a whole-clip phase that is not the last one ends a finished run that was resumed with more video steps
    resumed = (" (the run ended here and was resumed with more video steps: its learning rate's cosine "
               "restarted at the longer schedule's value)")
    return ", then ".join(f"steps {a}-{b} on {kind}" + (f" at batch {batch}" if batch else "")
                          + (resumed if kind == "whole clips" and i < len(phases) - 1 else "")
                          for i, ((kind, batch), a, b) in enumerate(phases))


def _motion_limit(motion: int, judged: int) -> str:
    """The model card's line on direction, when the model gets it wrong often (none when >= 80% right)."""
    if not judged or motion >= 0.8 * judged:
        return ""
    if motion * 5 < judged:
        return (f"- **It does not move the object the prompted way** (direction right in {motion} of {judged}): "
                "the transformer uses the colour, shape and background words but hardly the direction word. See "
                "docs/embedded-model.md in the repository.\n")
    return (f"- **It moves the object the prompted way in only {motion} of {judged} held-out prompts**; in the "
            "others the object moves too little, or the wrong way. See docs/embedded-model.md in the repository.\n")


def card_values(cfg: TrainConfig, result: dict) -> dict[str, str]:
    """The template's values for a run: ``cfg``, its loss log (``cfg.out/loss_log.jsonl``, if there) and ``result``
    (``evaluate``'s: ``verdicts``, ``vae_psnr_held_out``; and ``train_seconds``)."""
    from profiling_dit.embedded.synthetic import BACKGROUNDS, COLORS, DIRECTIONS, SHAPES, split_scenes

    train, held = split_scenes()
    verdicts = result["verdicts"]
    judged = len(verdicts)
    motion = sum(v["motion_ok"] for v in verdicts)
    spatial = TRAINED_VAE_CONFIG["scale_factor_spatial"]
    arch = transformer_config(cfg)
    patch = arch["patch_size"]
    grid = (cfg.height // spatial // patch[1], cfg.width // spatial // patch[2])
    heads = arch["num_attention_heads"]
    values = {
        "name": cfg.arch.replace("tiny", "tiny-wan", 1),  # tiny-wan, tiny-wan-deep: the asset folders
        "arch": cfg.arch, "seed": cfg.seed, "clips": cfg.clips,
        "blocks": arch["num_layers"], "heads": f"{heads} head{'s' if heads > 1 else ''}",
        "head_dim": arch["attention_head_dim"], "ffn": arch["ffn_dim"], "patch": tuple(patch),
        "spatial": spatial, "temporal": 2 ** sum(TRAINED_VAE_CONFIG["temperal_downsample"]),
        "z_dim": TRAINED_VAE_CONFIG["z_dim"], "frames": cfg.frames, "height": cfg.height, "width": cfg.width,
        "latent_frames": latent_frame_count(cfg), "grid_rows": grid[0], "grid_cols": grid[1],
        "tokens": grid[0] * grid[1],
        "shapes": ", ".join(SHAPES), "colours": ", ".join(COLORS), "directions": "/".join(DIRECTIONS),
        "backgrounds": ", ".join(BACKGROUNDS), "held": len(held), "combinations": len(train) + len(held),
        "where": "2 CPU cores" if cfg.device == "cpu" else cfg.device,
        "minutes": f"{result.get('train_seconds', 0) / 60:.0f}",
        "phases": _phases(Path(cfg.out) / "loss_log.jsonl", cfg),
        "cfg_dropout": f"{cfg.cfg_dropout:.0%}", "ema_decay": cfg.ema_decay,
        "passed": sum(v["passed"] for v in verdicts), "judged": judged,
        "judged_note": f" (the first {judged} of the {len(held)} held-out prompts)" if judged < len(held) else "",
        "colour": sum(v["color_ok"] for v in verdicts), "motion": motion,
        "background": sum(v["background_ok"] for v in verdicts),
        "vae_psnr": f"{result['vae_psnr_held_out']:.1f}",
        "motion_limit": _motion_limit(motion, judged),
    }
    return {k: str(v) for k, v in values.items()}


def template_fields() -> set[str]:
    """The names of the template's placeholders."""
    template = Template(TEMPLATE.read_text())
    return {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)
            if m.group("named") or m.group("braced")}


def render_model_card(values: dict[str, str]) -> str:
    """The card's text: the template filled with ``values`` (a placeholder without a value is a KeyError)."""
    return Template(TEMPLATE.read_text()).substitute(values)


def write_model_card(folder: str | Path, cfg: TrainConfig, result: dict) -> Path:
    """Write ``README.md`` (the model card) into a trained model folder, with the measured results."""
    path = Path(folder) / "README.md"
    atomic_write_text(path, render_model_card(card_values(cfg, result)))
    return path
