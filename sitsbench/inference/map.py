"""Chunked land-cover mapping of cubes larger than memory (``sitsbench predict-map``).

The cube (a zarr/NetCDF cube, a folder of per-date rasters or a raster stack, opened lazily; or a dataset) is
read one square window at a time; each window's pixels are prepared exactly as the model's training samples were
(:class:`~sitsbench.inference.model_folder.MapModel`: bands by name, the date policy, normalisation), classified,
and the layers (class, confidence, optionally per-class probabilities and an uncertainty) are written to a zarr
**work store** at the same place. Memory depends on the window size, not on the cube size.

Guards, each a clear error naming the cube and the model rather than a silently wrong map: the cube's dimensions
are validated; a zarr cube with missing chunks is refused (a deleted chunk would read as fill values); bands are
matched by name (reordered when all are present); the cube's dates must pass the model's date policy; the clear
pixels of windows spread over the cube must look like the training data's spectra (the model's spectral fingerprint:
permuted, mislabelled or foreign bands); every window is checked for NaN under a clear mask and for values outside
the training range (another unit). Every output file (each layer's GeoTIFF, or the zarr store) is checked before
anything is written: an existing one is only replaced with ``overwrite=True``.

The work store keeps a ``done`` flag per window, set only after the window's results are written, and a
**fingerprint** of the cube, the model, the window size and the layers: an interrupted run resumes where it stopped
and produces the same map, and a run with anything else refuses to continue (or to return an existing map) unless
``overwrite=True``. When every window is done, the work store becomes the output: renamed to a ``.zarr`` output
(with the cube's ``x``/``y``/``spatial_ref``), or converted to cloud-optimised GeoTIFFs (tiled, deflate, the
cube's CRS and transform; one file per layer) written under temporary names and renamed into place.
With a ``dask.distributed`` scheduler address the windows run on the cluster's workers (each reads its window from
the cube file and writes its own zarr chunks, so no two workers touch the same bytes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from tqdm import tqdm

from sitsbench.atomic import exclusive, remove_stale_temporaries, replace_path, written
from sitsbench.data import cube as cube_format
from sitsbench.data import georef
from sitsbench.data.io import open_cube
from sitsbench.data.normalize import SPECTRAL_SAMPLE
from sitsbench.data.windows import window_grid, window_series, window_slices, window_source
from sitsbench.inference.dates import DatePlan
from sitsbench.inference.model_folder import MapModel

NODATA_CLASS = -1
TIF_NODATA_CLASS = 255
UNCERTAINTIES = ("entropy", "margin")
GEOTIFF_SUFFIXES = (".tif", ".tiff")
FINGERPRINT_TAG = "SITSBENCH_FINGERPRINT"
LAYERS = ("class", "confidence", "uncertainty", "probability")
SPECTRAL_WINDOWS = 16
"""Windows spread over a cube whose pooled clear pixels are compared with the model's spectral fingerprint."""


class MapOutputError(ValueError):
    """An output that belongs to another run (cube, model or options), or a layout that cannot be resumed."""


def _file_stats(path: Path) -> list:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(p.relative_to(path) if p != path else p.name), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def cube_fingerprint(cube: xr.Dataset, path: Path | None) -> str:
    """SHA-256 of the cube's grid, dates and bands, plus its files' names, sizes and modification times (a path)
    or its values (an in-memory cube)."""
    digest = hashlib.sha256()
    for name in (cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X):
        digest.update(np.asarray(cube[name].values).astype(str).tobytes())
    if georef.has_crs(cube):
        digest.update(str(cube[georef.SPATIAL_REF].attrs.get("crs_wkt")).encode())
    if path is not None:
        digest.update(json.dumps([str(path.resolve()), _file_stats(path)]).encode())
    elif not any(cube[v].chunks for v in (cube_format.REFLECTANCE, cube_format.VALID)):
        for name in (cube_format.REFLECTANCE, cube_format.VALID):
            digest.update(np.ascontiguousarray(cube[name].values).tobytes())
    else:
        digest.update(str(cube.attrs.get("source", "")).encode())
    return digest.hexdigest()


def _layers(model: MapModel, probabilities: bool, uncertainty: str | None) -> dict[str, tuple]:
    if uncertainty is not None and uncertainty not in UNCERTAINTIES:
        raise ValueError(f"uncertainty must be one of {UNCERTAINTIES}, got {uncertainty!r}")
    layers = {"class": ("int16", NODATA_CLASS), "confidence": ("float32", np.nan)}
    if uncertainty:
        layers["uncertainty"] = ("float32", np.nan)
    if probabilities:
        layers["probability"] = ("float32", np.nan)
    return layers


def _work_path(output: Path) -> Path:
    return output.with_name(f"{output.name}.partial.zarr")


def _create_store(path: Path, cube: xr.Dataset, chunk: int, attrs: dict, layers: dict, n_classes: int) -> zarr.Group:
    height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.attrs.update(attrs)
    coordinates = georef.SPATIAL_REF if georef.has_crs(cube) else None
    for name, (dtype, fill) in layers.items():
        per_class = name == "probability"
        shape = (n_classes, height, width) if per_class else (height, width)
        chunks = (n_classes, chunk, chunk) if per_class else (chunk, chunk)
        array = group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill)
        array.attrs["_ARRAY_DIMENSIONS"] = ["class", "y", "x"] if per_class else ["y", "x"]
        if coordinates:
            array.attrs["coordinates"] = coordinates
    n_cy, n_cx = -(-height // chunk), -(-width // chunk)
    done = group.create_array("done", shape=(n_cy, n_cx), chunks=(1, 1), dtype="bool", fill_value=False)
    done.attrs["_ARRAY_DIMENSIONS"] = ["window_y", "window_x"]
    for axis in (cube_format.Y, cube_format.X):
        values = np.asarray(cube[axis].values, dtype=np.float64)
        array = group.create_array(axis, shape=values.shape, chunks=values.shape, dtype="float64")
        array[:] = values
        array.attrs["_ARRAY_DIMENSIONS"] = [axis]
    if coordinates:
        ref = group.create_array(georef.SPATIAL_REF, shape=(), dtype="int64", fill_value=0)
        ref.attrs.update({**cube[georef.SPATIAL_REF].attrs, "_ARRAY_DIMENSIONS": []})
    return group


def _open_work_store(path: Path, cube, chunk, attrs, layers, n_classes, overwrite) -> zarr.Group:
    if path.exists():
        try:
            found = zarr.open_group(str(path), mode="r+").attrs.get("fingerprint")
        except Exception as error:  # zarr raises several types for a damaged store
            raise MapOutputError(f"{path}: unreadable partial map ({error}); pass --overwrite to start again") from error
        if found == attrs["fingerprint"]:
            return zarr.open_group(str(path), mode="r+")
        if not overwrite:
            raise MapOutputError(
                f"{path} holds a partial map made from another cube, model or options (fingerprint {str(found)[:12]}, "
                f"this run {attrs['fingerprint'][:12]}); pass --overwrite to discard it, or choose another --output"
            )
        shutil.rmtree(path)
    return _create_store(path, cube, chunk, attrs, layers, n_classes)


def classify_window(values: np.ndarray, valid: np.ndarray, model: MapModel, plan: DatePlan, order: np.ndarray,
                    where: str, layers: dict | None = None, uncertainty: str | None = None) -> dict[str, np.ndarray]:
    """The layers of a window's reflectance ``(T, C, h, w)`` and clear mask ``(T, h, w)`` (``(h, w)`` layers,
    ``probability`` ``(K, h, w)``); pixels never seen clear get no class (``-1``) and NaN elsewhere."""
    layers = layers or _layers(model, False, uncertainty)
    height, width = valid.shape[1:]
    values, valid = window_series(values, valid, order=order)  # (N, T, C), (N, T)
    model.check_values(values, valid, where)
    x, mask = model.inputs(values, valid, plan)
    observed = valid.any(axis=1)
    proba = model.predict_proba(x[observed], plan.doy, mask[observed])
    n = height * width
    out = {"class": np.full(n, NODATA_CLASS, dtype=np.int16), "confidence": np.full(n, np.nan, dtype=np.float32)}
    out["class"][observed] = proba.argmax(axis=1)
    out["confidence"][observed] = proba.max(axis=1)
    if "uncertainty" in layers:
        out["uncertainty"] = np.full(n, np.nan, dtype=np.float32)
        if uncertainty == "entropy":  # normalised to [0, 1]
            safe = np.clip(proba, 1e-12, 1.0)
            value = -(proba * np.log(safe)).sum(axis=1) / np.log(max(proba.shape[1], 2))
        else:  # 1 - (best - second best): 0 = decided, 1 = a tie
            top = np.sort(proba, axis=1)[:, ::-1]
            value = 1.0 - (top[:, 0] - (top[:, 1] if proba.shape[1] > 1 else 0.0))
        out["uncertainty"][observed] = value
    result = {name: array.reshape(height, width) for name, array in out.items()}
    if "probability" in layers:
        full = np.full((n, proba.shape[1]), np.nan, dtype=np.float32)
        full[observed] = proba
        result["probability"] = full.T.reshape(proba.shape[1], height, width)
    return result


def _window_where(source, rows: slice, cols: slice, chunk: int) -> str:
    height, width = min(chunk, source.height - rows.start), min(chunk, source.width - cols.start)
    return f"cube {source.source}, window rows {rows.start}:{rows.start + height} cols {cols.start}:{cols.start + width}"


def _read_window(source, rows: slice, cols: slice, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return source.read(rows, cols)
    except Exception as error:  # decompression and I/O errors of damaged chunk files
        raise ValueError(f"{where}: cannot read the data ({type(error).__name__}: {error}); a damaged or truncated "
                         "chunk file?") from error


def _check_spectra(dataset: xr.Dataset, path: Path | None, model: MapModel, order: np.ndarray, chunk: int) -> None:
    """Refuse a cube whose spectra do not look like the model's training data (:meth:`MapModel.check_spectra`),
    judged on the clear pixels of up to :data:`SPECTRAL_WINDOWS` windows spread over the cube (each first passing the
    window checks, :meth:`MapModel.check_values`), before any window is classified."""
    if model.spectral is None:
        return
    reader = window_source(path if path is not None else dataset, opened=dataset)
    grid = window_grid(dataset.sizes[cube_format.Y], dataset.sizes[cube_format.X], chunk)
    picks = grid if len(grid) <= SPECTRAL_WINDOWS else [grid[k * len(grid) // SPECTRAL_WINDOWS]
                                                          for k in range(SPECTRAL_WINDOWS)]
    rng, share = np.random.default_rng(0), -(-SPECTRAL_SAMPLE // len(picks))
    pooled = []
    for cy, cx in picks:
        rows, cols = window_slices(cy, cx, chunk)
        where = _window_where(reader, rows, cols, chunk)
        values, valid = window_series(*_read_window(reader, rows, cols, where), order=order)
        model.check_values(values, valid, where)
        clear = values[valid]
        pooled.append(clear[rng.choice(len(clear), share, replace=False)] if len(clear) > share else clear)
    model.check_spectra(np.concatenate(pooled), f"cube {reader.source} ({len(picks)} window(s) spread over it)")


def _process_window(cube, model, plan, order, output: str, chunk: int, cy: int, cx: int, options: dict):
    source = window_source(cube) if isinstance(cube, str) else cube  # a worker of a cluster opens the path
    rows, cols = window_slices(cy, cx, chunk)
    where = _window_where(source, rows, cols, chunk)
    values, valid = _read_window(source, rows, cols, where)
    result = classify_window(values, valid, model, plan, order, where, options["layers"], options["uncertainty"])
    group = zarr.open_group(output, mode="r+")
    for name, array in result.items():
        if name == "probability":
            group[name][:, rows, cols] = array
        else:
            group[name][rows, cols] = array
    group["done"][cy, cx] = True
    return cy, cx


def _prepare(cube, model: MapModel) -> tuple[xr.Dataset, Path | None, DatePlan, np.ndarray]:
    path = Path(cube) if isinstance(cube, str | Path) else None
    if path is not None:
        # what a map reads (labels are not): dims, missing zarr chunks, values (sampled on large cubes)
        dataset = open_cube(path, chunks={}, labels=False)
    else:
        dataset = cube_format.validate_cube(cube, check_values=False, labels=False)
    source = dataset.attrs.get("source", str(path) if path else "in-memory cube")
    order = model.band_order(dataset[cube_format.BAND].values, f"cube {source}")
    plan = model.plan(dataset[cube_format.TIME].values, f"cube {source}")
    return dataset, path, plan, order


def predict_map(
    cube: xr.Dataset | str | Path,
    model: MapModel,
    output: str | Path,
    chunk: int = 256,
    scheduler: str | None = None,
    progress: bool = True,
    on_window: Callable[[int, int], None] | None = None,
    probabilities: bool = False,
    uncertainty: str | None = None,
    overwrite: bool = False,
    check_spectra: bool = True,
) -> xr.Dataset:
    """Map every pixel of ``cube`` with ``model`` into ``output`` (``.zarr`` or ``.tif``); returns the map
    (:func:`open_map`), georeferenced like the cube.

    ``cube`` is a path (opened lazily; required with ``scheduler``) or a dataset (dask-backed for big cubes).
    ``on_window(cy, cx)`` is called after each window (interrupting there leaves a resumable work store).
    ``check_spectra=False`` skips the spectral fingerprint check (for a cube the user knows to hold the model's
    bands, whose land covers differ from the training data's); the value-range check still applies.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of pixels, got {chunk}")
    output = Path(output)
    if output.suffix.lower() not in (".zarr", *GEOTIFF_SUFFIXES):
        raise ValueError(f"{output}: the map is written as a .zarr store or a .tif GeoTIFF")
    dataset, path, plan, order = _prepare(cube, model)
    layers = _layers(model, probabilities, uncertainty)
    options = {"layers": layers, "uncertainty": uncertainty}
    fingerprint = hashlib.sha256(json.dumps({
        "cube": cube_fingerprint(dataset, path), "model": model.fingerprint(), "chunk": chunk,
        "layers": sorted(layers), "uncertainty": uncertainty,
    }).encode()).hexdigest()
    source = dataset.attrs.get("source", str(path) if path else "in-memory cube")
    attrs = {"fingerprint": fingerprint, "source": source, "model": model.source, "chunk": chunk,
             "class_names": list(model.class_names), "layers": sorted(layers), "uncertainty": uncertainty}
    with exclusive(output, "map"):  # a second run on this output is refused while this one works
        for file in _output_files(output):  # what a killed earlier run was writing (the work store resumes)
            remove_stale_temporaries(file)
        if output.exists() and not overwrite:
            if _output_fingerprint(output) == fingerprint:
                return open_map(output)
            raise MapOutputError(
                f"{output} already holds a map made from another cube, model or options (or not by sitsbench): "
                "pass --overwrite to replace it, or choose another --output"
            )
        existing = [str(p) for p in _output_files(output) if p.exists()]
        if existing and not overwrite:
            raise MapOutputError(
                f"{', '.join(existing)} already exist(s): the map {output} writes (or replaces) these layer files; "
                "pass --overwrite to replace them, or choose another --output"
            )
        if check_spectra:
            _check_spectra(dataset, path, model, order, chunk)
        else:
            print(f"warning: the spectral check of {model.source} is skipped (--no-spectral-check): mislabelled or "
                  "permuted bands would go unnoticed", file=sys.stderr)
        _run_windows(dataset, path, model, plan, order, output, chunk, attrs, options, overwrite, scheduler,
                     progress, on_window)
    return open_map(output)


def _run_windows(dataset, path, model, plan, order, output, chunk, attrs, options, overwrite, scheduler, progress,
                 on_window) -> None:
    """Classify every window not done yet into the work store, then turn it into the output."""
    layers = options["layers"]
    work = _work_path(output)
    group = _open_work_store(work, dataset, chunk, attrs, layers, len(model.class_names), overwrite)
    height, width = dataset.sizes[cube_format.Y], dataset.sizes[cube_format.X]
    done = np.asarray(group["done"][:])
    todo = [(cy, cx) for cy, cx in window_grid(height, width, chunk) if not done[cy, cx]]
    bar = tqdm(total=len(todo), desc="predict-map", unit="window", disable=not progress)
    if scheduler is None:
        reader = window_source(path if path is not None else dataset, opened=dataset)
        for cy, cx in todo:
            _process_window(reader, model, plan, order, str(work), chunk, cy, cx, options)
            bar.update()
            if on_window is not None:
                on_window(cy, cx)
    else:
        if path is None:
            raise ValueError("a dask.distributed run needs the cube as a file path that every worker can read")
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = [client.submit(_process_window, str(path), model, plan, order, str(work), chunk, cy, cx, options,
                                     pure=False) for cy, cx in todo]
            for future in as_completed(futures):
                cy, cx = future.result()
                bar.update()
                if on_window is not None:
                    on_window(cy, cx)
    bar.close()
    if output.suffix == ".zarr":
        replace_path(work, output)
    else:
        write_geotiffs(work, output, dataset)
        for name, stale in layer_paths(output, LAYERS).items():  # a replaced map's layers that this run did not write
            if name not in layers:
                stale.unlink(missing_ok=True)
        shutil.rmtree(work)


def _output_files(output: Path) -> list[Path]:
    """Every file a map at ``output`` writes or replaces: the ``.zarr`` store, or every layer's GeoTIFF (those of
    layers this run does not write are removed, as a replaced map's stale layers)."""
    return [output] if output.suffix == ".zarr" else list(layer_paths(output, LAYERS).values())


def layer_paths(output: str | Path, layers) -> dict[str, Path]:
    """GeoTIFF file of each layer: the class map at ``output``, the others beside it (``map.confidence.tif``)."""
    output = Path(output)
    return {name: output if name == "class" else output.with_name(f"{output.stem}.{name}{output.suffix}")
            for name in layers}


def write_geotiffs(store: str | Path, output: str | Path, cube: xr.Dataset) -> dict[str, Path]:
    """Convert a complete work store into cloud-optimised GeoTIFFs with the cube's CRS and transform, window by
    window (bounded memory); each file is written under a temporary name and renamed into place."""
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.windows import Window

    group = zarr.open_group(str(store), mode="r")
    names = list(group.attrs["class_names"])
    chunk = int(group.attrs["chunk"])
    height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
    crs = georef.crs_of(cube).to_wkt() if georef.has_crs(cube) else None
    transform = georef.transform_of(cube) if georef.has_crs(cube) else Affine.identity()
    small = len(names) < TIF_NODATA_CLASS
    paths = layer_paths(output, group.attrs["layers"])
    for name, path in paths.items():
        array = group[name]
        count = array.shape[0] if name == "probability" else 1
        if name == "class":
            dtype, nodata = ("uint8", TIF_NODATA_CLASS) if small else ("int16", NODATA_CLASS)
        else:
            dtype, nodata = "float32", np.nan
        strip = path.with_name(f".{path.name}.strip.tmp{path.suffix}")  # a temporary: remove_stale_temporaries
        profile = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype,
                   "nodata": nodata, "crs": crs, "transform": transform, "tiled": True, "blockxsize": 256,
                   "blockysize": 256, "compress": "deflate"}
        try:
            with rasterio.open(strip, "w", **profile) as dst:
                for cy, cx in window_grid(height, width, chunk):
                    rows, cols = window_slices(cy, cx, chunk)
                    block = array[:, rows, cols] if count > 1 else array[rows, cols][None]
                    if name == "class":
                        block = np.where(block < 0, nodata, block).astype(dtype)
                    window = Window(cols.start, rows.start, block.shape[2], block.shape[1])
                    dst.write(block, window=window)
                dst.update_tags(**{FINGERPRINT_TAG: group.attrs["fingerprint"], "layer": name,
                                   "class_names": json.dumps(names),
                                   "layers": json.dumps(sorted(paths)), "model": str(group.attrs["model"]),
                                   "cube": str(group.attrs["source"])})
                if name == "probability":
                    for band, class_name in enumerate(names, start=1):
                        dst.set_band_description(band, f"P({class_name})")
                else:
                    dst.set_band_description(1, name)
                if name == "class" and small:
                    dst.write_colormap(1, _colormap(len(names)))
            with written(path) as final:
                rasterio.shutil.copy(strip, final, driver="COG", compress="DEFLATE", blocksize=256)
        finally:
            strip.unlink(missing_ok=True)
    return paths


def _colormap(n_classes: int) -> dict[int, tuple[int, int, int, int]]:
    from matplotlib import colormaps

    table = colormaps["tab20"]
    return {k: tuple(int(255 * v) for v in table(k % 20)) for k in range(n_classes)}


def _output_fingerprint(output: Path) -> str | None:
    """The fingerprint recorded in an existing map (``None`` when it has none or cannot be read)."""
    try:
        if output.suffix == ".zarr":
            return zarr.open_group(str(output), mode="r").attrs.get("fingerprint")
        import rasterio

        with rasterio.open(output) as src:
            return src.tags().get(FINGERPRINT_TAG)
    except Exception:  # not a map of ours (or damaged): no fingerprint
        return None


def open_map(path: str | Path) -> xr.Dataset:
    """Open a map written by :func:`predict_map`: a ``.zarr`` store (lazy) or the GeoTIFFs of a ``.tif`` output
    (``class`` with ``-1`` where no class), with the cube's ``x``/``y``/``spatial_ref`` when it had a CRS."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"map {path} does not exist (write one with `sitsbench predict-map`)")
    if path.suffix == ".zarr":
        try:
            result = xr.open_zarr(str(path), consolidated=False, mask_and_scale=False)
        except Exception as error:  # zarr and xarray raise several types for a foreign or damaged store
            raise MapOutputError(f"{path} is not a map written by `sitsbench predict-map` ({error})") from error
        if "class" not in result:
            raise MapOutputError(f"{path} is not a map written by `sitsbench predict-map`: no 'class' layer")
        if georef.SPATIAL_REF in result.data_vars:
            result = result.set_coords(georef.SPATIAL_REF)
        result.attrs["class_names"] = list(result.attrs.get("class_names", []))
        return result
    import rasterio
    import rioxarray

    try:
        with rasterio.open(path) as src:
            tags = src.tags()
    except rasterio.errors.RasterioIOError as error:
        raise MapOutputError(f"{path} is not a map written by `sitsbench predict-map`: not a readable GeoTIFF "
                             f"({error})") from error
    layers = {}
    for name, file in layer_paths(path, json.loads(tags.get("layers", '["class"]'))).items():
        array = rioxarray.open_rasterio(file, mask_and_scale=False)
        if name == "class":
            values = array.values[0].astype(np.int16)
            nodata = array.rio.nodata
            values[values == nodata] = NODATA_CLASS
            array = array.isel(band=0, drop=True).copy(data=values)
        elif name == "probability":
            array = array.rename(band="class")
        else:
            array = array.isel(band=0, drop=True)
        layers[name] = array
    result = xr.Dataset(layers)
    if not georef.has_crs(result) or result[georef.SPATIAL_REF].attrs.get("crs_wkt") is None:
        result = result.drop_vars(georef.SPATIAL_REF, errors="ignore")
    result.attrs.update({"class_names": json.loads(tags.get("class_names", "[]")), "fingerprint": tags.get(FINGERPRINT_TAG)})
    return result
