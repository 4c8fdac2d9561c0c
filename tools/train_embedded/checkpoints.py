"""The transformer stage's checkpoints: safetensors for tensors, JSON for the rest (no pickles)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from profiling_dit._io import atomic_path, atomic_write_text


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, extra: dict,
                    ema: dict[str, torch.Tensor] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for k, v in (ema or {}).items():
        tensors[f"ema.{k}"] = v.detach().cpu().contiguous()
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
    meta = {"step": step, "param_groups": opt_state["param_groups"], **extra}
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta) + "\n")


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    ema: dict[str, torch.Tensor] | None = None) -> dict | None:
    """Restore ``model``, ``opt`` (and the ``ema`` tensors, in place) from ``path``; None if absent."""
    from safetensors.torch import load_file

    if not path.with_suffix(".json").is_file():
        return None
    meta = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    for k, v in (ema or {}).items():
        v.copy_(tensors[f"ema.{k}"])
    return meta
