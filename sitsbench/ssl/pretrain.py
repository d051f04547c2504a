"""Self-supervised pretraining: build the views and the method (SimCLR or DINO), train them with the one loop
of :func:`sitsbench.training.engine.fit` (objective :class:`SelfSupervised`), monitor collapse, save.

Methods are looked up in :data:`METHODS` (name -> builder), so adding one is a new entry, not a new branch;
the unlabeled data likewise in :data:`VIEW_DATASETS` by the backbone's ``input_kind``: pixel series for
series encoders, random-walk plane views (:mod:`sitsbench.ssl.planes`) for 2D image encoders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import xarray as xr
from torch import nn

from sitsbench.data import cube as C
from sitsbench.data.samples import is_samples
from sitsbench.models.checkpoint import load_checkpoint, save_checkpoint
from sitsbench.models.registry import create_model, model_entry
from sitsbench.records import write_run_record
from sitsbench.runtime import resolve_device, seed_everything
from sitsbench.ssl.augment import (
    BandDropout,
    CloudMask,
    Compose,
    DateResample,
    GaussianNoise,
    MultiView,
    SpectralJitter,
    TemporalCrop,
)
from sitsbench.ssl.data import UnlabeledPixelDataset
from sitsbench.ssl.methods import DINO, SimCLR
from sitsbench.ssl.monitor import collapse_metrics, warn_if_collapsed
from sitsbench.ssl.planes import UnlabeledPlaneDataset
from sitsbench.training.engine import History, Objective, TrainConfig, fit


@dataclass
class PretrainConfig:
    """Every knob of :func:`pretrain`. ``global_dates=None`` keeps all dates in the global views (needed by
    encoders built for a fixed length, e.g. TempCNN); ``local_dates`` is the temporal-crop length of DINO's
    local views. ``plane_*`` apply to plane backbones (``input_kind="plane"``): walk lengths of the global and
    local views, STR height (resampled dates), bands, and how many times each parcel is seen per epoch.

    DINO follows the reference implementation (Caron et al. 2021) by default: the weight-normalised last layer
    keeps a gain of 1 (``norm_last_layer``), the teacher temperature warms up from ``teacher_temp_start`` to
    ``teacher_temp`` over the first ``teacher_warmup`` share of the steps, the teacher's batch normalisation uses
    the batch statistics (``teacher_mode="train"``). ``benchmarks/bench_dino_ablation.py`` measures each of these
    choices against the earlier settings. The training loop's ``schedule``, ``warmup``, ``min_lr``,
    ``weight_decay`` and ``weight_decay_end`` (:class:`~sitsbench.training.engine.TrainConfig`) left at ``None``
    take the method's recipe (:data:`RECIPES`): a constant rate and a small weight decay for SimCLR; a linear
    warm-up, a cosine decay and a weight decay rising from 0.04 to 0.4 for DINO. (To keep DINO's weight decay
    constant, set ``weight_decay_end`` equal to ``weight_decay``.)"""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float | None = None
    max_pixels: int | None = 2000
    global_dates: int | None = None
    local_dates: int = 8
    n_local: int = 4
    cloud_p: float = 0.2
    jitter: float = 0.1
    band_dropout: float = 0.1
    noise_std: float = 0.05
    temperature: float = 0.1
    student_temp: float = 0.1
    teacher_temp: float = 0.07
    base_momentum: float = 0.99
    norm_last_layer: bool = True
    teacher_temp_start: float | None = 0.04
    teacher_warmup: float = 0.3
    teacher_mode: str = "train"
    schedule: str | None = None
    warmup: float | None = None
    min_lr: float | None = None
    weight_decay_end: float | None = None
    head_dim: int = 64
    plane_width: int = 32
    plane_local_width: int = 16
    plane_height: int = 32
    plane_bands: list[str] | None = None
    plane_repeats: int = 4
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    seed: int = 0
    progress: bool = True


RECIPES: dict[str, dict[str, Any]] = {
    "simclr": dict(schedule="constant", warmup=0.0, min_lr=0.0, weight_decay=1e-4, weight_decay_end=None),
    "dino": dict(schedule="warmup_cosine", warmup=0.1, min_lr=1e-6, weight_decay=0.04, weight_decay_end=0.4),
}
"""The training-loop settings of each method, for the :class:`PretrainConfig` fields left at ``None``: DINO's are
the reference implementation's (Caron et al. 2021, ``main_dino.py``: 10 warm-up epochs of 100, cosine to 1e-6,
weight decay 0.04 to 0.4)."""


def with_recipe(config: PretrainConfig, method: str) -> PretrainConfig:
    """``config`` with the fields left at ``None`` set from ``method``'s recipe (:data:`RECIPES`)."""
    return replace(config, **{key: value for key, value in RECIPES[method].items() if getattr(config, key) is None})


def _common_augment(config: PretrainConfig) -> list:
    return [
        CloudMask(config.cloud_p),
        SpectralJitter(config.jitter, config.jitter),
        BandDropout(config.band_dropout),
        GaussianNoise(config.noise_std),
    ]


def build_views(config: PretrainConfig, n_local: int) -> MultiView:
    """Global views (optional date re-sampling + clouds, jitter, band drop-out, noise) and local temporal crops."""
    resample = [] if config.global_dates is None else [DateResample(config.global_dates)]
    global_view = Compose(resample + _common_augment(config))
    local_view = Compose([TemporalCrop(config.local_dates), *_common_augment(config)]) if n_local else None
    return MultiView(global_view, 2, local_view, n_local)


def _simclr(encoder: nn.Module, config: PretrainConfig) -> tuple[nn.Module, int]:
    """SimCLR and its number of local views (none)."""
    return SimCLR(encoder, out_dim=config.head_dim, temperature=config.temperature), 0


def _dino(encoder: nn.Module, config: PretrainConfig) -> tuple[nn.Module, int]:
    """DINO and its number of local views."""
    method = DINO(
        encoder,
        out_dim=4 * config.head_dim,
        student_temp=config.student_temp,
        teacher_temp=config.teacher_temp,
        base_momentum=config.base_momentum,
        norm_last_layer=config.norm_last_layer,
        teacher_temp_start=config.teacher_temp_start,
        teacher_warmup=config.teacher_warmup,
        teacher_mode=config.teacher_mode,
    )
    return method, config.n_local


METHODS = {"simclr": _simclr, "dino": _dino}


def _pixel_views(cube: xr.Dataset, config: PretrainConfig, n_local: int) -> UnlabeledPixelDataset:
    return UnlabeledPixelDataset(cube, build_views(config, n_local), max_pixels=config.max_pixels, seed=config.seed)


def _plane_views(cube: xr.Dataset, config: PretrainConfig, n_local: int) -> UnlabeledPlaneDataset:
    spectral = Compose([
        SpectralJitter(config.jitter, config.jitter), BandDropout(config.band_dropout), GaussianNoise(config.noise_std)
    ])
    return UnlabeledPlaneDataset(
        cube, width=config.plane_width, local_width=config.plane_local_width, n_local=n_local,
        height=config.plane_height, bands=config.plane_bands, augment=spectral, repeats=config.plane_repeats,
        seed=config.seed,
    )


VIEW_DATASETS = {"series": _pixel_views, "plane": _plane_views}
"""Backbone ``input_kind`` -> builder of the unlabeled dataset of views."""


class SelfSupervised(Objective):
    """The objective of :func:`pretrain`: the method's own loss on a batch of views (SimCLR, DINO), the epoch
    passed to the dataset (new views each epoch), the method's step hook (DINO's teacher momentum), and the
    collapse metrics of the epoch's embeddings (:mod:`sitsbench.ssl.monitor`) and, for DINO, the mean teacher
    entropy of the epoch as monitors."""

    def __init__(self, method: nn.Module, dataset):
        self.method, self.dataset, self.embeddings = method, dataset, []

    def start_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        self.embeddings = []
        if hasattr(self.method, "teacher_entropy"):
            self.method.teacher_entropy.clear()

    def loss(self, model: nn.Module, batch: list[dict]) -> tuple[torch.Tensor, float]:
        loss, features = model.loss(batch)
        self.embeddings.append(features.detach().cpu())
        return loss, 1.0

    def step_end(self, model: nn.Module, step: int, total_steps: int) -> None:
        model.step_end(step, total_steps)

    def end_epoch(self) -> dict[str, float]:
        metrics = collapse_metrics(torch.cat(self.embeddings))
        warn_if_collapsed(metrics)
        entropy = getattr(self.method, "teacher_entropy", None)
        if entropy:
            metrics["teacher_entropy"] = sum(entropy) / len(entropy)
        return metrics


def pretrain(
    cube: xr.Dataset,
    method: str = "simclr",
    backbone: str = "transformer_tiny",
    config: PretrainConfig | None = None,
    output_dir: str | Path | None = None,
) -> tuple[nn.Module, History]:
    """Pretrain ``backbone`` (a registered encoder) with ``method`` on all pixels of ``cube`` (no labels), or
    on random-walk plane views of all its parcels for a plane backbone. ``cube`` may also be labelled samples
    (:mod:`sitsbench.data.samples`; series backbones only): their labels are never read.

    Returns the encoder (``num_classes=0``, in eval mode) and the :class:`~sitsbench.training.engine.History`
    (``train_loss``, and the collapse metrics in ``monitors``). With ``output_dir``,
    writes ``encoder.pt`` (see :func:`load_encoder`) and ``record.json``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    config = with_recipe(config or PretrainConfig(), method)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    entry = model_entry(backbone)
    kind = entry.input_kind
    if entry.role != "classifier":
        raise ValueError(f"backbone {backbone!r} is an {entry.role}; SimCLR and DINO pretrain a classifier's encoder "
                         "(train auto-encoders with sitsbench.autoencoders.fit_autoencoder)")
    if kind not in VIEW_DATASETS:
        raise ValueError(f"backbone {backbone!r} reads {kind!r} inputs; pretraining supports {sorted(VIEW_DATASETS)}")
    if kind == "plane" and is_samples(cube):
        raise ValueError(f"backbone {backbone!r} reads plane views of parcels, which need a cube with parcels; "
                         "labelled samples have no parcel geometry")
    n_bands = cube.sizes[C.BAND] if kind != "plane" or config.plane_bands is None else len(config.plane_bands)
    encoder = create_model(backbone, in_channels=n_bands, num_classes=0, **config.backbone_kwargs)
    model, n_local = METHODS[method](encoder, config)
    model = model.to(device)
    dataset = VIEW_DATASETS[kind](cube, config, n_local)
    if len(dataset) < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(dataset)} pretraining samples")
    train = TrainConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                        batch_size=config.batch_size, patience=None, drop_last=True, device=config.device,
                        seed=config.seed, progress=config.progress, schedule=config.schedule, warmup=config.warmup,
                        min_lr=config.min_lr, weight_decay_end=config.weight_decay_end)
    history = fit(model, dataset, config=train, objective=SelfSupervised(model, dataset), generator=generator,
                  desc=f"{method} pretraining")
    encoder = model.encoder.eval()
    if output_dir is not None:
        _save(Path(output_dir), encoder, method, backbone, config, history, device)
    return encoder, history


def _save(output_dir: Path, encoder, method, backbone, config, history, device) -> None:
    save_checkpoint(output_dir / "encoder.pt", encoder, config, method=method)
    write_run_record(
        output_dir / "record.json",
        name=f"ssl_{method}_{backbone}",
        parameters={"method": method, "backbone": backbone, **asdict(config)},
        metrics={"final_loss": history.train_loss[-1], "history": history.to_dict()},
        seed=config.seed,
        device=str(device),
        duration_s=history.duration_s,
    )


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """The pretrained encoder of a checkpoint written by :func:`pretrain`, in eval mode."""
    encoder, _ = load_checkpoint(path, map_location=map_location)
    return encoder.eval()
