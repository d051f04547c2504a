"""One entry point for every dataset: ``load_dataset(spec)`` -> a cube, samples, both, or a patch collection.

``spec`` is one of:

* a **synthetic preset** (``default``, ``toy``, ...; :data:`sitsbench.data.synthetic.PRESETS`), generated with
  ``seed``;
* a **manifest name** with its local root, ``NAME:ROOT`` (``victoria-s2:/data/victoria``), or ``NAME`` alone for
  ``<data root>/NAME`` (see :func:`sitsbench.data.fetch.data_root`); the folder is checked against the
  manifest's checksums before it is read;
* a **path** to a local folder or file, whose layout is recognised from its content (:data:`READERS`):
  a folder of per-date rasters (optionally in ``raster/``, with a CSV of labelled lon/lat points next to it),
  the IGARSS 2019 Victoria CSV folder, an eo-learn NDVI EOPatch, a ``sits`` tibble (``.rda``/``.rds``), a sample
  table (``.csv``/``.parquet``), a saved cube (``.zarr``/``.nc``), a PASTIS patch set or a **dataset description**
  (``.yaml``: what the files' names do not say, see :mod:`sitsbench.data.description`).

The result, :class:`LoadedDataset`, holds the cube (georeferenced for rasters) and/or the labelled samples
(with the dataset's predefined split when it has one) or a patch collection (PASTIS, read lazily), the dataset's
name, its content checksum (SHA-256 over the files' relative paths and bytes, or over the synthetic
configuration) and the manifest that the files were verified against. An unrecognised path gets an error listing the layouts that were looked for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the manifests check layout names without numpy or xarray
    import xarray as xr

    from sitsbench.data.readers.pastis import PatchCollection

HASH_LIMIT_BYTES = 2 * 1024**3
"""Folders larger than this are identified by a hash of their file names and sizes instead of their bytes."""


class UnknownLayoutError(ValueError):
    """A path whose content matches none of the layouts of :data:`READERS`."""


@dataclass
class LoadedDataset:
    """What :func:`load_dataset` returns: the data and where it came from."""

    name: str
    layout: str
    cube: xr.Dataset | None = None
    samples: xr.Dataset | None = None
    source: str = ""
    checksum: str = ""
    manifest: str | None = None
    notes: list[str] = field(default_factory=list)
    patches: PatchCollection | None = None
    """A PASTIS patch set (layout ``pastis``): patches read lazily, each with its dates, and the official folds."""

    @property
    def labelled(self) -> xr.Dataset:
        """The labelled data the chapters train on: the samples when there are any, else the cube; for a patch set,
        one sample per parcel with its pixel set and the split of the official folds
        (:meth:`~sitsbench.data.readers.pastis.PatchCollection.parcel_samples`, read once)."""
        if self.samples is None and self.cube is None and self.patches is not None:
            self.samples = self.patches.parcel_samples()
            self.notes.append("parcel samples: one per parcel of every patch, split by the official folds")
        return self.samples if self.samples is not None else self.cube

    @property
    def kind(self) -> str:
        parts = (("cube", self.cube), ("samples", self.samples), ("patches", self.patches))
        return "+".join(k for k, v in parts if v is not None)

    def record(self) -> dict:
        """The ``dataset`` entry of a run record."""
        out = {"name": self.name, "layout": self.layout, "kind": self.kind, "source": self.source,
               "checksum": self.checksum}
        if self.manifest:
            out["manifest_name"] = self.manifest
        if self.cube is not None:
            out["cube_sizes"] = {str(k): int(v) for k, v in self.cube.sizes.items()}
        if self.samples is not None:
            out["n_samples"] = int(self.samples.sizes["sample"])
            out["classes"] = list(self.samples.attrs.get("class_names", []))
        if self.patches is not None:
            out["n_patches"] = len(self.patches)
            out["fold_rotation"] = self.patches.rotation + 1
        return out

    def describe(self) -> dict:
        """Kind, sizes, dates, bands, classes and CRS (``sitsbench data info PATH``)."""
        from sitsbench.data import georef
        from sitsbench.data import samples as samples_format

        out = {"dataset": self.name, "layout": self.layout, "kind": self.kind, "source": self.source,
               "checksum": self.checksum}
        if self.manifest:
            out["verified against manifest"] = self.manifest
        if self.cube is not None:
            cube = self.cube
            times = cube["time"].values
            out["cube"] = {
                "sizes": {str(k): int(v) for k, v in cube.sizes.items()},
                "dates": f"{times.size}: {str(times[0])[:10]} to {str(times[-1])[:10]}",
                "bands": [str(b) for b in cube["band"].values],
                "crs": georef.crs_label(georef.crs_of(cube)) if georef.has_crs(cube) else "none (pixel indices)",
                "classes": list(cube.attrs.get("class_names", [])),
            }
            if georef.has_crs(cube):
                out["cube"]["pixel size"] = [abs(float(v)) for v in georef.transform_of(cube)[0:5:4]]
        if self.samples is not None:
            out["samples"] = samples_format.summary(self.samples)
        if self.patches is not None:
            out["patches"] = self.patches.describe()
        if self.notes:
            out["notes"] = self.notes
        return out


def _synthetic(spec: str, seed: int) -> LoadedDataset:
    from dataclasses import asdict

    from sitsbench.data.synthetic import config_from_preset, generate_cube

    config = config_from_preset(spec, seed=seed)
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True, default=str).encode()).hexdigest()
    return LoadedDataset(spec, "synthetic", cube=generate_cube(config), source=f"synthetic preset {spec!r}",
                         checksum=f"sha256:{digest}")


def content_checksum(path: str | Path) -> str:
    """SHA-256 of one file's bytes (as in the manifests), or over the relative paths and bytes of the files
    under a folder. Folders over :data:`HASH_LIMIT_BYTES` are hashed over names and sizes only (prefix
    ``listing-sha256:``). A dataset description file (``.yaml``) is hashed with the files it names."""
    from sitsbench.data import description

    path = Path(path)
    if path.is_file() and path.suffix.lower() in description.SUFFIXES:
        return description.read_description(path).checksum
    digest = hashlib.sha256()
    if path.is_file():
        _update(digest, path)
        return f"sha256:{digest.hexdigest()}"
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing_only = sum(p.stat().st_size for p in files) > HASH_LIMIT_BYTES
    for p in files:
        digest.update(f"{p.relative_to(path)}\0{p.stat().st_size}\0".encode())
        if not listing_only:
            _update(digest, p)
    return f"{'listing-' if listing_only else ''}sha256:{digest.hexdigest()}"


def _update(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def _raster_dir(path: Path) -> Path | None:
    from sitsbench.data.readers.rasters import raster_files

    for candidate in (path, path / "raster", path / "rasters"):
        if candidate.is_dir() and raster_files(candidate):
            return candidate
    return None


def _points_file(path: Path) -> Path | None:
    """A CSV with longitude/latitude/label columns, or a vector file of points, beside the rasters."""
    import pandas as pd

    from sitsbench.data.readers.points import VECTOR_SUFFIXES

    for csv in sorted(path.glob("*.csv")):
        columns = {c.lower() for c in pd.read_csv(csv, nrows=0).columns}
        if {"longitude", "latitude", "label"} <= columns:
            return csv
    vectors = sorted(p for p in path.iterdir() if p.suffix.lower() in VECTOR_SUFFIXES and p.name != "bbox.geojson")
    return vectors[0] if vectors else None


def _is_file(*suffixes: str):
    return lambda path: path.is_file() and path.suffix.lower() in suffixes


def _has(*files: str, dirs: tuple[str, ...] = ()):
    return lambda path: all((path / f).is_file() for f in files) and all((path / d).is_dir() for d in dirs)


def _is_description(path: Path) -> bool:
    from sitsbench.data import description

    return path.is_file() and path.suffix.lower() in description.SUFFIXES


def _is_cube(path: Path) -> bool:
    return _is_file(".nc", ".nc4", ".h5")(path) or (path.is_dir() and path.suffix == ".zarr")


def _is_breizhcrops(path: Path) -> bool:
    return (path / "classmapping.csv").is_file() and any(path.glob("*/*/*.h5"))


def _is_timesen2crop(path: Path) -> bool:
    return path.is_dir() and any((tile / "dates.csv").is_file() for tile in path.iterdir() if tile.is_dir())


def _read_sits(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.sits import read_sits_samples

    loaded.samples = read_sits_samples(path)


def _read_table(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.tables import read_sample_table

    loaded.samples = read_sample_table(path)


def _read_cube(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.io import open_cube

    loaded.cube = open_cube(path)


def _read_victoria(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.victoria import read_victoria

    loaded.samples = read_victoria(path)
    loaded.notes.append(loaded.samples.attrs["dates"])


def _read_eolearn(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.eolearn import read_eolearn_ndvi

    loaded.cube = read_eolearn_ndvi(path)


def _read_raster_folder(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.points import read_points
    from sitsbench.data.readers.rasters import read_raster_folder
    from sitsbench.data.samples import samples_from_cube

    loaded.cube = read_raster_folder(_raster_dir(path))
    points = _points_file(path)
    if points is not None:
        table = read_points(points)
        loaded.samples = samples_from_cube(loaded.cube, table, x="x", y="y", crs=table.attrs["crs"])
        loaded.notes.append(f"{len(table)} labelled points from {points.name} placed on the cube")


def _read_breizhcrops(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.breizhcrops import read_breizhcrops

    levels = sorted({p.parent.name for p in path.glob("*/*/*.h5")})
    level = "L2A" if "L2A" in levels else levels[0]
    regions = sorted({p.stem for p in path.glob(f"*/{level}/*.h5")})
    loaded.samples = read_breizhcrops(path, level=level, regions=regions)
    loaded.notes.append(f"BreizhCrops {level}, regions {regions}")


def _read_timesen2crop(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.timesen2crop import read_timesen2crop

    tiles = sorted(t.name for t in path.iterdir() if (t / "dates.csv").is_file())
    loaded.samples = read_timesen2crop(path, tiles)
    loaded.notes.append(f"TimeSen2Crop tiles {tiles}; no parcel ids: one group per pixel, hold out whole tiles")


def _read_pixelset(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.pixelset import PSETAE_SUB_CLASSES, read_pixelset

    loaded.samples = read_pixelset(path, sub_classes=PSETAE_SUB_CLASSES)
    loaded.notes.append("PSE-TAE protocol: the 20 sub-classes of label_44class")


def _read_pastis_r_pixelset(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.pastis_r_pixelset import read_pastis_r_pixelset

    loaded.samples = read_pastis_r_pixelset(path, rotation=0)
    loaded.notes.append("official rotation 1: folds 1-3 train, 4 val, 5 test")


def _read_pastis(path: Path, loaded: LoadedDataset) -> None:
    from sitsbench.data.readers.pastis import PatchCollection

    loaded.patches = PatchCollection(path, rotation=0)
    loaded.notes.append("patches read lazily; official rotation 1: folds 1-3 train, 4 val, 5 test")


@dataclass(frozen=True)
class Layout:
    """One entry of :data:`READERS`: what the layout is, how to recognise it and how to read it."""

    description: str
    detect: Callable[[Path], bool]
    """True when a path (file or folder) has this layout's content."""
    read: Callable[[Path, LoadedDataset], LoadedDataset | None]
    """Fills the :class:`LoadedDataset` it is given (or returns a new one)."""


READERS: dict[str, Layout] = {
    "sits": Layout("a sits sample tibble saved from R (.rda, .rdata or .rds)",
                   _is_file(".rda", ".rdata", ".rds"), _read_sits),
    "table": Layout("a sample table (.csv or .parquet): label column + band_date columns, or long format",
                    _is_file(".csv", ".parquet", ".pq"), _read_table),
    "description": Layout("a dataset description file (.yaml/.yml) naming the rasters' bands, layer order and "
                          "dates, a sample table's columns or labelled points (schema: sitsbench.data.description)",
                          _is_description, lambda path, _: _read_description(path)),
    "cube": Layout("a cube saved by sitsbench (.zarr folder or .nc file)", _is_cube, _read_cube),
    "victoria": Layout("train_dataset.csv + test_dataset.csv + class_map.txt (IGARSS 2019 tutorial)",
                       _has("class_map.txt", "train_dataset.csv"), _read_victoria),
    "eolearn": Layout("an EOPatch folder with timestamps.json, data/NDVI.npy, mask/ and mask_timeless/LULC.npy",
                      _has("timestamps.json", "data/NDVI.npy"), _read_eolearn),
    "raster folder": Layout("per-date rasters (*.tif, *.jp2, ...) with the date in the file name, in the folder or "
                            "in its raster/ subfolder; labelled points beside them (a CSV with longitude/latitude/"
                            "label, or a GeoPackage/GeoJSON of points) are optional",
                            lambda path: _raster_dir(path) is not None, _read_raster_folder),
    "breizhcrops": Layout("BreizhCrops: classmapping.csv + <year>/<L1C|L2A>/<region>.csv/.h5 (every region found, "
                          "official split frh01-03 train / frh04 test)", _is_breizhcrops, _read_breizhcrops),
    "pastis-r pixelset": Layout("PASTIS-R pixel sets: metadata_parcel.csv + DATA_S2/S2_<parcel>.npy (rotation 1 "
                                "split)", _has("metadata_parcel.csv", dirs=("DATA_S2",)), _read_pastis_r_pixelset),
    "pastis": Layout("PASTIS / PASTIS-R patches: metadata.geojson + DATA_S2/ + ANNOTATIONS/, a patch collection "
                     "read lazily (one cube per patch, its own dates) with the official folds (rotation 1); "
                     "its labelled data are one sample per parcel (sitsbench.data.readers.pastis)",
                     _has("metadata.geojson", dirs=("DATA_S2",)), _read_pastis),
    "pixelset": Layout("S2-Agri Pixel-Set: DATA/<id>.npy + META/labels.json, dates.json (PSE-TAE's 20 classes)",
                       _has("META/labels.json", dirs=("DATA",)), _read_pixelset),
    "timesen2crop": Layout("TimeSen2Crop: one folder per tile holding dates.csv and one folder per class of pixel "
                           "CSVs", _is_timesen2crop, _read_timesen2crop),
}
"""Every layout ``load_dataset`` reads, keyed by name, in the order the detectors are tried (the first that
matches wins); the manifests' ``reader`` field names one of them (or ``none``)."""
LAYOUTS = {name: layout.description for name, layout in READERS.items()}
"""What each layout of :data:`READERS` holds (the text of an unrecognised-layout error)."""


def _read_description(path: Path) -> LoadedDataset:
    from sitsbench.data.description import read_description

    return read_description(path)


def detect_layout(path: Path) -> str:
    """The name of the first layout of :data:`READERS` whose detector recognises ``path``."""
    if not path.exists():
        raise FileNotFoundError(f"dataset path {path} does not exist")
    for name, layout in READERS.items():
        if layout.detect(path):
            return name
    looked = "\n".join(f"  - {name}: {text}" for name, text in LAYOUTS.items())
    raise UnknownLayoutError(f"{path}: unrecognised dataset layout; looked for:\n{looked}")


def read_layout(path: Path, layout: str) -> LoadedDataset:
    """``path`` read by the reader of ``layout`` (a key of :data:`READERS`)."""
    if layout not in READERS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(READERS)}")
    loaded = LoadedDataset(path.stem if path.is_file() else path.name, layout, source=str(path))
    return READERS[layout].read(path, loaded) or loaded

def _checkable(name: str) -> bool:
    """True when every download of manifest ``name`` is a plain file with a published checksum."""
    from sitsbench.data.manifests import load_manifest

    entries = load_manifest(name)["downloads"]
    archives = (".zip", ".tar", ".gz", ".tgz", ".7z")
    return bool(entries) and all(e["checksum"] != "unknown" and not e["filename"].endswith(archives) for e in entries)


def _verified_manifest(path: Path, checksum_of_file: str | None) -> str | None:
    """The real-data manifest that ``path`` matches (every listed file with its checksum), if any."""
    from sitsbench.data.fetch import DownloadError, verify_local
    from sitsbench.data.manifests import load_manifests

    for name, manifest in load_manifests().items():
        entries = manifest["downloads"]
        if not entries or any(e["checksum"] == "unknown" for e in entries):
            continue
        if path.is_file():
            if checksum_of_file and any(e["checksum"] == checksum_of_file for e in entries):
                return name
            continue
        if not all((path / e["filename"]).is_file() for e in entries):
            continue
        try:
            verify_local(name, path, manifest=manifest)
        except DownloadError:
            continue
        return name
    return None


def load_dataset(spec: str | Path, seed: int = 0) -> LoadedDataset:
    """Load the dataset named by ``spec`` (see the module docstring)."""
    from sitsbench.data.fetch import expand_data_root
    from sitsbench.data.synthetic import PRESETS

    text = expand_data_root(str(spec))
    if text in PRESETS:
        return _synthetic(text, seed)
    path = Path(text).expanduser()
    manifest_name = None
    if not path.exists():
        from sitsbench.data.fetch import data_root, verify_local
        from sitsbench.data.manifests import manifest_paths

        known = {p.stem for p in manifest_paths()}
        name, _, root = text.partition(":")
        if name in known:
            path = Path(expand_data_root(root)).expanduser() if root else data_root() / name
            if not path.exists():
                raise FileNotFoundError(
                    f"dataset {name!r}: no local copy at {path}; run `sitsbench data fetch {name}` "
                    f"(or `--from DIR` with an offline copy), or pass NAME:ROOT"
                )
            manifest_name = name if _checkable(name) else None
            if manifest_name:  # every file listed with a checksum: the copy must be the published one
                verify_local(name, path)
        else:
            raise FileNotFoundError(
                f"dataset {text!r} is neither an existing path, a synthetic preset ({', '.join(sorted(PRESETS))}) "
                f"nor a manifest name ({', '.join(sorted(known))}, optionally NAME:ROOT)"
            )
    layout = detect_layout(path)
    loaded = read_layout(path, layout)
    loaded.checksum = loaded.checksum or content_checksum(path)  # a description hashes the files it names
    loaded.manifest = manifest_name or _verified_manifest(path, loaded.checksum if path.is_file() else None)
    if loaded.manifest:
        loaded.name = loaded.manifest
    return loaded


def require_samples(loaded: LoadedDataset) -> xr.Dataset:
    """The labelled samples of ``loaded``; a cube with labels is turned into samples (every labelled pixel), a
    patch set into one sample per parcel (its mean series and pixel set, split by the official folds)."""
    import numpy as np

    from sitsbench.data.samples import samples_from_cube

    if loaded.samples is not None or loaded.patches is not None:
        return loaded.labelled
    labels = np.asarray(loaded.cube["class"].values)
    if not (labels >= 0).any():
        raise ValueError(f"dataset {loaded.name!r} ({loaded.source}) has no labelled sample")
    return samples_from_cube(loaded.cube)
