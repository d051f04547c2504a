"""A model registry in the spirit of timm: ``@register_model(name, ...)``, ``create_model(name, ...)``,
``list_models()``, and one :class:`ModelEntry` of metadata per name.

A registered factory takes ``in_channels`` and ``num_classes`` plus keyword options and returns an
``nn.Module``. :func:`create_model` remembers the name and arguments on the model (``model_name``,
``model_kwargs``) so that checkpoints can rebuild it. Each entry records (as timm records its models' pretrained
configurations):

* its **role**: ``"classifier"`` (a :class:`~sitsbench.models.base.SITSClassifier`: ``forward_features`` then a
  head; with ``num_classes=0`` it is an encoder, the form self-supervised methods pre-train) or ``"autoencoder"``
  (a :class:`~sitsbench.autoencoders.base.SITSAutoEncoder`: ``encode`` then a decoder that rebuilds the input);
* its **input kind**, the data it reads (:data:`INPUT_KINDS`): pixel ``"series"`` ``(B, T, C)``, ``"pixelset"``
  ``(B, T, C, S)``, ``"patch"`` ``(B, T, C, H, W)``, Deep-STaR ``"plane"`` images ``(B, C, H, W)`` or
  ``"multisensor"`` series (Sentinel-2 ``x`` and Sentinel-1 ``x_s1``);
* its **date encoding** (:data:`DATE_ENCODINGS`): ``"position"`` for models that read fixed positions (the
  index of each date: TempCNN, RNNs, Random Forest-like inputs), ``"doy"`` for models that add an encoding of
  each date's day of year (L-TAE, SITS transformers, the auto-encoders), ``"days"`` for models that encode the
  number of days since a reference date (utae-paps counts days since 2018-09-01 on PASTIS, so two dates a year
  apart differ). Models with a date encoding accept any dates; the commands choose their date policy from it
  (see :mod:`sitsbench.inference.dates`);
* whether it is built for a **fixed number of dates** (``fixed_length``: TempCNN flattens its time axis, the official
  L-TAE normalises over ``len_max_seq`` dates): such a factory takes ``seq_len``, which the commands set from the
  data (:func:`length_options`);
* a default **example input** (:meth:`ModelEntry.example_input`), with which one contract test exercises every
  entry;
* for classifiers, its reference-like **training recipe** (:class:`TrainingRecipe`: epochs, early-stopping patience,
  learning rate, batch size, weight decay, and where they come from), the defaults of ``sitsbench train``.

Every model exposes the width of its features (the classifier's ``forward_features``, the auto-encoder's code) as
``num_features``.

The auto-encoders and the Deep-STaR plane classifiers are registered by packages that build on this one
(:data:`PROVIDERS`); the registry imports them the first time it is read, so that ``sitsbench.models`` never
imports a higher layer at import time and the package layers stay free of cycles.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

ROLES = ("classifier", "autoencoder")
INPUT_KINDS = ("series", "pixelset", "patch", "plane", "multisensor")
DATE_ENCODINGS = ("position", "doy", "days")
PROVIDERS = ("sitsbench.autoencoders.zoo", "sitsbench.planes.classifiers")
"""Modules of higher layers that register models; imported when the registry is first read."""

EXAMPLE_DATES, EXAMPLE_PIXELS, EXAMPLE_SIDE, EXAMPLE_PLANE = 36, 6, 16, (32, 32)
"""Example inputs: 36 dates (the default series length of TempCNN, which reads fixed positions), 6 pixels per
set, 16 x 16 patches (the smallest that the official U-TAE configuration takes), 32 x 32 planes (the default image size of the plane ViT)."""


@dataclass(frozen=True)
class TrainingRecipe:
    """How ``sitsbench train`` trains a classifier when the user does not say (AdamW, early stopping on the
    validation loss with ``patience`` epochs, the weights of the best epoch kept): reference-like values, taken from
    the paper or the reference code named in ``source``. The default is that of the deep classifiers of the R
    package ``sits`` (Simoes et al. 2021, Remote Sensing 13(13):2428; ``sits_tempcnn``, ``sits_tae``: 150 epochs,
    batch 64, patience 20), with learning rate 1e-3 and weight decay 1e-4."""

    epochs: int = 150
    patience: int = 20
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-4
    source: str = "sits deep classifiers (sits_tempcnn, sits_tae: 150 epochs, batch 64, patience 20)"


DEFAULT_RECIPE = TrainingRecipe()


@dataclass(frozen=True)
class ModelEntry:
    """Metadata of a registered model (see the module docstring)."""

    name: str
    factory: Callable[..., nn.Module]
    role: str
    input_kind: str
    date_encoding: str
    fixed_length: bool = False
    recipe: TrainingRecipe = DEFAULT_RECIPE

    def example_input(self, in_channels: int = 4, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
        """Keyword arguments of one forward call on random data of this entry's input kind: ``x`` and, where the
        model reads them, ``doy`` (sorted days of year) and ``mask`` (True = clear); ``x_s1``... for multi-sensor
        models (Sentinel-1: two bands)."""
        generator = torch.Generator().manual_seed(seed)
        if self.input_kind == "plane":
            return {"x": torch.randn(batch, in_channels, *EXAMPLE_PLANE, generator=generator)}
        tail = {"pixelset": (EXAMPLE_PIXELS,), "patch": (EXAMPLE_SIDE, EXAMPLE_SIDE)}.get(self.input_kind, ())
        x = torch.randn(batch, EXAMPLE_DATES, in_channels, *tail, generator=generator)
        doy = torch.sort(torch.randint(1, 365, (batch, EXAMPLE_DATES), generator=generator), dim=1).values
        mask_tail = tail if self.input_kind == "patch" else ()
        mask = torch.rand(batch, EXAMPLE_DATES, *mask_tail, generator=generator) > 0.3
        example = {"x": x, "doy": doy, "mask": mask}
        if self.input_kind == "multisensor":
            example |= {"x_s1": torch.randn(batch, EXAMPLE_DATES, 2, generator=generator), "doy_s1": doy,
                        "mask_s1": torch.ones(batch, EXAMPLE_DATES, dtype=torch.bool)}
        return example


_MODELS: dict[str, ModelEntry] = {}
_providers_loaded = False


def _load_providers() -> None:
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        for module in PROVIDERS:
            importlib.import_module(module)


def register_model(name: str, input_kind: str = "series", role: str = "classifier", date_encoding: str = "position",
                   fixed_length: bool = False, recipe: TrainingRecipe = DEFAULT_RECIPE) -> Callable:
    """Decorator registering ``factory(in_channels, num_classes, **kw) -> nn.Module`` under ``name`` (``recipe``:
    its training defaults, :class:`TrainingRecipe`)."""
    if date_encoding not in DATE_ENCODINGS:
        raise ValueError(f"date_encoding must be one of {DATE_ENCODINGS}, got {date_encoding!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered (by {_MODELS[name].factory.__module__})")
        _MODELS[name] = ModelEntry(name, factory, role, input_kind, date_encoding, fixed_length, recipe)
        return factory

    return decorator


def list_models(pattern: str = "*", role: str | None = None, input_kind: str | None = None) -> list[str]:
    """Sorted names of the registered models matching the shell-style ``pattern`` (``"tempcnn*"``), optionally
    of one ``role`` and one ``input_kind``."""
    _load_providers()
    return sorted(name for name, entry in _MODELS.items() if fnmatch.fnmatchcase(name, pattern)
                  and role in (None, entry.role) and input_kind in (None, entry.input_kind))


def model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` registered under ``name``; an unknown name raises ``KeyError`` listing close
    names."""
    _load_providers()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"did you mean {close}?" if close else f"registered models: {list_models()}"
        raise KeyError(f"unknown model {name!r}; {hint}")
    return _MODELS[name]


def length_options(name: str, n_dates: int) -> dict[str, int]:
    """``{"seq_len": n_dates}`` for a model built for a fixed number of dates (``fixed_length``), else ``{}``."""
    return {"seq_len": n_dates} if model_entry(name).fixed_length else {}


def date_encoding(name: str) -> str:
    """How the registered model ``name`` encodes its dates (one of :data:`DATE_ENCODINGS`)."""
    return model_entry(name).date_encoding


BUILT_IN_OPTIONS = ("in_channels", "num_classes")
"""Arguments that the commands set from the data: never a user's model option."""


def model_options(name: str) -> list[str] | None:
    """The keyword options that the registered model ``name`` takes (besides ``in_channels`` and ``num_classes``),
    read from the signature of the class its factory returns (following ``**kwargs`` into the class named by its
    ``options_from`` attribute), plus ``head_hidden`` (:func:`create_model`); ``None`` when a ``**kwargs`` leads
    nowhere known (then any option is passed on)."""
    import inspect
    import typing

    entry = model_entry(name)
    built = typing.get_type_hints(entry.factory).get("return")
    options = {"head_hidden"}
    while isinstance(built, type):
        parameters = inspect.signature(built).parameters.values()
        options |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return sorted(options - set(BUILT_IN_OPTIONS))
        built = getattr(built, "options_from", None)
    return None


def check_model_options(name: str, options: dict, where: str = "model arguments") -> None:
    """Refuse ``options`` that the model ``name`` does not take (or that the commands set), listing the ones it
    takes: before any data is read, not as a ``TypeError`` once the network is built."""
    reserved = sorted(set(options) & set(BUILT_IN_OPTIONS))
    if reserved:
        raise ValueError(f"{where}: {reserved} are set from the data, not given")
    known = model_options(name)
    unknown = sorted(set(options) - set(known or options))
    if unknown:
        raise ValueError(f"{where}: model {name!r} has no option {', '.join(map(repr, unknown))}; it takes {known}")


def create_model(name: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """Build the registered model ``name`` and record ``model_name``/``model_kwargs`` on it. ``head_hidden=N``
    (any classifier of series) puts an MLP head with ``N`` hidden units in place of the linear one."""
    head_hidden = kwargs.pop("head_hidden", 0)
    try:
        model = model_entry(name).factory(in_channels=in_channels, num_classes=num_classes, **kwargs)
    except TypeError as error:  # an option the model does not have (e.g. from --model-args): say which model
        if "unexpected keyword argument" not in str(error):
            raise
        raise ValueError(f"model {name!r} has no option {str(error).split('argument ')[-1]} (given {sorted(kwargs)}); "
                         f"its options are those of its factory, sitsbench.models.registry.model_entry({name!r})"
                         ".factory") from error
    if head_hidden:
        model.reset_classifier(num_classes, hidden=head_hidden)
        kwargs["head_hidden"] = head_hidden
    model.model_name = name
    model.model_kwargs = {"in_channels": in_channels, "num_classes": num_classes, **kwargs}
    return model
