"""Save and open cubes on disk (zarr directories or NetCDF files), lazily by default.

On disk, ``valid``/``change`` are stored as uint8 and list attributes as JSON strings, which every
backend supports; :func:`open_cube` restores the in-memory convention (including the ``spatial_ref``
coordinate of a georeferenced cube) and validates the cube.
"""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from sitsbench.data import cube as C
from sitsbench.data.georef import SPATIAL_REF

_LIST_ATTRS = ("class_names",)


def _engine(path: Path) -> str:
    if path.suffix == ".zarr":
        return "zarr"
    if path.suffix in (".nc", ".nc4", ".h5"):
        return "h5netcdf"
    raise ValueError(
        f"{path}: unknown cube format; use a '.zarr' directory, a '.nc' file, a folder of per-date rasters or a "
        "raster stack with its dates file"
    )


def _encode(cube: xr.Dataset) -> xr.Dataset:
    encoded = cube.copy()
    encoded[C.VALID] = encoded[C.VALID].astype("uint8")
    encoded.attrs = {k: json.dumps(v) if k in _LIST_ATTRS else v for k, v in cube.attrs.items()}
    return encoded


def save_cube(cube: xr.Dataset, path: str | Path, chunks: int | None = None) -> Path:
    """Write ``cube`` to ``path`` (``.zarr`` or ``.nc``); dask-backed cubes are written chunk by chunk."""
    path = Path(path)
    encoded = _encode(cube)
    if chunks:
        encoded = encoded.chunk({C.Y: chunks, C.X: chunks})
    engine = _engine(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine == "zarr":
        # every chunk is written, even one equal to the fill value: a missing chunk then means damage
        encoded.to_zarr(path, mode="w", zarr_format=2, consolidated=True, write_empty_chunks=True)
    else:
        encoded.to_netcdf(path, engine=engine)
    return path


def _raster_source(path: Path) -> bool:
    from sitsbench.data.readers.rasters import RASTER_SUFFIXES, raster_files

    if path.is_file():
        return path.suffix.lower() in RASTER_SUFFIXES
    return path.suffix != ".zarr" and any(d.is_dir() and raster_files(d) for d in (path, path / "raster"))


def _open_rasters(path: Path, chunks) -> xr.Dataset:
    """A folder of per-date rasters (or its ``raster/`` sub-folder), or one stack with a dates file beside it."""
    from sitsbench.data.readers.rasters import raster_files, read_raster_folder, read_raster_stack

    chunks = "auto" if chunks == {} else chunks
    if path.is_dir():
        return read_raster_folder(path if raster_files(path) else path / "raster", chunks=chunks)
    sidecars = (path.with_name(f"{path.stem}.dates.txt"), path.parent / "dates.txt")
    dates = next((p for p in sidecars if p.is_file()), None)
    if dates is None:
        raise ValueError(
            f"{path}: a single raster holds a stack of dates, which the file does not name: write them in "
            f"{sidecars[0].name} (one ISO date per line, date-major layers) or pass a folder of per-date rasters"
        )
    return read_raster_stack(path, dates, chunks=chunks)


def open_cube(path: str | Path, chunks: int | dict | None = "auto", validate: bool = True) -> xr.Dataset:
    """Open a cube written by :func:`save_cube` (``.zarr``/``.nc``), or read rasters as a georeferenced cube: a
    folder of per-date rasters, or a single stack with ``<name>.dates.txt`` beside it
    (:mod:`sitsbench.data.readers.rasters`). Dask-backed (lazy) unless ``chunks=None``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cube {path} does not exist")
    if _raster_source(path):
        cube = _open_rasters(path, chunks)
        return C.validate_cube(cube.load(), check_values=True) if chunks is None else cube
    engine = _engine(path)
    try:
        cube = xr.open_dataset(path, engine=engine, chunks=chunks)
    except Exception as error:  # the backends raise many types for a damaged file
        raise ValueError(f"cannot read cube {path} with {engine}: {error}") from error
    cube[C.VALID] = cube[C.VALID].astype(bool)
    if SPATIAL_REF in cube.data_vars:  # the CRS is a coordinate (rioxarray's convention), whatever the backend kept
        cube = cube.set_coords(SPATIAL_REF)
    for key in _LIST_ATTRS:
        if isinstance(cube.attrs.get(key), str):
            cube.attrs[key] = json.loads(cube.attrs[key])
    cube.attrs.setdefault("source", str(path))
    if validate:
        C.validate_cube(cube, check_values=chunks is None)
    return cube
