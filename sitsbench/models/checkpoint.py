"""Checkpoints: weights plus everything needed to rebuild the model (registry name, kwargs, config).

Files are written atomically (temporary file in the same folder, then rename), so an interrupted run never
leaves a truncated checkpoint. Loading uses ``torch.load(weights_only=True)``: only tensors and plain Python
values are read, never arbitrary pickled objects.
"""

from __future__ import annotations

import io
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sitsbench.atomic import written
from sitsbench.models.registry import create_model


def save_checkpoint(path: str | Path, model: nn.Module, config: Any = None, **extra: Any) -> Path:
    """Save ``model`` (built by :func:`~sitsbench.models.create_model`) with its name, kwargs and ``config``; the
    same weights and arguments give the same bytes (a reproducible checksum)."""
    if not hasattr(model, "model_name"):
        raise ValueError("the model was not built by create_model: its registry name and kwargs are unknown")
    payload = {
        "model_name": model.model_name,
        "model_kwargs": {**model.model_kwargs, "num_classes": getattr(model, "num_classes", None)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": asdict(config) if is_dataclass(config) else config,
        "extra": extra,
    }
    buffer = io.BytesIO()  # torch names the archive's folder after a file's name: the temporary name varied it
    torch.save(payload, buffer)
    with written(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model of a checkpoint and load its weights; returns ``(model, payload)``."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    missing = [k for k in ("model_name", "model_kwargs", "state_dict") if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise ValueError(f"{path} is not a sitsbench checkpoint: no {missing} (save it with save_checkpoint)")
    model = create_model(payload["model_name"], **payload["model_kwargs"])
    model.load_state_dict(payload["state_dict"])
    return model, payload
