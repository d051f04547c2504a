"""One entry point for every dataset: ``load_dataset(spec)`` -> a cube, samples, or both.

``spec`` is one of:

* a **synthetic preset** (``default``, ``toy``, ...; :data:`sitsbench.data.synthetic.PRESETS`), generated with
  ``seed``;
* a **manifest name** with its local root, ``NAME:ROOT`` (``victoria-s2:/data/victoria``), or ``NAME`` alone for
  ``<data root>/NAME`` (see :func:`sitsbench.data.fetch.data_root`); the folder is checked against the
  manifest's checksums before it is read;
* a **path** to a local folder or file, whose layout is recognised from its content (:data:`LAYOUTS`):
  a folder of per-date rasters (optionally in ``raster/``, with a CSV of labelled lon/lat points next to it),
  the IGARSS 2019 Victoria CSV folder, an eo-learn NDVI EOPatch, a ``sits`` tibble (``.rda``/``.rds``), a sample
  table (``.csv``/``.parquet``), a saved cube (``.zarr``/``.nc``) or a **dataset description** (``.yaml``: what
  the files' names do not say, see :mod:`sitsbench.data.description`).

The result, :class:`LoadedDataset`, holds the cube (georeferenced for rasters) and/or the labelled samples
(with the dataset's predefined split when it has one), the dataset's name, its content checksum (SHA-256 over
the files' relative paths and bytes, or over the synthetic configuration) and the manifest that the files were
verified against. An unrecognised path gets an error listing the layouts that were looked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

LAYOUTS = {
    "raster folder": "per-date rasters (*.tif, *.jp2, ...) with the date in the file name, in the folder or in "
                     "its raster/ subfolder; labelled points beside them (a CSV with longitude/latitude/label, or a "
                     "GeoPackage/GeoJSON of points) are optional",
    "victoria": "train_dataset.csv + test_dataset.csv + class_map.txt (IGARSS 2019 tutorial)",
    "eolearn": "an EOPatch folder with timestamps.json, data/NDVI.npy, mask/ and mask_timeless/LULC.npy",
    "sits": "a sits sample tibble saved from R (.rda, .rdata or .rds)",
    "table": "a sample table (.csv or .parquet): label column + band_date columns, or long format",
    "cube": "a cube saved by sitsbench (.zarr folder or .nc file)",
    "breizhcrops": "BreizhCrops: classmapping.csv + <year>/<L1C|L2A>/<region>.csv/.h5 (every region found, "
                   "official split frh01-03 train / frh04 test)",
    "timesen2crop": "TimeSen2Crop: one folder per tile holding dates.csv and one folder per class of pixel CSVs",
    "pixelset": "S2-Agri Pixel-Set: DATA/<id>.npy + META/labels.json, dates.json (PSE-TAE's 20 classes)",
    "pastis-r pixelset": "PASTIS-R pixel sets: metadata_parcel.csv + DATA_S2/S2_<parcel>.npy (rotation 1 split)",
    "description": "a dataset description file (.yaml/.yml) naming the rasters' bands, layer order and dates, a "
                   "sample table's columns or labelled points (schema: sitsbench.data.description)",
    "pastis": "PASTIS / PASTIS-R patches: metadata.geojson + DATA_S2/ + ANNOTATIONS/ (one cube per patch; read "
              "them with sitsbench.data.readers.pastis.read_pastis: the chapters do not run on patch sets yet)",
}
HASH_LIMIT_BYTES = 2 * 1024**3
"""Folders larger than this are identified by a hash of their file names and sizes instead of their bytes."""


class UnknownLayoutError(ValueError):
    """A path whose content matches none of :data:`LAYOUTS`."""


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

    @property
    def labelled(self) -> xr.Dataset:
        """The labelled data the chapters train on: the samples when there are any, else the cube."""
        return self.samples if self.samples is not None else self.cube

    @property
    def kind(self) -> str:
        return "+".join(k for k, v in (("cube", self.cube), ("samples", self.samples)) if v is not None)

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
        return out

    def describe(self) -> dict:
        """Kind, sizes, dates, bands, classes and CRS (``sitsbench data info PATH``)."""
        from sitsbench.data import georef
        from sitsbench.data import samples as S

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
            out["samples"] = S.summary(self.samples)
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


def _detect(path: Path) -> str:
    from sitsbench.data import description

    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".rda", ".rdata", ".rds"):
            return "sits"
        if suffix in (".csv", ".parquet", ".pq"):
            return "table"
        if suffix in (".nc", ".nc4", ".h5"):
            return "cube"
        if suffix in description.SUFFIXES:
            return "description"
    elif path.is_dir():
        if path.suffix == ".zarr":
            return "cube"
        if (path / "class_map.txt").is_file() and (path / "train_dataset.csv").is_file():
            return "victoria"
        if (path / "timestamps.json").is_file() and (path / "data" / "NDVI.npy").is_file():
            return "eolearn"
        if _raster_dir(path) is not None:
            return "raster folder"
        if (path / "classmapping.csv").is_file() and any(path.glob("*/*/*.h5")):
            return "breizhcrops"
        if (path / "metadata_parcel.csv").is_file() and (path / "DATA_S2").is_dir():
            return "pastis-r pixelset"
        if (path / "metadata.geojson").is_file() and (path / "DATA_S2").is_dir():
            return "pastis"
        if (path / "DATA").is_dir() and (path / "META" / "labels.json").is_file():
            return "pixelset"
        if any((tile / "dates.csv").is_file() for tile in path.iterdir() if tile.is_dir()):
            return "timesen2crop"
    else:
        raise FileNotFoundError(f"dataset path {path} does not exist")
    looked = "\n".join(f"  - {name}: {text}" for name, text in LAYOUTS.items())
    raise UnknownLayoutError(f"{path}: unrecognised dataset layout; looked for:\n{looked}")


def _read(path: Path, layout: str) -> LoadedDataset:
    name = path.stem if path.is_file() else path.name
    loaded = LoadedDataset(name, layout, source=str(path))
    if layout == "sits":
        from sitsbench.data.readers.sits import read_sits_samples

        loaded.samples = read_sits_samples(path)
    elif layout == "table":
        from sitsbench.data.readers.tables import read_sample_table

        loaded.samples = read_sample_table(path)
    elif layout == "description":
        from sitsbench.data.description import read_description

        return read_description(path)
    elif layout == "cube":
        from sitsbench.data.io import open_cube

        loaded.cube = open_cube(path)
    elif layout == "victoria":
        from sitsbench.data.readers.victoria import read_victoria

        loaded.samples = read_victoria(path)
        loaded.notes.append(loaded.samples.attrs["dates"])
    elif layout == "eolearn":
        from sitsbench.data.readers.eolearn import read_eolearn_ndvi

        loaded.cube = read_eolearn_ndvi(path)
    elif layout == "breizhcrops":
        from sitsbench.data.readers.breizhcrops import read_breizhcrops

        levels = sorted({p.parent.name for p in path.glob("*/*/*.h5")})
        level = "L2A" if "L2A" in levels else levels[0]
        regions = sorted({p.stem for p in path.glob(f"*/{level}/*.h5")})
        loaded.samples = read_breizhcrops(path, level=level, regions=regions)
        loaded.notes.append(f"BreizhCrops {level}, regions {regions}")
    elif layout == "timesen2crop":
        from sitsbench.data.readers.timesen2crop import read_timesen2crop

        tiles = sorted(t.name for t in path.iterdir() if (t / "dates.csv").is_file())
        loaded.samples = read_timesen2crop(path, tiles)
        loaded.notes.append(f"TimeSen2Crop tiles {tiles}; no parcel ids: one group per pixel, hold out whole tiles")
    elif layout == "pixelset":
        from sitsbench.data.readers.pixelset import PSETAE_SUB_CLASSES, read_pixelset

        loaded.samples = read_pixelset(path, sub_classes=PSETAE_SUB_CLASSES)
        loaded.notes.append("PSE-TAE protocol: the 20 sub-classes of label_44class")
    elif layout == "pastis-r pixelset":
        from sitsbench.data.readers.pastis_r_pixelset import read_pastis_r_pixelset

        loaded.samples = read_pastis_r_pixelset(path, rotation=0)
        loaded.notes.append("official rotation 1: folds 1-3 train, 4 val, 5 test")
    elif layout == "pastis":
        raise UnknownLayoutError(f"{path}: {LAYOUTS['pastis']}")
    elif layout == "raster folder":
        from sitsbench.data.readers.points import read_points
        from sitsbench.data.readers.rasters import read_raster_folder
        from sitsbench.data.samples import samples_from_cube

        loaded.cube = read_raster_folder(_raster_dir(path))
        points = _points_file(path)
        if points is not None:
            table = read_points(points)
            loaded.samples = samples_from_cube(loaded.cube, table, x="x", y="y", crs=table.attrs["crs"])
            loaded.notes.append(f"{len(table)} labelled points from {points.name} placed on the cube")
    return loaded


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
    layout = _detect(path)
    loaded = _read(path, layout)
    loaded.checksum = loaded.checksum or content_checksum(path)  # a description hashes the files it names
    loaded.manifest = manifest_name or _verified_manifest(path, loaded.checksum if path.is_file() else None)
    if loaded.manifest:
        loaded.name = loaded.manifest
    return loaded


def require_samples(loaded: LoadedDataset) -> xr.Dataset:
    """The labelled samples of ``loaded``; a cube with labels is turned into samples (every labelled pixel)."""
    from sitsbench.data.samples import samples_from_cube

    if loaded.samples is not None:
        return loaded.samples
    labels = np.asarray(loaded.cube["class"].values)
    if not (labels >= 0).any():
        raise ValueError(f"dataset {loaded.name!r} ({loaded.source}) has no labelled sample")
    return samples_from_cube(loaded.cube)
