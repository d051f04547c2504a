"""Measurements behind ``benchmarks/`` and the "Performance and scale" chapter.

Each function measures one path and a baseline *in the same run*, so the reported ratios do not depend on the
machine's absolute speed. Peak memory is traced with :mod:`tracemalloc`, which sees the NumPy / Python
allocations of the data path (not torch's allocator).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import pixel_series
from sitsbench.data.io import open_cube, save_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.synthetic import generate_cube
from sitsbench.data.timeops import day_of_year
from sitsbench.data.windows import window_grid, window_series, window_slices, window_source
from sitsbench.inference.map import predict_map
from sitsbench.inference.model_folder import MapModel
from sitsbench.runtime import resolve_device


def timed(function: Callable[[], object]) -> tuple[float, int]:
    """Seconds and peak traced bytes of one call of ``function``."""
    tracemalloc.start()
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak


def small_map_model(seed: int = 0, n_trees: int = 20, model: str = "rf", epochs: int = 1, n_dates: int = 20,
                    device: str = "auto") -> MapModel:
    """A map model trained briefly on the toy cube's labelled pixels (enough to exercise map inference)."""
    from sitsbench.data.samples import samples_from_cube
    from sitsbench.training.map_training import MapTrainingConfig, train_map_model

    cube = generate_cube("toy", seed=seed, n_dates=n_dates, with_s1=False)
    config = MapTrainingConfig(model=model, rf_trees=n_trees, epochs=epochs, seed=seed, device=device, progress=False)
    return train_map_model(samples_from_cube(cube), config)[0]


def write_synthetic(workdir: Path, side: int, n_dates: int = 20, seed: int = 0, chunk: int = 64) -> Path:
    """Render a ``side`` x ``side`` synthetic cube lazily and write it to zarr chunk by chunk."""
    cube = generate_cube("toy", seed=seed, height=side, width=side, n_dates=n_dates, with_s1=False,
                         mean_parcel_area=120.0, block_size=chunk, chunks=chunk)
    return save_cube(cube, workdir / f"cube_{side}.zarr")


def map_inference_scaling(workdir: Path, sides=(64, 128, 256, 512), chunk: int = 64, n_dates: int = 20) -> list[dict]:
    """Map inference cost and peak memory for square cubes whose pixel count grows x4 per step."""
    model = small_map_model()
    rows = []
    for side in sides:
        path = write_synthetic(workdir, side, n_dates=n_dates, chunk=chunk)
        output = workdir / f"map_{side}.zarr"
        seconds, peak = timed(partial(predict_map, path, model, output, chunk=chunk, progress=False))
        pixels = side * side
        rows.append({
            "side": side, "pixels": pixels, "cube_mib": pixels * n_dates * len(cube_format.S2_BANDS) * 4 / 2**20,
            "seconds": seconds, "pixels_per_s": pixels / seconds, "peak_mib": peak / 2**20,
        })
    return rows


S2_TILE_PIXELS = 10_980 * 10_980
"""Pixels of one Sentinel-2 tile at 10 m (a 109.8 km square)."""


def encode_scaling(workdir: Path, sides=(32, 64, 128, 256), chunk: int = 32, n_dates: int = 20,
                   model_name: str = "ae_tempconv", device: str = "auto") -> list[dict]:
    """Encode seconds, pixels/s and peak traced memory (NumPy/Python) of :func:`encode_cube` from zarr cubes
    whose side doubles per step (an untrained model: the cost does not depend on the weights)."""
    from sitsbench.autoencoders.streaming import encode_cube
    from sitsbench.models import create_model

    torch.manual_seed(0)
    model = create_model(model_name, in_channels=len(cube_format.S2_BANDS), num_classes=0)
    rows = []
    for side in sides:
        path = write_synthetic(workdir, side, n_dates=n_dates, chunk=chunk)
        seconds, peak = timed(partial(encode_cube, model, path, None, chunk=chunk, device=device,
                                      output=workdir / f"codes_{side}.zarr"))
        pixels = side * side
        rows.append({"side": side, "pixels": pixels, "cube_mib": pixels * n_dates * len(cube_format.S2_BANDS) * 4 / 2**20,
                     "seconds": seconds, "pixels_per_s": pixels / seconds, "peak_mib": peak / 2**20})
    return rows


def map_throughput(workdir: Path, models=("rf", "tempcnn_small", "ltae_small", "transformer_small"), side: int = 256,
                   n_dates: int = 30, chunk: int = 128, device: str = "auto") -> list[dict]:
    """Map inference pixels/s of each model on one ``side`` x ``side`` cube of ``n_dates`` dates and 10 bands
    (reading, preparation and classification together), and the hours one Sentinel-2 tile would take at that rate."""
    path = write_synthetic(workdir, side, n_dates=n_dates, chunk=chunk)
    rows = []
    for name in models:
        model = small_map_model(model=name, n_dates=n_dates, device=device)
        seconds, peak = timed(partial(predict_map, path, model, workdir / f"map_{name}.zarr", chunk=chunk,
                                      progress=False))
        pixels_per_s = side * side / seconds
        rows.append({"model": name, "device": str(resolve_device(device)) if name != "rf" else "cpu",
                     "pixels": side * side, "seconds": seconds, "pixels_per_s": pixels_per_s,
                     "peak_mib": peak / 2**20, "s2_tile_hours": S2_TILE_PIXELS / pixels_per_s / 3600})
    return rows


def scaling_table(rows: list[dict]) -> str:
    """The rows of :func:`map_inference_scaling` or :func:`encode_scaling` as a text table, with each measurement's
    ratio to the smallest cube's (time, pixels, peak memory): the form the benchmarks print."""
    first = rows[0]
    lines = [f"{'side':>6} {'pixels':>9} {'cube MiB':>9} {'seconds':>8} {'px/s':>9} {'peak MiB':>9} "
             f"{'time ratio':>10} {'pixel ratio':>11} {'memory ratio':>12}"]
    for row in rows:
        lines.append(f"{row['side']:>6} {row['pixels']:>9} {row['cube_mib']:>9.1f} {row['seconds']:>8.2f} "
                     f"{row['pixels_per_s']:>9.0f} {row['peak_mib']:>9.1f} {row['seconds'] / first['seconds']:>10.2f} "
                     f"{row['pixels'] / first['pixels']:>11.0f} {row['peak_mib'] / first['peak_mib']:>12.2f}")
    return "\n".join(lines)


def open_validation_cost(workdir: Path, sides=(128, 256, 512), n_dates: int = 20, chunk: int = 64) -> list[dict]:
    """Seconds of ``open_cube`` with its default validation (missing chunks, dims, every value streamed chunk by
    chunk up to :data:`~sitsbench.data.io.FULL_CHECK_BYTES`, a sample of windows beyond) against a bare lazy open of
    the same zarr cube."""
    from sitsbench.data.io import FULL_CHECK_BYTES

    rows = []
    for side in sides:
        path = write_synthetic(workdir, side, n_dates=n_dates, chunk=chunk)
        bare_s, _ = timed(partial(open_cube, path, chunks={}, validate=False))
        checked_s, peak = timed(partial(open_cube, path, chunks={}))
        cube_bytes = side * side * n_dates * len(cube_format.S2_BANDS) * 4
        rows.append({"side": side, "cube_mib": cube_bytes / 2**20, "bare_s": bare_s, "validated_s": checked_s,
                     "peak_mib": peak / 2**20, "full_check": cube_bytes <= FULL_CHECK_BYTES,
                     "validated_mib_per_s": cube_bytes / 2**20 / checked_s})
    return rows


def best_time(function: Callable[[], object], repeats: int = 3) -> float:
    """Best wall-clock seconds of ``repeats`` calls of ``function`` (no memory tracing: tracemalloc slows the many
    small allocations of a data path and would distort a time ratio)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def data_path_throughput(workdir: Path, side: int = 256, n_dates: int = 20, chunk: int = 64) -> dict:
    """Pixels/s of cube-on-disk -> standardised batches vs a raw NumPy memmap read of the same bytes, and where
    the cube path spends its time.

    The cube path is the one of map inference and streaming (:mod:`sitsbench.data.windows`): each ``chunk``-sized
    window is read from the zarr cube (decompression included) and turned into standardised ``(N, T, C)`` float32
    series. The baseline reads the same windows from an uncompressed ``.npy`` memmap and makes the same
    ``(N, T, C)`` layout without standardising. Both run from the page cache (each is timed as the best of 3 runs).
    The breakdown times the stages separately: ``read_s`` (zarr read and decompression), ``prepare_s``
    (standardisation into series), and, for comparison, ``dask_read_s`` (the same windows through a dask-backed
    dataset, the path before :mod:`sitsbench.data.windows`).
    """
    path = write_synthetic(workdir, side, n_dates=n_dates, chunk=chunk)
    cube = open_cube(path, chunks={}, validate=False)
    raw_path = workdir / f"raw_{side}.npy"
    np.save(raw_path, np.asarray(cube[cube_format.REFLECTANCE].values))
    stats = BandStats.from_cube(cube.isel({cube_format.Y: slice(0, chunk), cube_format.X: slice(0, chunk)}).load(),
                                np.ones((chunk, chunk), dtype=bool))
    windows = [window_slices(cy, cx, chunk) for cy, cx in window_grid(side, side, chunk)]
    reader = window_source(path)
    first = reader.read(*windows[0])

    def cube_batches() -> None:
        for rows, cols in windows:
            window_series(*reader.read(rows, cols), stats)

    def read_only() -> None:
        for rows, cols in windows:
            reader.read(rows, cols)

    def prepare_only() -> None:
        for _ in windows:
            window_series(*first, stats)

    def dask_read() -> None:
        dataset = window_source(cube)
        for rows, cols in windows:
            dataset.read(rows, cols)

    def memmap_batches() -> None:
        raw = np.load(raw_path, mmap_mode="r")
        for rows, cols in windows:
            block = np.asarray(raw[:, :, rows, cols])
            block.reshape(n_dates, len(cube_format.S2_BANDS), -1).transpose(2, 0, 1).copy()

    cube_s, raw_s = best_time(cube_batches), best_time(memmap_batches)
    pixels = side * side
    return {"pixels": pixels, "cube_pixels_per_s": pixels / cube_s, "memmap_pixels_per_s": pixels / raw_s,
            "cube_over_memmap_time": cube_s / raw_s, "cube_s": cube_s, "memmap_s": raw_s,
            "read_s": best_time(read_only), "prepare_s": best_time(prepare_only), "dask_read_s": best_time(dask_read)}


def _train_step(model, optimizer, x, doy, mask, y) -> None:
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x, doy=doy, mask=mask), y).backward()
    optimizer.step()


def training_step_throughput(names=("tempcnn_small", "ltae_small", "transformer_small"), batch_size: int = 256,
                             n_dates: int = 36, n_bands: int = 10, steps: int = 10, device: str = "auto") -> list[dict]:
    """Training samples/s (forward + backward + Adam step) of registered series models on random batches; a
    model built for a fixed number of dates (the official TempCNN, L-TAE) is built for ``n_dates``."""
    from sitsbench.models import create_model
    from sitsbench.models.registry import length_options

    device_ = resolve_device(device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, n_dates, n_bands, generator=generator).to(device_)
    doy = torch.linspace(1, 365, n_dates).long().expand(batch_size, -1).to(device_)
    mask = torch.ones(batch_size, n_dates, dtype=torch.bool, device=device_)
    y = torch.randint(0, 10, (batch_size,), generator=generator).to(device_)
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = create_model(name, in_channels=n_bands, num_classes=10, **length_options(name, n_dates))
        model = model.to(device_).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        step = partial(_train_step, model, optimizer, x, doy, mask, y)
        step()  # warm-up
        if device_.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device_.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rows.append({"model": name, "device": str(device_), "samples_per_s": steps * batch_size / seconds,
                     "parameters": sum(p.numel() for p in model.parameters())})
    baseline = rows[0]["samples_per_s"]
    for row in rows:
        row[f"speed_vs_{rows[0]['model']}"] = row["samples_per_s"] / baseline
    return rows


def ssl_epoch_times(backbone: str = "transformer_tiny", pixels: int = 2048, batch_size: int = 256, epochs: int = 2,
                    device: str = "auto", seed: int = 0) -> list[dict]:
    """Seconds per pretraining epoch of SimCLR and DINO on ``pixels`` series of the default synthetic cube,
    against one supervised epoch of the same backbone on the same pixels (same batch size, precomputed batches).

    The SSL epochs include drawing the augmented views (their real cost); the supervised one reads ready tensors.
    """
    from sitsbench.models import create_model
    from sitsbench.ssl.pretrain import PRETRAINING, PretrainConfig, pretrain

    device_ = resolve_device(device)
    cube = generate_cube("default", seed=seed)
    rng = np.random.default_rng(seed)
    flat = rng.choice(cube.sizes[cube_format.Y] * cube.sizes[cube_format.X], pixels, replace=False)
    rows_, cols_ = np.unravel_index(flat, (cube.sizes[cube_format.Y], cube.sizes[cube_format.X]))
    series, clear = pixel_series(cube, rows_, cols_, BandStats.from_cube(cube, np.ones(cube[cube_format.CLASS].shape, bool)))
    labels = torch.from_numpy(np.asarray(cube[cube_format.CLASS].values)[rows_, cols_].astype(np.int64))
    doy = torch.from_numpy(day_of_year(cube[cube_format.TIME].values).astype(np.int64))
    torch.manual_seed(seed)
    model = create_model(backbone, in_channels=cube.sizes[cube_format.BAND], num_classes=int(labels.max()) + 1).to(device_)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [
        (torch.from_numpy(series[i:i + batch_size]).to(device_), doy.expand(len(series[i:i + batch_size]), -1).to(device_),
         torch.from_numpy(clear[i:i + batch_size]).to(device_), labels[i:i + batch_size].to(device_))
        for i in range(0, pixels - batch_size + 1, batch_size)
    ]
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in batches:
            _train_step(model, optimizer, *batch)
    supervised_s = (time.perf_counter() - start) / epochs
    rows = [{"method": "supervised", "backbone": backbone, "device": str(device_), "seconds_per_epoch": supervised_s}]
    unlabelled = cube.drop_vars([cube_format.CLASS, cube_format.PARCEL])
    for method in ("simclr", "dino"):
        config = PretrainConfig(max_pixels=pixels, train=replace(PRETRAINING, epochs=epochs, batch_size=batch_size,
                                                                 device=device, seed=seed, progress=False))
        _, history = pretrain(unlabelled, method, backbone, config)
        rows.append({"method": method, "backbone": backbone, "device": str(device_),
                     "seconds_per_epoch": history.duration_s / epochs})
    for row in rows:
        row["time_vs_supervised"] = row["seconds_per_epoch"] / supervised_s
    return rows


def naive_planes(cube, parcels, kind: str, width: int, height: int, bands: list[str], stats: BandStats,
                 seed: int) -> np.ndarray:
    """Reference STR extraction: one Python iteration per (STR, curve pixel, band), ``np.interp`` for the gap
    filling and time resampling, then the 2/98 % scaling; same curves as :func:`~sitsbench.planes.extract_planes`."""
    from sitsbench.data.timeops import relative_days
    from sitsbench.planes.extract import draw_curves, parcel_boxes

    reflectance = cube[cube_format.REFLECTANCE].sel({cube_format.BAND: bands}).values
    valid, parcel_map = cube[cube_format.VALID].values, cube[cube_format.PARCEL].values
    days = relative_days(cube[cube_format.TIME].values).astype(float)
    target = np.linspace(days[0], days[-1], height)
    index = [stats.bands.index(b) for b in bands]
    low, high = stats.low[index], stats.high[index]
    boxes = parcel_boxes(parcel_map)
    planes = []
    for parcel_id in parcels:
        r0, r1, c0, c1 = boxes[parcel_id]
        mask = parcel_map[r0:r1, c0:c1] == parcel_id
        for line in draw_curves(mask, kind, width, np.random.default_rng([seed, parcel_id])):
            plane = np.zeros((len(bands), height, width), dtype=np.float32)
            for j, (r, c) in enumerate(line):
                clear = valid[:, r0 + r, c0 + c]
                if not clear.any():
                    continue
                for b in range(len(bands)):
                    series = np.interp(target, days[clear], reflectance[clear, b, r0 + r, c0 + c])
                    plane[b, :, j] = np.clip((series - low[b]) / (high[b] - low[b]), 0.0, 1.0)
            planes.append(plane)
    return np.stack(planes)


def str_extraction_speed(kinds=("random_walk", "hilbert"), n_parcels: int = 40, width: int = 32, height: int = 32,
                         preset: str = "default", seed: int = 0) -> list[dict]:
    """Seconds and STRs/s of the vectorised extractor vs :func:`naive_planes` on the first ``n_parcels`` of a
    synthetic cube, per curve kind; the two outputs are checked equal before the speed-up is reported."""
    from sitsbench.planes.extract import extract_planes, parcel_boxes

    cube = generate_cube(preset, seed=seed)
    bands = ["B08", "B04", "B03"]
    stats = BandStats.from_cube(cube, cube[cube_format.PARCEL].values > 0)
    parcels = sorted(parcel_boxes(cube[cube_format.PARCEL].values))[:n_parcels]
    rows = []
    for kind in kinds:
        fast_s, fast = _timed_result(partial(extract_planes, cube, parcels, kind=kind, width=width, height=height,
                                             bands=bands, stats=stats, seed=seed))
        slow_s, slow = _timed_result(partial(naive_planes, cube, parcels, kind, width, height, bands, stats, seed))
        np.testing.assert_allclose(fast.values, slow, rtol=1e-4, atol=1e-5)
        rows.append({"kind": kind, "parcels": len(parcels), "strs": len(fast), "vectorised_s": fast_s,
                     "naive_s": slow_s, "strs_per_s": len(fast) / fast_s, "speed_up": slow_s / fast_s})
    return rows


def _timed_result(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def pretrain_scaling(workdir: Path, sides=(64, 256), steps: int = 20, batch_size: int = 64, window: int = 16,
                     buffer: int = 512, n_dates: int = 20, method: str = "simclr", backbone: str = "ltae_small",
                     device: str = "auto") -> list[dict]:
    """Pretraining throughput (series/s of the training loop) and peak traced memory (NumPy/Python, from opening the
    archive to the written encoder folder) of :func:`~sitsbench.ssl.pretrain.pretrain_archive` on zarr cubes whose
    side grows per step, at a fixed number of steps: the memory of a streamed archive must not grow with it."""
    from sitsbench.ssl.pretrain import PRETRAINING, PretrainConfig, StreamConfig, pretrain_archive

    rows = []
    for index, side in enumerate((sides[0], *sides)):  # the first run, not recorded, pays the one-off imports
        path = write_synthetic(workdir, side, n_dates=n_dates, chunk=window)
        config = PretrainConfig(train=replace(PRETRAINING, batch_size=batch_size, progress=False, device=device))
        stream = StreamConfig(steps=steps, window=window, buffer=buffer, log_every=steps, checkpoint_every=steps)
        tracemalloc.start()
        start = time.perf_counter()
        summary = pretrain_archive([str(path)], workdir / f"encoder_{side}", method, backbone, config, stream,
                                   overwrite=True)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pixels = side * side
        if index:
            rows.append({"side": side, "pixels": pixels, "cube_mib": pixels * n_dates * len(cube_format.S2_BANDS) * 4 / 2**20,
                         "seconds": seconds, "series_per_s": summary["series_per_s"], "peak_mib": peak / 2**20})
    return rows
