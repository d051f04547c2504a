"""A model registry in the spirit of timm: ``@register_model(name)``, ``create_model(name, ...)``, ``list_models()``.

A registered factory takes ``in_channels`` and ``num_classes`` plus keyword options and returns an
``nn.Module``. :func:`create_model` remembers the name and arguments on the model (``model_name``,
``model_kwargs``) so that checkpoints can rebuild it. Each factory may declare the kind of input its model
reads (``"series"`` ``(B, T, C)``, ``"pixelset"`` ``(B, T, C, S)``, ``"patch"`` ``(B, T, C, H, W)``, ``"plane"``
for 2D image representations...) with ``register_model(name, input_kind=...)``; the model carries it as
``model.input_kind``. Models that read the day of year of each date (a positional encoding of the calendar, as
L-TAE and SITS transformers do) are registered with ``reads_doy=True``: they accept any dates, while the others
read fixed positions (see :mod:`sitsbench.inference.dates`).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, input_kind: str | None = None, reads_doy: bool = False) -> Callable:
    """Decorator registering ``factory(in_channels, num_classes, **kw) -> nn.Module`` under ``name``."""

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered (by {_MODELS[name].__module__})")
        if input_kind is not None:
            factory.input_kind = input_kind
        factory.reads_doy = reads_doy
        _MODELS[name] = factory
        return factory

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered models matching the shell-style ``pattern`` (``"tempcnn*"``)."""
    return sorted(name for name in _MODELS if fnmatch.fnmatchcase(name, pattern))


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The factory registered under ``name``; an unknown name raises ``KeyError`` listing close names."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"did you mean {close}?" if close else f"registered models: {list_models()}"
        raise KeyError(f"unknown model {name!r}; {hint}")
    return _MODELS[name]


def reads_doy(name: str) -> bool:
    """True when the registered model ``name`` encodes each date by its day of year (any dates accepted)."""
    return bool(getattr(model_entrypoint(name), "reads_doy", False))


def create_model(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Build the registered model ``name`` and record ``model_name``/``model_kwargs`` on it."""
    factory = model_entrypoint(name)
    model = factory(in_channels=in_channels, num_classes=num_classes, **kwargs)
    model.model_name = name
    model.model_kwargs = {"in_channels": in_channels, "num_classes": num_classes, **kwargs}
    if not hasattr(model, "input_kind") and hasattr(factory, "input_kind"):
        model.input_kind = factory.input_kind
    return model
