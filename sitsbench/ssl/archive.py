"""Unlabelled series streamed from an archive larger than memory: the data of ``sitsbench pretrain``.

An **archive** is one or more datasets (any spec :func:`sitsbench.data.load_dataset` takes). A cube (zarr/NetCDF,
a raster folder read by rioxarray/dask, a synthetic preset) is visited in square windows
(:mod:`sitsbench.data.windows`): a window is read, its pixels are standardised with the dataset's own statistics
and pushed through a bounded shuffle buffer, then dropped. Labelled samples (sample tables, ``sits`` files, ...)
are read in blocks of the same number of series, their labels never looked at. Memory is therefore the buffer plus
one window per shard, whatever the size of the archive (``benchmarks/bench_pretrain.py`` measures it).

**Shards.** The windows of the archive are dealt, in a seeded order, to ``shards`` virtual shards; each shard is a
reproducible stream of its own (its windows in a new seeded order every pass, its own shuffle buffer, its own
augmentation seeds). A global batch of ``B`` series takes ``B / shards`` series from every shard. In a run of ``W``
processes (``torchrun``), rank ``r`` reads only the shards ``r * shards / W`` to ``(r + 1) * shards / W - 1``: the
processes read disjoint windows that together cover the archive, and the global batch of step ``k`` holds the
same series and views whatever ``W`` divides ``shards`` — so 2 processes compute the losses of 1 process.

**Normalisation.** Each dataset is standardised with statistics of its own clear observations, computed on a
seeded sample of its windows (``stats_windows``; all of them for a small dataset) — one read of a few windows, not
a pass over the archive. The archive statistics (the clear observations of every dataset's sample together) are
those a downstream model uses (:mod:`sitsbench.inference.encoder_folder`).

**Dates.** Every series carries its days of year and its clear mask; series shorter than the archive's longest are
padded at the end with masked zeros (day 0), as labelled samples with different dates already are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch.utils.data import IterableDataset

from sitsbench.data import cube as cube_format
from sitsbench.data import samples as samples_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.timeops import day_of_year
from sitsbench.data.windows import window_grid, window_series, window_slices, window_source

STATS_OBSERVATIONS = 500_000
"""At most this many clear observations per dataset enter its statistics (a seeded subsample)."""


@dataclass
class ArchiveSource:
    """One dataset of an archive: where its windows are read and how its series are prepared."""

    name: str
    spec: str
    bands: tuple[str, ...]
    n_dates: int
    checksum: str = ""
    dates: np.ndarray | None = None  # (1, T) of a cube, (N, T) of samples (NaT padding)
    n_series: int = 0
    windows: list = field(default_factory=list)
    order: np.ndarray | None = None  # its bands in the archive's order
    stats: BandStats | None = None
    _reader: object = None
    _samples: tuple | None = None  # (values (N, T, C), valid (N, T), doy (N, T)) of a sample set
    _doy: np.ndarray | None = None  # (T,) of a cube

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values ``(n, T, C)`` (archive band order, not standardised), clear mask ``(n, T)`` and days of year
        ``(n, T)`` of window ``index``."""
        window = self.windows[index]
        if self._samples is not None:
            rows = slice(*window)
            values, valid, doy = (a[rows] for a in self._samples)
            return values[:, :, self.order], valid, doy
        values, valid = self._reader.read(*window)
        x, mask = window_series(values, valid, None, self.order)
        if not np.isfinite(x[mask]).all():
            rows, cols = window
            raise ValueError(f"dataset {self.spec!r}: NaN/inf reflectance under a clear mask ('valid' True) in the "
                             f"window rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1}; mark "
                             "those observations invalid or fill them")
        return x, mask, np.broadcast_to(self._doy, mask.shape)

    def series(self, index: int, n_dates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardised series ``(n, n_dates, C)`` (gaps and padding 0), mask and days of year of window ``index``,
        without the series that have no clear observation."""
        x, mask, doy = self.raw(index)
        x = np.nan_to_num(self.stats.standardize(x), nan=0.0, posinf=0.0, neginf=0.0)
        x[~mask] = 0.0
        keep = mask.any(axis=1)
        x, mask, doy = x[keep], mask[keep], doy[keep]
        pad = n_dates - x.shape[1]
        if pad:
            x = np.pad(x, ((0, 0), (0, pad), (0, 0)))
            mask = np.pad(mask, ((0, 0), (0, pad)))
            doy = np.pad(doy, ((0, 0), (0, pad)))
        return x, mask, np.ascontiguousarray(doy, dtype=np.int64)

    def describe(self) -> dict:
        return {"name": self.name, "spec": self.spec, "checksum": self.checksum, "series": self.n_series,
                "windows": len(self.windows), "dates": self.n_dates, "bands": list(self.bands),
                "normalisation": {"mean": self.stats.mean.tolist(), "std": self.stats.std.tolist()}}


def _observations(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Clear observations ``(n, C)`` of series ``(N, T, C)`` and mask ``(N, T)``, finite only."""
    clear = values[valid]
    return clear[np.isfinite(clear).all(axis=1)]


def _cap(observations: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(observations) > limit:
        observations = observations[rng.choice(len(observations), limit, replace=False)]
    return observations


CUBE_SUFFIXES = (".zarr", ".nc", ".nc4", ".h5")


def _saved_cube(spec: str) -> tuple[xr.Dataset, str, str] | None:
    """A cube saved by sitsbench, opened on its own chunks without reading its values (each window's values are
    checked when it is read): the cube, its name and its content checksum; ``None`` for any other spec."""
    from sitsbench.data.io import open_cube
    from sitsbench.data.loading import content_checksum

    path = Path(spec)
    if path.suffix.lower() not in CUBE_SUFFIXES or not path.exists():
        return None
    cube = cube_format.validate_cube(open_cube(path, chunks={}, validate=False), check_values=False)
    return cube, path.stem, content_checksum(path)


def _open_source(spec: str, chunk: int, seed: int) -> ArchiveSource:
    from sitsbench.data.loading import load_dataset

    saved = _saved_cube(spec)
    if saved is None:
        loaded = load_dataset(spec, seed=seed)
        cube, name, checksum = loaded.cube, loaded.name, loaded.checksum
    else:
        cube, name, checksum = saved
    if cube is not None:
        path = Path(str(spec))
        source = ArchiveSource(name, str(spec), tuple(str(b) for b in cube[cube_format.BAND].values), cube.sizes[cube_format.TIME],
                               checksum)
        source._reader = window_source(path if path.suffix == ".zarr" and path.is_dir() else cube, opened=cube)
        source._doy = day_of_year(cube[cube_format.TIME].values).astype(np.int64)
        source.dates = np.asarray(cube[cube_format.TIME].values, dtype="datetime64[D]")[None]
        height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
        source.windows = [window_slices(cy, cx, chunk) for cy, cx in window_grid(height, width, chunk)]
        source.n_series = height * width
        return source
    samples = loaded.samples
    dates = np.asarray(samples[samples_format.DATE].values, dtype="datetime64[D]")
    real = ~np.isnat(dates)
    doy = day_of_year(dates)
    values = np.asarray(samples[samples_format.VALUES].values, dtype=np.float32)
    valid = np.asarray(samples[samples_format.VALID].values, dtype=bool) & real
    source = ArchiveSource(name, str(spec), tuple(str(b) for b in samples[samples_format.BAND].values), values.shape[1],
                           checksum)
    source._samples = (values, valid, doy)
    source.dates = dates
    size = chunk * chunk
    source.windows = [(start, min(start + size, len(values))) for start in range(0, len(values), size)]
    source.n_series = len(values)
    return source


@dataclass
class Archive:
    """The datasets of one pretraining run, their bands matched by name (the first dataset's order)."""

    sources: list[ArchiveSource]
    bands: tuple[str, ...]
    n_dates: int
    stats: BandStats
    chunk: int

    @classmethod
    def open(cls, specs: list[str], chunk: int = 32, stats_windows: int = 16, seed: int = 0) -> Archive:
        """Open the datasets of ``specs`` (read lazily where they are on disk) and compute their statistics on a
        seeded sample of ``stats_windows`` windows each."""
        if not specs:
            raise ValueError("an archive needs at least one dataset")
        if chunk < 1:
            raise ValueError(f"the window side must be >= 1 pixel, got {chunk}")
        sources = [_open_source(str(spec), chunk, seed) for spec in specs]
        bands = sources[0].bands
        for source in sources:
            missing = [b for b in bands if b not in source.bands]
            if missing:
                raise ValueError(f"dataset {source.spec!r} has bands {list(source.bands)}, the archive (bands of "
                                 f"{sources[0].spec!r}) needs {list(bands)}: missing {missing}")
            source.order = np.asarray([source.bands.index(b) for b in bands])
        rng = np.random.default_rng([seed, 7])
        pooled = []
        for source in sources:
            chosen = rng.choice(len(source.windows), min(stats_windows, len(source.windows)), replace=False)
            parts = [_observations(*source.raw(int(i))[:2]) for i in sorted(chosen)]
            observations = np.concatenate(parts) if parts else np.zeros((0, len(bands)), np.float32)
            if not len(observations):
                raise ValueError(f"dataset {source.spec!r}: no clear observation in {len(chosen)} sampled windows; "
                                 "cannot compute its normalisation statistics")
            observations = _cap(observations, STATS_OBSERVATIONS, rng)
            source.stats = BandStats._from_observations(observations, bands, STATS_OBSERVATIONS, seed)
            pooled.append(_cap(observations, STATS_OBSERVATIONS // len(sources), rng))
        stats = BandStats._from_observations(np.concatenate(pooled), bands, STATS_OBSERVATIONS, seed)
        return cls(sources, bands, max(s.n_dates for s in sources), stats, chunk)

    @property
    def n_series(self) -> int:
        return sum(s.n_series for s in self.sources)

    def windows(self) -> list[tuple[int, int]]:
        """Every window of the archive as ``(source, window)``."""
        return [(i, w) for i, source in enumerate(self.sources) for w in range(len(source.windows))]

    def describe(self) -> dict:
        return {"bands": list(self.bands), "dates": self.n_dates, "series": self.n_series, "window_side": self.chunk,
                "datasets": [s.describe() for s in self.sources]}


def shard_windows(archive: Archive, shards: int, seed: int) -> list[list[tuple[int, int]]]:
    """The windows of each of ``shards`` virtual shards: the archive's windows in a seeded order, dealt in turn."""
    windows = archive.windows()
    if len(windows) < shards:
        raise ValueError(f"the archive has {len(windows)} windows of {archive.chunk} x {archive.chunk} series, fewer "
                         f"than the {shards} shards: use a smaller window (--window) or fewer shards (--shards)")
    order = np.random.default_rng([seed, 11]).permutation(len(windows))
    return [[windows[i] for i in order[s::shards]] for s in range(shards)]


def rank_shards(shards: int, rank: int, world: int) -> range:
    """The shards read by process ``rank`` of ``world``."""
    if shards % world:
        raise ValueError(f"{shards} shards cannot be split evenly over {world} processes: choose --shards a "
                         f"multiple of the number of processes")
    per = shards // world
    return range(rank * per, (rank + 1) * per)


class ArchiveStream(IterableDataset):
    """The augmented views of the series of an archive, for the process ``rank`` of ``world``, as an endless
    stream cut into iterations of ``steps_per_iter`` local batches (one "epoch" of the training loop: a log
    interval). Item ``k`` of shard ``s`` is augmented with a generator seeded by ``(seed, s, k)``."""

    def __init__(self, archive: Archive, transform, batch_size: int, shards: int = 8, buffer: int = 2048,
                 steps_per_iter: int = 10, seed: int = 0, rank: int = 0, world: int = 1):
        if batch_size % shards:
            raise ValueError(f"the batch size ({batch_size}) must be a multiple of the number of shards ({shards})")
        if buffer < 1:
            raise ValueError(f"the shuffle buffer must hold at least 1 series, got {buffer}")
        self.archive, self.transform, self.seed, self.buffer = archive, transform, seed, buffer
        self.steps_per_iter, self.per_shard = steps_per_iter, batch_size // shards
        self.shard_windows = shard_windows(archive, shards, seed)
        self.shards = rank_shards(shards, rank, world)
        self.local_batch = self.per_shard * len(self.shards)
        self.read_windows: set[tuple[int, int]] = set()
        self._items = {s: self._shard_items(s) for s in self.shards}
        self.emitted = dict.fromkeys(self.shards, 0)

    def _shard_items(self, shard: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Endless ``(x, mask, doy)`` of one shard: each pass its windows in a new seeded order, the series of the
        windows through a shuffle buffer of ``buffer`` series."""
        windows = self.shard_windows[shard]
        pick = np.random.default_rng([self.seed, shard, 1])
        pool: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        passes = 0
        while True:
            served = False
            for index in np.random.default_rng([self.seed, shard, 0, passes]).permutation(len(windows)):
                source, window = windows[index]
                self.read_windows.add((source, window))
                x, mask, doy = self.archive.sources[source].series(window, self.archive.n_dates)
                for row in range(len(x)):
                    item = (x[row].copy(), mask[row].copy(), doy[row].copy())
                    if len(pool) < self.buffer:
                        pool.append(item)
                        continue
                    slot = int(pick.integers(len(pool)))
                    yield pool[slot]
                    pool[slot] = item
                    served = True
            passes += 1
            if not pool:
                raise ValueError(f"shard {shard} of the archive holds no series with a clear observation")
            if not served:  # the whole shard fits in the buffer: it stays there, served in a new order each pass
                while True:
                    for slot in pick.permutation(len(pool)):
                        yield pool[int(slot)]

    def skip(self, steps: int) -> None:
        """Advance past the series of ``steps`` local batches without augmenting them (resuming a run)."""
        for shard in self.shards:
            for _ in range(steps * self.per_shard):
                next(self._items[shard])
            self.emitted[shard] += steps * self.per_shard

    def __iter__(self):
        for _ in range(self.steps_per_iter):
            for shard in self.shards:
                for _ in range(self.per_shard):
                    x, mask, doy = next(self._items[shard])
                    key = np.random.SeedSequence([self.seed, shard, self.emitted[shard]]).generate_state(1)[0]
                    self.emitted[shard] += 1
                    sample = {"x": torch.from_numpy(x), "doy": torch.from_numpy(doy), "mask": torch.from_numpy(mask)}
                    yield self.transform(sample, torch.Generator().manual_seed(int(key)))
