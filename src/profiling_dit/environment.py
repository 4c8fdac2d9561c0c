"""Library versions and device facts recorded in reports and profiles, so numbers can be reproduced."""

from __future__ import annotations

import platform

import torch


def library_versions() -> dict[str, str]:
    import diffusers
    import numpy
    import transformers

    from . import __version__

    return {
        "profiling_dit": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
    }


def device_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {"device": str(device), "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["cpu"] = _cpu_name()
        info["torch_threads"] = torch.get_num_threads()
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
