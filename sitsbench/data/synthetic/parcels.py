"""The parcels of a synthetic landscape: Voronoi cells and every per-parcel draw (class, behaviour, sowing shift,
mowing dates, flowering, change event, practice, region, second crop)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from sitsbench.data.splits import allocate
from sitsbench.data.synthetic.config import SyntheticConfig

CHANGE_TARGETS = ("bare_soil", "urban")


@dataclass
class Parcels:
    """Per-parcel attributes, indexed by parcel id (index 0 is unused: id 0 means 'no parcel')."""

    seeds: np.ndarray
    label: np.ndarray
    behaviour: np.ndarray
    date_shift: np.ndarray
    amplitude_scale: np.ndarray
    base_shift: np.ndarray
    brightness: np.ndarray
    nir_scale: np.ndarray
    cut_days: np.ndarray
    bloom_day: np.ndarray
    changes: np.ndarray
    change_doy: np.ndarray
    new_label: np.ndarray
    region: np.ndarray
    second_sos: np.ndarray
    second_eos: np.ndarray
    second_amplitude: np.ndarray
    tree: cKDTree = field(repr=False, default=None)

    def id_map(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Parcel ids (1..n_parcels) of the pixels in rows ``y0:y1`` and columns ``x0:x1``: the nearest seed."""
        yy, xx = np.mgrid[y0:y1, x0:x1]
        _, nearest = self.tree.query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
        return (nearest + 1).reshape(yy.shape).astype(np.int32)


def draw_parcels(config: SyntheticConfig, rng: np.random.Generator, seasons: dict[str, np.ndarray]) -> Parcels:
    """Every parcel of ``config``'s landscape, drawn from ``rng`` (the landscape's global stream) and, for the
    practices, from a stream of their own; ``seasons`` are the classes' season arrays."""
    n_classes = len(config.classes)
    class_index = {c.name: i for i, c in enumerate(config.classes)}
    n_parcels = max(n_classes, round(config.height * config.width / config.mean_parcel_area))
    seeds = rng.uniform((0, 0), (config.height, config.width), size=(n_parcels, 2))
    labels = np.repeat(np.arange(n_classes), _class_counts(config.frequencies, n_parcels))
    rng.shuffle(labels)
    jitter = np.array([c.sowing_jitter for c in config.classes])[labels]
    late = rng.random(n_parcels) < 0.1
    cut_base = np.full((n_parcels, 3), np.nan)
    for k in [i for i, c in enumerate(config.classes) if c.mowing]:
        cuts = np.asarray(config.classes[k].mowing, dtype=float)
        rows = np.flatnonzero(labels == k)
        cut_base[rows, : cuts.size] = cuts[None, :] + rng.normal(0, 8, size=(rows.size, cuts.size))
        skip = rng.random((rows.size, cuts.size)) < 0.25
        cut_base[rows, : cuts.size] = np.where(skip, np.nan, cut_base[rows, : cuts.size])
    behaviour = _atypical_behaviour(config, rng, labels)
    bloom = np.array([np.nan if c.flowering is None else c.flowering for c in config.classes])[behaviour]
    changes = rng.random(n_parcels) < config.change_fraction
    changes &= labels != class_index.get("water", -1)
    targets = np.array([class_index[name] for name in CHANGE_TARGETS if name in class_index])
    new_label = labels.copy()
    if targets.size:
        new_label[changes] = rng.choice(targets, size=changes.sum())
        changes &= new_label != labels
    else:
        changes[:] = False
    shift, regional, practices = _practices(config, seasons, labels, behaviour, seeds[:, 1] >= config.width / 2)
    parcels = Parcels(
        seeds=seeds,
        label=with_unused_zero(labels),
        behaviour=with_unused_zero(behaviour),
        date_shift=with_unused_zero(rng.normal(0, 1, n_parcels) * jitter * np.where(late, 2.5, 1.0) + shift),
        amplitude_scale=with_unused_zero(rng.uniform(0.82, 1.08, n_parcels)),
        base_shift=with_unused_zero(rng.normal(0, 0.035, n_parcels)),
        brightness=with_unused_zero(rng.uniform(0.75, 1.25, n_parcels)),
        nir_scale=with_unused_zero(rng.uniform(0.85, 1.15, n_parcels)),
        cut_days=np.vstack([np.full((1, 3), np.nan), cut_base + regional[:, None]]),
        bloom_day=with_unused_zero(bloom + rng.normal(0, 6, n_parcels) + shift),
        changes=with_unused_zero(changes),
        change_doy=with_unused_zero(np.where(changes, rng.integers(60, 300, n_parcels), -1)),
        new_label=with_unused_zero(new_label),
        **practices,
    )
    parcels.tree = cKDTree(seeds)
    return parcels


def _practices(config: SyntheticConfig, seasons: dict[str, np.ndarray], labels: np.ndarray, behaviour: np.ndarray,
               east: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Sowing practice, regional shift and second crop of each parcel, from their own random stream (so that
    the landscapes without them draw exactly as before). Returns the shift of each parcel's seasons (practice +
    region), the regional shift alone (grass cuts follow it) and the new :class:`Parcels` fields."""
    rng = np.random.default_rng([config.seed, 3])
    n = labels.size
    crop = np.array(["crop" in c.tags for c in config.classes])[labels]
    sowing = np.where(crop, rng.choice(config.sowing_modes, n), 0.0) if config.sowing_modes else np.zeros(n)
    regional = np.where(east, config.region_shift, 0.0)
    ends = np.where((seasons["amplitude"] > 0) & (seasons["eos"] <= 365), seasons["eos"], -np.inf).max(axis=1)
    second = crop & np.isfinite(ends[behaviour]) & (rng.random(n) < config.double_crop_fraction)
    second_sos = ends[behaviour] + sowing + regional + rng.uniform(15, 35, n)
    second_eos = second_sos + rng.uniform(60, 95, n)
    return sowing + regional, regional, {
        "region": with_unused_zero(east.astype(np.int8)),
        "second_sos": with_unused_zero(np.where(second, second_sos, 0.0)),
        "second_eos": with_unused_zero(np.where(second, second_eos, 0.0)),
        "second_amplitude": with_unused_zero(np.where(second, rng.uniform(0.15, 0.35, n), 0.0)),
    }


def _atypical_behaviour(config: SyntheticConfig, rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """The class each parcel behaves like: its own, or for atypical parcels another of its group."""
    classes = config.classes
    group = [c.tags or (c.name,) for c in classes]
    behaviour = labels.copy()
    for i in np.flatnonzero(rng.random(labels.size) < config.atypical_fraction):
        others = [k for k in range(len(classes)) if group[k] == group[labels[i]] and k != labels[i]]
        if others:
            behaviour[i] = rng.choice(others)
    return behaviour


def _class_counts(frequencies: np.ndarray, total: int) -> np.ndarray:
    """Parcels per class: ``total`` shared out by ``frequencies`` (largest remainders), at least one per class
    with a positive frequency when there are enough parcels."""
    counts = allocate(total, frequencies)
    if total >= (frequencies > 0).sum():
        for k in np.flatnonzero((counts == 0) & (frequencies > 0)):
            counts[k] += 1
            counts[np.argmax(counts)] -= 1
    return counts


def with_unused_zero(values: np.ndarray) -> np.ndarray:
    """Prepend a dummy entry so that arrays can be indexed by parcel id (ids start at 1)."""
    values = np.asarray(values)
    return np.concatenate([np.zeros(1, dtype=values.dtype), values])
