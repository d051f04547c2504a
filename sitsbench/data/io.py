"""Save and open cubes on disk (zarr directories or NetCDF files), lazily by default.

On disk, ``valid``/``change`` are stored as uint8 and list attributes as JSON strings, which every
backend supports; :func:`open_cube` restores the in-memory convention (including the ``spatial_ref``
coordinate of a georeferenced cube) and validates the cube.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.atomic import written
from sitsbench.data import cube as cube_format
from sitsbench.data.georef import SPATIAL_REF

_LIST_ATTRS = ("class_names",)


def _engine(path: Path) -> str:
    if path.suffix == ".zarr":
        return "zarr"
    if path.suffix in (".nc", ".nc4", ".h5"):
        return "h5netcdf"
    if (path / "metadata.geojson").is_file() and (path / "DATA_S2").is_dir():
        raise ValueError(f"{path}: a PASTIS patch set holds one cube per patch, each with its own dates, not one "
                         "cube; read a patch with sitsbench.data.readers.pastis.PatchCollection(path).patch(ID) "
                         "and save it with sitsbench.data.io.save_cube to map it")
    raise ValueError(
        f"{path}: unknown cube format; use a '.zarr' directory, a '.nc' file, a folder of per-date rasters or a "
        "raster stack with its dates file"
    )


EVERY_CHUNK = "sitsbench_every_chunk_written"
"""Attribute of a zarr cube written by :func:`save_cube`, which writes every chunk: a missing chunk is then damage."""


def _encode(cube: xr.Dataset) -> xr.Dataset:
    encoded = cube.copy()
    encoded[cube_format.VALID] = encoded[cube_format.VALID].astype("uint8")
    encoded.attrs = {k: json.dumps(v) if k in _LIST_ATTRS else v for k, v in cube.attrs.items()}
    encoded.attrs.pop(EVERY_CHUNK, None)
    return encoded


def _is_cube_file(path: Path) -> bool:
    """True when ``path`` holds a cube written by :func:`save_cube` (a zarr group with a ``reflectance`` array, or
    a NetCDF/HDF5 file with one)."""
    if path.is_dir():
        return (path / ".zgroup").is_file() and (path / cube_format.REFLECTANCE).is_dir()
    try:
        with xr.open_dataset(path, engine=_engine(path)) as existing:
            return cube_format.REFLECTANCE in existing
    except Exception:  # not readable as a cube: not one of ours
        return False


def save_cube(cube: xr.Dataset, path: str | Path, chunks: int | None = None, overwrite: bool = False) -> Path:
    """Write ``cube`` to ``path`` (``.zarr`` or ``.nc``); dask-backed cubes are written chunk by chunk.

    The cube is written under a temporary name and renamed into place, so an interrupted write leaves any previous
    file intact. An existing cube at ``path`` is replaced; anything else there (a folder of other files, another
    kind of file) is refused unless ``overwrite=True``.
    """
    path = Path(path)
    engine = _engine(path)
    if path.exists() and not overwrite and not _is_cube_file(path):
        kind = "folder" if path.is_dir() else "file"
        raise FileExistsError(f"{path} is an existing {kind} that is not a sitsbench cube: refusing to replace it "
                              "(choose another path, or overwrite explicitly)")
    encoded = _encode(cube)
    if chunks:
        encoded = encoded.chunk({cube_format.Y: chunks, cube_format.X: chunks})
    with written(path, directory=engine == "zarr") as tmp:
        if engine == "zarr":
            # every chunk is written, even one equal to the fill value: a missing chunk then means damage
            encoded.attrs[EVERY_CHUNK] = 1
            encoded.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True, write_empty_chunks=True)
        else:
            encoded.to_netcdf(tmp, engine=engine)
    return path


def _raster_source(path: Path) -> bool:
    from sitsbench.data.description import SUFFIXES
    from sitsbench.data.readers.rasters import RASTER_SUFFIXES, raster_files

    if path.is_file():
        return path.suffix.lower() in (*RASTER_SUFFIXES, *SUFFIXES)  # a description file names rasters
    return path.suffix != ".zarr" and any(d.is_dir() and raster_files(d) for d in (path, path / "raster"))


def _open_rasters(path: Path, chunks) -> xr.Dataset:
    """A folder of per-date rasters (or its ``raster/`` sub-folder), one stack with a dates file beside it, or the
    rasters of a dataset description file (:mod:`sitsbench.data.description`)."""
    from sitsbench.data.description import SUFFIXES, read_description_cube
    from sitsbench.data.readers.rasters import raster_files, read_raster_folder, read_raster_stack

    chunks = "auto" if chunks == {} else chunks
    if path.suffix.lower() in SUFFIXES:
        return read_description_cube(path, chunks=chunks)
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


FULL_CHECK_BYTES = 512 * 2**20
"""Lazy cubes up to this size (reflectance bytes) have every value checked on opening; larger ones a sample."""
SAMPLED_WINDOWS = 16


def missing_chunks(path: str | Path) -> dict[str, int]:
    """``{variable: number of missing chunks}`` of the reflectance and mask of a zarr cube (empty when complete).

    :func:`save_cube` writes every chunk (and says so, :data:`EVERY_CHUNK`), so a missing one of its cubes was deleted
    or never written; zarr would silently read it as fill values. Other writers (xarray's and zarr's default) skip a
    chunk equal to the fill value: there a missing chunk whose fill value means "no observation" (``valid`` 0 =
    not clear, reflectance NaN) is what was written, and reads as such; any other missing chunk is reported."""
    import zarr

    group = zarr.open_group(str(path), mode="r")
    every_chunk = bool(group.attrs.get(EVERY_CHUNK))
    out = {}
    for name in (cube_format.REFLECTANCE, cube_format.VALID):
        if name in group:
            array = group[name]
            if not every_chunk and _means_no_observation(name, array.fill_value):
                continue
            missing = array.nchunks - array.nchunks_initialized
            if missing:
                out[name] = int(missing)
    return out


def _means_no_observation(name: str, fill_value) -> bool:
    """True when zarr's ``fill_value`` of variable ``name`` reads as "no clear observation" (``None`` is zarr's
    default, zero)."""
    if name == cube_format.VALID:
        return fill_value is None or not bool(fill_value)
    return fill_value is not None and bool(np.isnan(fill_value))


def _check_lazy_values(cube: xr.Dataset, path: Path, labels: bool = True) -> None:
    """The value checks of :func:`~sitsbench.data.cube.validate_cube` (NaN under a clear mask, label range): on the
    whole cube when it is up to :data:`FULL_CHECK_BYTES`, streamed chunk by chunk (one at a time: memory stays that
    of a chunk); on larger cubes on :data:`SAMPLED_WINDOWS` chunk-sized windows spread over the cube, a cost that
    does not grow with the cube (the map inference checks every window it reads)."""
    import dask

    n_bytes = cube[cube_format.REFLECTANCE].size * cube[cube_format.REFLECTANCE].dtype.itemsize
    try:
        with dask.config.set(scheduler="synchronous"):
            if n_bytes <= FULL_CHECK_BYTES:
                cube_format.validate_cube(cube, check_values=True, labels=labels)
                return
            height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
            chunks = cube[cube_format.REFLECTANCE].chunksizes
            side = max(1, min(chunks[cube_format.Y][0] if cube_format.Y in chunks else 64, chunks[cube_format.X][0] if cube_format.X in chunks else 64,
                              height, width))
            for k in range(SAMPLED_WINDOWS):
                y0 = k * 7919 % max(1, height - side + 1)
                x0 = k * 104729 % max(1, width - side + 1)
                window = cube.isel({cube_format.Y: slice(y0, y0 + side), cube_format.X: slice(x0, x0 + side)})
                read = [cube_format.REFLECTANCE, cube_format.VALID, cube_format.CLASS, cube_format.PARCEL] if labels else [cube_format.REFLECTANCE, cube_format.VALID]
                cube_format.validate_cube(window[read].compute(), check_values=True, labels=labels)
    except cube_format.CubeValidationError:
        raise
    except Exception as error:  # decompression and I/O errors of damaged chunk files
        raise ValueError(f"cube {path}: cannot read its values ({type(error).__name__}: {error}); a damaged or "
                         "truncated chunk file?") from error


def open_cube(path: str | Path, chunks: int | dict | None = "auto", validate: bool = True,
              labels: bool = True) -> xr.Dataset:
    """Open a cube written by :func:`save_cube` (``.zarr``/``.nc``), or read rasters as a georeferenced cube: a
    folder of per-date rasters, or a single stack with ``<name>.dates.txt`` beside it
    (:mod:`sitsbench.data.readers.rasters`). Dask-backed (lazy) unless ``chunks=None``.

    ``validate`` checks the convention (:func:`~sitsbench.data.cube.validate_cube`), that no zarr chunk is missing,
    and the values: all of them for cubes up to :data:`FULL_CHECK_BYTES`, a sample of windows for larger lazy cubes.
    ``labels=False`` validates only what a map reads (see :func:`~sitsbench.data.cube.validate_cube`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cube {path} does not exist")
    if _raster_source(path):
        cube = _open_rasters(path, chunks)
        if validate:
            cube_format.validate_cube(cube, check_values=False, labels=labels)
            _check_lazy_values(cube, path, labels)
        return cube
    engine = _engine(path)
    if validate and engine == "zarr":
        missing = missing_chunks(path)
        if missing:
            raise ValueError(f"cube {path}: chunks missing on disk ({missing}); zarr would read them as fill values "
                             "(a deleted or never written chunk): restore or rewrite the cube")
    try:
        cube = xr.open_dataset(path, engine=engine, chunks=chunks)
    except Exception as error:  # the backends raise many types for a damaged file
        raise ValueError(f"cannot read cube {path} with {engine}: {error}") from error
    cube[cube_format.VALID] = cube[cube_format.VALID].astype(bool)
    if SPATIAL_REF in cube.data_vars:  # the CRS is a coordinate (rioxarray's convention), whatever the backend kept
        cube = cube.set_coords(SPATIAL_REF)
    for key in _LIST_ATTRS:
        if isinstance(cube.attrs.get(key), str):
            cube.attrs[key] = json.loads(cube.attrs[key])
    cube.attrs.pop(EVERY_CHUNK, None)
    if cube.attrs.get("source") not in (None, str(path)):  # errors name the file; where it came from is kept
        cube.attrs["origin"] = cube.attrs["source"]
    cube.attrs["source"] = str(path)
    if validate:
        cube_format.validate_cube(cube, check_values=False, labels=labels)
        _check_lazy_values(cube, path, labels)
    return cube
