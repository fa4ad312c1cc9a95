"""Which device trains, with which precision, and a description of the machine for reports.

torch is imported inside the functions: this module is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postroom.machine import cpu_model, describe
from training.config import TrainConfig
from training.errors import TrainingError


@dataclass(frozen=True)
class DeviceChoice:
    """The resolved device: `cpu` or `cuda`, the autocast precision, and a human-readable name."""

    type: str
    precision: str  # fp32 | fp16 | bf16
    name: str

    @property
    def torch_device(self) -> str:
        return "cuda:0" if self.type == "cuda" else "cpu"


def resolve_device(config: TrainConfig) -> DeviceChoice:
    """CUDA when available (or asked for), mixed precision there; the CPU otherwise."""
    import torch

    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise TrainingError("device 'cuda' was asked for, but torch sees no CUDA device")
    use_cuda = cuda and config.device != "cpu"
    if not use_cuda:
        if config.precision in ("fp16", "bf16"):
            raise TrainingError(f"precision {config.precision!r} needs a CUDA device; use 'auto' or 'fp32'")
        return DeviceChoice("cpu", "fp32", cpu_model())
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return DeviceChoice("cuda", precision, torch.cuda.get_device_name(0))


def machine_info() -> dict[str, Any]:
    """The machine (`postroom.machine.describe`), GPU and library versions, for benchmark reports."""
    import sentence_transformers
    import setfit
    import sklearn
    import torch
    import transformers

    info: dict[str, Any] = {
        **describe(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "setfit": setfit.__version__,
        "scikit_learn": sklearn.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info
