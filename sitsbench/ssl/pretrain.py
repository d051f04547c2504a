"""Self-supervised pretraining: build the views and the method, train them with the one loop of
:func:`sitsbench.training.engine.fit` (objective :class:`SelfSupervised`), monitor collapse, save.

Methods are looked up in :data:`~sitsbench.ssl.methods.METHODS` (name -> :class:`~sitsbench.ssl.methods.base.Method`
subclass, which carries its recipe and builds itself from the config), so adding one is a new entry, not a new branch;
the unlabeled data likewise in :data:`VIEW_DATASETS` by the backbone's ``input_kind``: pixel series for
series encoders, random-walk plane views (:mod:`sitsbench.ssl.planes`) for 2D image encoders.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import xarray as xr
from torch import nn

from sitsbench.data import cube as cube_format
from sitsbench.data.samples import is_samples
from sitsbench.models.checkpoint import load_checkpoint, save_checkpoint
from sitsbench.models.registry import check_model_options, create_model, length_options, model_entry
from sitsbench.records import write_run_record
from sitsbench.runtime import resolve_device, seed_everything
from sitsbench.ssl.archive import ArchiveStream
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
from sitsbench.ssl.methods import METHODS, Method
from sitsbench.ssl.monitor import collapse_metrics, warn_if_collapsed
from sitsbench.ssl.planes import UnlabeledPlaneDataset
from sitsbench.training.engine import RECIPE_KNOBS, History, Objective, TrainConfig, fit


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
    choices against the earlier settings.

    ``train`` holds the training loop's knobs (:class:`~sitsbench.training.engine.TrainConfig`; default
    :data:`PRETRAINING`: 10 epochs of 128 series). Its ``lr``, ``weight_decay``, ``schedule``, ``warmup``, ``min_lr``
    and ``weight_decay_end`` left at ``None`` take the method's recipe (``Method.recipe``): a constant rate and a
    small weight decay for SimCLR; a linear warm-up, a cosine decay and a weight decay rising from 0.04 to 0.4 for
    DINO. (To keep DINO's weight decay constant, set ``weight_decay_end`` equal to ``weight_decay``.) Pretraining
    never validates (``patience`` is ignored); ``train.seed`` also draws the pixels and the views.
    ``method_args`` are keyword arguments of the method's constructor (e.g. ``{"lambd": 0.01}`` for Barlow Twins,
    ``{"mask_ratio": 0.3}`` for masked-series modelling)."""

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
    head_dim: int = 64
    plane_width: int = 32
    plane_local_width: int = 16
    plane_height: int = 32
    plane_bands: list[str] | None = None
    plane_repeats: int = 4
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=lambda: replace(PRETRAINING))


PRETRAINING = TrainConfig(epochs=10, batch_size=128, patience=None, **dict.fromkeys(RECIPE_KNOBS))
"""The default training knobs of :class:`PretrainConfig`: the optimiser and its schedules left to the method's
recipe. Change some with ``dataclasses.replace(PRETRAINING, epochs=..., ...)``."""


def with_recipe(config: PretrainConfig, method: str) -> PretrainConfig:
    """``config`` with the training knobs left at ``None`` set from ``method``'s recipe
    (:attr:`~sitsbench.ssl.methods.base.Method.recipe`, :meth:`~sitsbench.training.engine.TrainConfig.with_recipe`)."""
    return replace(config, train=config.train.with_recipe(METHODS[method].recipe))


def loop_config(config: PretrainConfig, **run) -> TrainConfig:
    """The training-loop settings of a pretraining run: ``config.train`` (after :func:`with_recipe`) without
    validation, with ``run``'s length, batch, device and checkpoints where given."""
    return replace(config.train, patience=None, **run)


def _common_augment(config: PretrainConfig) -> list:
    return [
        CloudMask(config.cloud_p),
        SpectralJitter(config.jitter, config.jitter),
        BandDropout(config.band_dropout),
        GaussianNoise(config.noise_std),
    ]


def build_views(config: PretrainConfig, n_local: int, n_global: int = 2, extra: list | None = None) -> MultiView:
    """``n_global`` global views (optional date re-sampling + clouds, jitter, band drop-out, noise, then the
    transforms ``extra``) and ``n_local`` local temporal crops."""
    resample = [] if config.global_dates is None else [DateResample(config.global_dates)]
    global_view = Compose(resample + _common_augment(config) + list(extra or []))
    local_view = Compose([TemporalCrop(config.local_dates), *_common_augment(config)]) if n_local else None
    return MultiView(global_view, n_global, local_view, n_local)


def method_views(config: PretrainConfig, method: Method) -> MultiView:
    """The views ``method`` reads (:func:`build_views` with its numbers of views and its own
    :meth:`~sitsbench.ssl.methods.base.Method.view_transforms`)."""
    return build_views(config, method.n_local, method.n_views, method.view_transforms())


def _pixel_views(cube: xr.Dataset, config: PretrainConfig, method: Method) -> UnlabeledPixelDataset:
    return UnlabeledPixelDataset(cube, method_views(config, method), max_pixels=config.max_pixels, seed=config.train.seed)


def _plane_views(cube: xr.Dataset, config: PretrainConfig, method: Method) -> UnlabeledPlaneDataset:
    spectral = Compose([
        SpectralJitter(config.jitter, config.jitter), BandDropout(config.band_dropout), GaussianNoise(config.noise_std)
    ])
    return UnlabeledPlaneDataset(
        cube, width=config.plane_width, local_width=config.plane_local_width, n_global=method.n_views,
        n_local=method.n_local,
        height=config.plane_height, bands=config.plane_bands, augment=spectral, repeats=config.plane_repeats,
        seed=config.train.seed,
    )


VIEW_DATASETS = {"series": _pixel_views, "plane": _plane_views}
"""Backbone ``input_kind`` -> builder of the unlabeled dataset of views."""


class SelfSupervised(Objective):
    """The objective of :func:`pretrain`, the same for every method: the method's own loss on a batch of views, the
    epoch passed to the dataset (new views each epoch), the method's step hook (momentum and temperature schedules),
    and as monitors the collapse metrics of the epoch's embeddings (:mod:`sitsbench.ssl.monitor`) with the method's
    own (:meth:`~sitsbench.ssl.methods.base.Method.monitors`). The model :func:`fit` trains may be the method
    wrapped in ``DistributedDataParallel``; a streamed dataset (:class:`~sitsbench.ssl.archive.ArchiveStream`) is resumed at
    the step of a checkpoint."""

    def __init__(self, method: Method, dataset):
        self.method, self.dataset, self.embeddings = method, dataset, []

    def start_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.embeddings = []
        self.method.monitors()  # forget what an earlier epoch left

    def loss(self, model: nn.Module, batch: list[dict]) -> tuple[torch.Tensor, float]:
        loss, features = model(batch)
        self.embeddings.append(features.detach().float().cpu())
        return loss, 1.0

    def step_end(self, model: nn.Module, step: int, total_steps: int) -> None:
        self.method.step_end(step, total_steps)
        self.total_steps = total_steps

    def end_epoch(self) -> dict[str, float]:
        metrics = collapse_metrics(torch.cat(self.embeddings))
        warn_if_collapsed(metrics)
        return {**metrics, **self.method.monitors()}

    def state(self) -> dict:
        return {"total_steps": getattr(self, "total_steps", 0)}

    def load_state(self, state: dict, step: int) -> None:
        """Skip the stream past the series of ``step`` batches; give the method its schedules at ``step``."""
        if isinstance(self.dataset, ArchiveStream):
            self.dataset.skip(step)
        self.method.resume(step, state["total_steps"])


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
    generator = seed_everything(config.train.seed)
    device = resolve_device(config.train.device)
    entry = model_entry(backbone)
    kind = entry.input_kind
    if entry.role != "classifier":
        raise ValueError(f"backbone {backbone!r} is an {entry.role}; these methods pretrain a classifier's encoder "
                         "(train auto-encoders with sitsbench.autoencoders.fit_autoencoder)")
    if kind not in VIEW_DATASETS:
        raise ValueError(f"backbone {backbone!r} reads {kind!r} inputs; pretraining supports {sorted(VIEW_DATASETS)}")
    if kind == "plane" and is_samples(cube):
        raise ValueError(f"backbone {backbone!r} reads plane views of parcels, which need a cube with parcels; "
                         "labelled samples have no parcel geometry")
    n_bands = cube.sizes[cube_format.BAND] if kind != "plane" or config.plane_bands is None else len(config.plane_bands)
    encoder = create_model(backbone, in_channels=n_bands, num_classes=0, **config.backbone_kwargs)
    model = METHODS[method].from_config(encoder, config, n_bands).to(device)
    dataset = VIEW_DATASETS[kind](cube, config, model)
    if len(dataset) < config.train.batch_size:
        raise ValueError(f"batch_size {config.train.batch_size} exceeds the {len(dataset)} pretraining samples")
    history = fit(model, dataset, config=loop_config(config, drop_last=True), objective=SelfSupervised(model, dataset), generator=generator,
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
        seed=config.train.seed,
        device=str(device),
        duration_s=history.duration_s,
    )


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """The pretrained encoder of a checkpoint written by :func:`pretrain`, in eval mode."""
    encoder, _ = load_checkpoint(path, map_location=map_location)
    return encoder.eval()


@dataclass
class StreamConfig:
    """The knobs of pretraining on a streamed archive (:mod:`sitsbench.ssl.archive`): ``steps`` (or ``epochs``
    passes over the archive's series), the window side, the number of virtual shards (a multiple of the number of
    processes; the global batch size a multiple of it), the shuffle buffer of each shard (series), the windows
    sampled per dataset for its statistics, the steps of one log interval (a point of the loss curve and of the
    collapse monitors) and of one checkpoint interval."""

    steps: int | None = None
    epochs: float | None = None
    window: int = 32
    shards: int = 8
    buffer: int = 2048
    stats_windows: int = 16
    log_every: int = 10
    checkpoint_every: int = 100


def _check_length(stream: StreamConfig) -> None:
    """Refuse (before any data is read) a pretraining length that is not one of steps >= 1 or epochs > 0."""
    if (stream.steps is None) == (stream.epochs is None):
        raise ValueError("give the length of the pretraining as steps or as epochs (passes over the archive), "
                         f"one of them; got steps={stream.steps}, epochs={stream.epochs}")
    if stream.steps is not None and stream.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {stream.steps}")
    if stream.epochs is not None and not stream.epochs > 0:
        raise ValueError(f"--epochs must be > 0, got {stream.epochs}")


def _total_steps(stream: StreamConfig, n_series: int, batch_size: int) -> int:
    _check_length(stream)
    if stream.steps is not None:
        return stream.steps
    return max(1, math.ceil(stream.epochs * n_series / batch_size))


def run_parameters(datasets: list[str], method: str, backbone: str, config: PretrainConfig,
                   stream: StreamConfig) -> dict:
    """What defines a pretraining run (a resumed run must have the same): everything but the device and the
    progress bar, as JSON values."""
    chosen = asdict(config)
    chosen["train"] = {k: v for k, v in chosen["train"].items() if k not in ("device", "progress")}
    return json.loads(json.dumps({
        "datasets": [str(d) for d in datasets], "method": method, "backbone": backbone, **chosen,
        **{f"stream_{k}": v for k, v in asdict(stream).items()}}, default=str))


def checkpoint_dir(output: Path) -> Path:
    """Where a run writing ``output`` keeps its step checkpoint and the parameters it was started with."""
    return output.with_name(f"{output.name}.partial")


def pretrain_archive(
    datasets: list[str],
    output: str | Path,
    method: str = "simclr",
    backbone: str = "ltae_small",
    config: PretrainConfig | None = None,
    stream: StreamConfig | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> dict:
    """Pretrain ``backbone`` with ``method`` on the series of ``datasets`` streamed window by window (labels never
    read), in this process or in every process torchrun started (DistributedDataParallel), and write the encoder
    folder ``output`` (:class:`~sitsbench.inference.encoder_folder.EncoderFolder`; rank 0 only). Returns the
    summary of the run (steps, loss curve, monitors, throughput).

    A checkpoint is written every ``stream.checkpoint_every`` steps into ``<output>.partial/``; ``resume=True``
    continues from it (refused when the run's parameters differ from those it was started with). The folder
    ``output`` appears only when the run is complete, and the checkpoint is then removed.
    """
    from torch.nn.parallel import DistributedDataParallel

    from sitsbench import distributed
    from sitsbench.atomic import write_text
    from sitsbench.inference.dates import DateReference
    from sitsbench.inference.encoder_folder import EncoderFolder
    from sitsbench.records import make_run_record
    from sitsbench.ssl.archive import Archive
    from sitsbench.training.map_training import default_date_policy

    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    entry = model_entry(backbone)
    if (entry.role, entry.input_kind) != ("classifier", "series"):
        raise ValueError(f"backbone {backbone!r} is a {entry.input_kind} {entry.role}; archive pretraining streams "
                         "pixel series: choose a series classifier's encoder (ltae_small, transformer_small, tempcnn, "
                         "...)")
    config = with_recipe(config or PretrainConfig(), method)
    stream = stream or StreamConfig(steps=100)
    _check_length(stream)
    check_model_options(backbone, config.backbone_kwargs, "--encoder-args")
    output = Path(output)
    partial = checkpoint_dir(output)
    parameters = run_parameters(datasets, method, backbone, config, stream)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists: choose another --output or pass --overwrite")
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file, not an encoder folder: choose another path")
    if resume:
        started = partial / "parameters.json"
        if not started.is_file():
            raise FileNotFoundError(f"nothing to resume: no checkpoint of {output} at {partial}")
        before = json.loads(started.read_text())
        changed = {k: (before.get(k), v) for k, v in parameters.items() if before.get(k) != v}
        if changed:
            raise ValueError(f"--resume with other parameters than the interrupted run ({partial}): {changed}")
    world, device = distributed.start(config.train.device)
    try:
        generator = seed_everything(config.train.seed)  # same initial weights on every rank
        archive = Archive.open(list(datasets), chunk=stream.window, stats_windows=stream.stats_windows,
                               seed=config.train.seed)
        kwargs = {**length_options(backbone, archive.n_dates), **config.backbone_kwargs}
        encoder = create_model(backbone, in_channels=len(archive.bands), num_classes=0, **kwargs)
        model = METHODS[method].from_config(encoder, config, len(archive.bands))
        model = distributed.sync_batchnorm(model, device).to(device)
        data = ArchiveStream(archive, method_views(config, model), batch_size=config.train.batch_size,
                             shards=stream.shards, buffer=stream.buffer, steps_per_iter=stream.log_every,
                             seed=config.train.seed, rank=world.rank, world=world.size)
        total = _total_steps(stream, archive.n_series, config.train.batch_size)
        if world.main:
            partial.mkdir(parents=True, exist_ok=True)
            if not resume:
                write_text(partial / "parameters.json", json.dumps(parameters, indent=2, default=str))
        distributed.barrier()
        wrapped = model
        if world.size > 1:
            wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        train = loop_config(config, steps=total, batch_size=data.local_batch, drop_last=False, device=str(device),
                            checkpoint=str(partial / "state.pt"), checkpoint_every=stream.checkpoint_every,
                            resume=resume)
        history = fit(wrapped, data, config=train, objective=SelfSupervised(model, data), generator=generator,
                      desc=f"{method} pretraining ({world.size} process{'es' if world.size > 1 else ''})")
        summary = {
            "steps": total, "series_seen": total * config.train.batch_size, "world_size": world.size, "rank": world.rank,
            "final_loss": history.train_loss[-1], "series_per_s": total * config.train.batch_size / history.duration_s,
            "history": history.to_dict(), "log_every": stream.log_every,
        }
        if world.main:
            encoder = model.encoder.eval().cpu()
            archive_info = archive.describe()
            reference = DateReference.from_dates(archive.sources[0].dates)
            policy = default_date_policy(backbone)
            record = make_run_record(name=f"pretrain-{method}-{backbone}", parameters=parameters, metrics=summary,
                                     seed=config.train.seed, device=str(device), duration_s=history.duration_s,
                                     dataset={"name": "+".join(s.name for s in archive.sources), "archive": archive_info})
            folder = EncoderFolder(encoder, archive.bands, archive.stats, reference, policy, method,
                                   config=parameters, pretraining={"archive": archive_info, **{
                                       k: summary[k] for k in ("steps", "series_seen", "world_size", "final_loss")},
                                       "loss_curve": history.train_loss, "monitors": history.monitors})
            folder.save(output, overwrite=overwrite,
                        extra_files={"pretrain_record.json": json.dumps(record, indent=2, sort_keys=True)})
            shutil.rmtree(partial, ignore_errors=True)
        distributed.barrier()
        return summary
    finally:
        distributed.stop()
