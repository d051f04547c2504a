"""A dataset description file (YAML): what the names and contents of your files do not say, written down once.

``load_dataset("my.yaml")`` (hence every command, every chapter's ``dataset`` parameter and sweeps) reads the
data a description points at with the existing readers (:mod:`sitsbench.data.readers.rasters`, ``tables``,
``points``; :mod:`sitsbench.data.georef` places points). ``sitsbench data describe PATH > my.yaml`` writes a
starting description from what it detects, each undecided value written ``FILL_IN``; ``sitsbench data info
my.yaml`` validates and summarises it. Paths in a description are relative to the description file.

Schema (every key is optional unless said otherwise; at least one of ``rasters`` and ``samples``)::

    name: sinop                        # the dataset's name in run records (default: the file's stem)
    layout: pastis                     # a dataset in a layout load_dataset reads (sitsbench.data.loading.READERS)
    path: PASTIS                       # ... at this path (then no rasters, points or samples)
    rasters:                           # a georeferenced cube; give exactly one of bands, files, pattern
      bands: {ndvi: ndvi.tif, evi: evi.tif}   # one file per band ...
      files: "*.tif"                   # ... or files (a glob or a list) whose layers hold dates and/or bands
      pattern: "S2_{band}_{date}.tif"  # ... or file names giving the band and the date ({date}: ISO or YYYYMMDD)
      layers: dates                    # order of the layers in each file: dates | bands | dates*bands |
                                       # bands*dates (default: dates for bands/files, bands for pattern)
      band_names: [B02, B03]           # names of the layers' bands (layers bands, dates*bands, bands*dates)
      dates: timeline.rda              # a list of dates, or a file: plain text (one per line), .csv (with
                                       # {file:, column:}), .json (a list, or {file:, key:}), .rda/.rds (an R
                                       # character or Date vector; {file:, object:} when it holds several)
      scale: 0.0001                    # value = raw * scale + offset (default "auto": index bands stored
      offset: 0.0                      # as integers x 10,000 are divided by 10,000)
      nodata: -3.4e38                  # raw value meaning "no data" (default: the files' own)
      valid_range: [-1, 1]             # scaled values outside are not valid
      crs: EPSG:4326                   # overrides the files' CRS: EPSG code, PROJ string, WKT or {file: x.prj}
      mask:                            # cloud / quality mask: `band` (a band of the rasters, then removed from
        band: scl                      # the cube) or `file` (one layer per date); clear observations are
        clear: [4, 5, 6]               # `clear` values (Sentinel-2 SCL: 4 vegetation, 5 bare soil, 6 water) or
        clear_bits: {3: 0, 4: 0}       # `clear_bits` {bit: value} (Landsat QA_PIXEL: bit 3 cloud, 4 shadow)
    points:                            # labelled points whose series are read from the rasters
      file: samples.csv                # a CSV (header line) or a vector file of points (GeoPackage, GeoJSON ...)
      columns: {label: label, id: id, x: longitude, y: latitude, start: start_date, end: end_date, group: g}
      crs: EPSG:4326                   # of x/y: EPSG code, PROJ string, WKT or {file: points.prj}
                                       # (default: EPSG:4326 for longitude/latitude, the file's for vectors)
      outside: error                   # a point off the rasters: error (default) or drop (named in the notes)
    samples:                           # a table of labelled series (one row per sample)
      file: table.csv                  # required
      header: true                     # false: columns are named by position "0", "1", ...
      columns: {label: label, group: polygon, split: fold}   # label required; split: train/val/test or 0/1/2
      values:                          # the value columns: a regular expression, their order, bands and dates
        pattern: "b\\d+"
        order: dates*bands             # date by date (dates*bands) or band by band (bands*dates)
        bands: [B02, B03]
        dates: dates.txt               # as rasters.dates
      scale: 0.0001
      classes: [Bare, Canola]          # class names in label-id order, a {id: name} mapping or a text file

Examples, one per layout: ``tests/data/descriptions/`` (per-band stacks with dates in an R file and points
with per-point dates; a headerless table; a CSV of band_date-less columns; band-major stacks with a PROJ CRS;
per-date files with an SCL mask). Every error names the description file, the key and what was expected:
an unknown key (with the closest known one), a missing file, a layer count that is not dates x bands,
unparseable dates, a ``FILL_IN`` left in.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from sitsbench.data.readers.base import DatasetFormatError, parse_iso_dates, parse_yyyymmdd

FILL_IN = "FILL_IN"
SUFFIXES = (".yaml", ".yml")
LAYER_ORDERS = ("dates", "bands", "dates*bands", "bands*dates")
KEYS = {
    "": ("name", "layout", "path", "rasters", "samples", "points"),
    "rasters": ("bands", "files", "pattern", "layers", "band_names", "dates", "scale", "offset", "nodata",
                "valid_range", "crs", "mask"),
    "rasters.mask": ("band", "file", "clear", "clear_bits"),
    "points": ("file", "columns", "crs", "outside"),
    "points.columns": ("label", "id", "x", "y", "start", "end", "group"),
    "samples": ("file", "header", "columns", "values", "scale", "classes"),
    "samples.columns": ("label", "group", "split"),
    "samples.values": ("pattern", "order", "bands", "dates"),
}


class DescriptionError(DatasetFormatError):
    """A description file that does not follow the schema (the message names the file and the key)."""


class _Description:
    """The parsed YAML with the checks every key needs; ``fail(key, what)`` raises naming both."""

    def __init__(self, path: Path):
        import yaml

        self.path = path
        try:
            self.data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise DescriptionError(f"{path}: not valid YAML: {error}") from error
        if not isinstance(self.data, dict) or not ({"rasters", "samples", "layout"} & set(self.data)):
            raise DescriptionError(f"{path}: a dataset description is a mapping with 'rasters' and/or 'samples', "
                                   f"or 'layout' and 'path' (see sitsbench.data.description)")
        self.files: list[Path] = [path]
        self._check_keys(self.data, "")

    def fail(self, key: str, what: str):
        raise DescriptionError(f"{self.path}: {key}: {what}")

    def _check_keys(self, section, prefix: str) -> None:
        for key, value in section.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if str(key) not in KEYS[prefix]:
                close = difflib.get_close_matches(str(key), KEYS[prefix], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(name, f"unknown key (expected one of {', '.join(KEYS[prefix])}){hint}")
            if value == FILL_IN:
                self.fail(name, f"still {FILL_IN}: replace it with the value (see the comment beside it)")
            if name in KEYS:
                if not isinstance(value, dict):
                    self.fail(name, f"expected a mapping of {', '.join(KEYS[name])}, got {value!r}")
                self._check_keys(value, name)

    def file(self, key: str, name) -> Path:
        """A file named in the description, relative to it; it must exist."""
        if not isinstance(name, str) or not name or name == FILL_IN:
            self.fail(key, f"expected a file name, got {name!r}")
        path = (self.path.parent / name) if not Path(name).is_absolute() else Path(name)
        if not path.is_file():
            self.fail(key, f"file {name!r} not found (looked at {path}; paths are relative to the description)")
        self.files.append(path)
        return path

    def number(self, key: str, value, default=None):
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {value!r}")
        return float(value)

    def names(self, key: str, value) -> list[str]:
        if not isinstance(value, list) or not value:
            self.fail(key, f"expected a list of names, got {value!r}")
        return [str(v) for v in value]

    def crs(self, key: str, value) -> str | None:
        """An EPSG code, PROJ string or WKT, or ``{file: ...}`` holding one; checked with pyproj."""
        from pyproj import CRS

        if value is None:
            return None
        if isinstance(value, dict):
            if set(value) != {"file"}:
                self.fail(key, f"expected a CRS string or {{file: NAME}}, got {value!r}")
            value = self.file(f"{key}.file", value["file"]).read_text().strip()
        try:
            return CRS.from_user_input(str(value)).to_wkt()
        except Exception as error:  # pyproj raises CRSError for unknown codes and unparseable strings
            self.fail(key, f"not a CRS (expected EPSG:<code>, a PROJ string or WKT): {value!r}: {error}")

    def dates(self, key: str, value) -> np.ndarray:
        """Dates from a list or a file (text, CSV column, JSON, R vector)."""
        if isinstance(value, list):
            return self._parse_dates(key, value, key)
        spec = {"file": value} if isinstance(value, str) else value
        if not isinstance(spec, dict) or "file" not in spec:
            self.fail(key, f"expected a list of dates, a file name or {{file: ..., column|key|object: ...}}, "
                           f"got {value!r}")
        extra = set(spec) - {"file", "column", "key", "object"}
        if extra:
            self.fail(key, f"unknown key(s) {sorted(extra)} (expected file, column, key or object)")
        path = self.file(f"{key}.file" if isinstance(value, dict) else key, spec["file"])
        where = f"{key} ({path.name})"
        suffix = path.suffix.lower()
        if suffix in (".rda", ".rdata", ".rds"):
            values = self._r_vector(key, path, spec.get("object"))
        elif suffix == ".json":
            try:
                values = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                self.fail(key, f"{path.name} is not valid JSON: {error}")
            if isinstance(values, dict):
                if spec.get("key") not in values:
                    self.fail(key, f"{path.name} holds a mapping: name the list with key: (one of {list(values)})")
                values = values[spec["key"]]
        elif suffix == ".csv":
            from sitsbench.data.readers.tables import read_table

            table, _ = read_table(path)
            column = spec.get("column", table.columns[0] if table.shape[1] == 1 else None)
            if column not in table.columns:
                self.fail(key, f"{path.name}: name the date column with column: (one of {list(table.columns)})")
            values = table[column].tolist()
        else:
            lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            values = lines[1:] if lines and not any(ch.isdigit() for ch in lines[0]) else lines  # a header line
        if not isinstance(values, list | np.ndarray) or len(values) == 0:
            self.fail(key, f"{path.name} holds no list of dates")
        return self._parse_dates(key, list(values), where)

    def _r_vector(self, key: str, path: Path, name):
        import rdata

        try:
            with warnings.catch_warnings():  # rdata has no constructor for R's Date class: numbers are fine
                warnings.simplefilter("ignore", UserWarning)
                read = rdata.read_rds(path) if path.suffix.lower() == ".rds" else rdata.read_rda(path)
        except Exception as error:  # rdata raises several types for a foreign file
            self.fail(key, f"{path.name} is not a readable R data file: {type(error).__name__}: {error}")
        if isinstance(read, dict):
            if name is None and len(read) != 1:
                self.fail(key, f"{path.name} holds several objects {list(read)}: name one with object:")
            if name is not None and name not in read:
                self.fail(key, f"{path.name} has no object {name!r} (it holds {list(read)})")
            read = read[name] if name is not None else next(iter(read.values()))
        values = np.asarray(read).ravel()
        if np.issubdtype(values.dtype, np.number):  # an R Date vector: days since 1970-01-01
            return [str(np.datetime64("1970-01-01", "D") + int(v)) for v in values]
        return values.tolist()

    def _parse_dates(self, key: str, values: list, where: str) -> np.ndarray:
        text = [str(v).strip() for v in values]
        try:
            if all(len(t) == 8 and t.isdigit() for t in text):
                return parse_yyyymmdd(f"{self.path}: {where}", text, "dates")
            return parse_iso_dates(text, f"{self.path}: {where}")
        except DatasetFormatError as error:
            raise DescriptionError(f"{error} (expected ISO YYYY-MM-DD or YYYYMMDD dates)") from error


def read_description(path: str | Path):
    """The dataset a description file describes, as a :class:`sitsbench.data.loading.LoadedDataset`."""
    from sitsbench.data.loading import LoadedDataset, content_checksum

    path = Path(path)
    desc = _Description(path)
    if "layout" in desc.data or "path" in desc.data:
        return _layout(desc)
    loaded = LoadedDataset(str(desc.data.get("name") or path.stem), "description", source=str(path))
    if "rasters" in desc.data:
        loaded.cube = _cube(desc, desc.data["rasters"])
        if "points" in desc.data:
            loaded.samples = _points(desc, desc.data["points"], loaded.cube, loaded.notes)
    elif "points" in desc.data:
        desc.fail("points", "points are read from rasters: describe the rasters too")
    if "samples" in desc.data:
        if loaded.samples is not None:
            desc.fail("samples", "give either points (read from the rasters) or a samples table, not both")
        loaded.samples = _table(desc, desc.data["samples"])
    digest = hashlib.sha256(path.read_bytes())
    for file in dict.fromkeys(desc.files[1:]):  # the files it names, after the description itself
        digest.update(f"{file.name}\0{content_checksum(file)}\0".encode())
    loaded.checksum = f"sha256:{digest.hexdigest()}"
    return loaded


def _layout(desc: _Description):
    """``layout`` + ``path``: the data at ``path`` read by that reader of :data:`sitsbench.data.loading.READERS`."""
    from sitsbench.data.loading import READERS, content_checksum, read_layout

    data = desc.data
    extra = sorted({"rasters", "samples", "points"} & set(data))
    if extra:
        desc.fail("layout", f"give either layout and path (a dataset in a known layout) or {extra[0]}, not both")
    for key in ("layout", "path"):
        if key not in data:
            desc.fail(key, "missing: layout names a reader of sitsbench.data.loading.READERS and path the data it "
                           "reads (relative to the description)")
    layouts = [name for name in READERS if name != "description"]
    if data["layout"] not in layouts:
        close = difflib.get_close_matches(str(data["layout"]), layouts, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        desc.fail("layout", f"unknown layout {data['layout']!r} (expected one of {', '.join(layouts)}){hint}")
    if not isinstance(data["path"], str) or not data["path"]:
        desc.fail("path", f"expected a folder or file name, got {data['path']!r}")
    target = desc.path.parent / data["path"]
    if not target.exists():
        desc.fail("path", f"{data['path']!r} not found (looked at {target}; paths are relative to the description)")
    loaded = read_layout(target, data["layout"])
    loaded.name = str(data.get("name") or desc.path.stem)
    loaded.notes.append(f"read as {data['layout']!r} through the description {desc.path.name}")
    digest = hashlib.sha256(desc.path.read_bytes())
    digest.update(f"{target.name}\0{content_checksum(target)}\0".encode())
    loaded.checksum = f"sha256:{digest.hexdigest()}"
    return loaded


def read_description_cube(path: str | Path, chunks: int | str | None = "auto"):
    """Only the cube of the rasters a description file describes (what ``predict-map`` and ``open_cube`` need)."""
    desc = _Description(Path(path))
    if "rasters" not in desc.data:
        desc.fail("rasters", "missing: this description names no rasters, so it holds no cube")
    return _cube(desc, desc.data["rasters"], chunks)


def _file_list(desc: _Description, key: str, value) -> list[Path]:
    if isinstance(value, str):
        found = sorted(p for p in desc.path.parent.glob(value) if p.is_file())
        if not found:
            desc.fail(key, f"no file matches {value!r} (relative to {desc.path.parent})")
        desc.files.extend(found)
        return found
    if not isinstance(value, list) or not value:
        desc.fail(key, f"expected a glob pattern or a list of files, got {value!r}")
    return [desc.file(f"{key}[{i}]", name) for i, name in enumerate(value)]


def _pattern_files(desc: _Description, pattern) -> list[tuple[Path, np.datetime64, str | None]]:
    if not isinstance(pattern, str) or "{date}" not in Path(pattern).name or "{" in str(Path(pattern).parent):
        desc.fail("rasters.pattern", f"expected a file name pattern holding {{date}} (and {{band}}) in the file name, "
                                     f"got {pattern!r}")
    folder = desc.path.parent / Path(pattern).parent
    parts = re.split(r"(\{date\}|\{band\})", Path(pattern).name)
    regex = "".join({"{date}": r"(?P<date>\d{4}-?\d{2}-?\d{2})", "{band}": r"(?P<band>[^/]+?)"}.get(p, re.escape(p))
                    for p in parts)
    glob = "".join("*" if p in ("{date}", "{band}") else p for p in parts)
    found = []
    for file in sorted(folder.glob(glob)):
        match = re.fullmatch(regex, file.name)
        if match and file.is_file():
            date = desc._parse_dates("rasters.pattern", [match["date"].replace("-", "")], f"file {file.name}")[0]
            found.append((file, date, match.groupdict().get("band")))
    if not found:
        desc.fail("rasters.pattern", f"no file matches {pattern!r} (in {folder})")
    desc.files.extend(f for f, _, _ in found)
    return found


def _layer_count(path: Path) -> int:
    import rasterio

    try:
        with rasterio.open(path) as source:
            return source.count
    except Exception as error:  # rasterio raises RasterioIOError and others for unreadable files
        raise DatasetFormatError(f"{path}: cannot read the raster: {error}") from error


def _layers(desc: _Description, spec: dict) -> tuple[dict, str]:
    """``{(date, band): (file, layer)}`` for every layer the rasters section names, and where the dates came from."""
    given = [k for k in ("bands", "files", "pattern") if k in spec]
    if len(given) != 1:
        desc.fail("rasters", f"give exactly one of bands, files, pattern (got {given or 'none'})")
    order = spec.get("layers", "bands" if given == ["pattern"] else "dates")
    if order not in LAYER_ORDERS:
        desc.fail("rasters.layers", f"expected one of {', '.join(LAYER_ORDERS)}, got {order!r}")
    band_names = desc.names("rasters.band_names", spec["band_names"]) if "band_names" in spec else None
    layers = {}
    if given == ["pattern"]:
        if order != "bands":
            desc.fail("rasters.layers", "files named by a pattern hold one date each: layers must be 'bands'")
        for file, date, band in _pattern_files(desc, spec["pattern"]):
            count = _layer_count(file)
            names = [band] if band is not None and count == 1 else band_names or [f"band{i + 1}" for i in range(count)]
            if len(names) != count:
                desc.fail("rasters.band_names", f"{file.name} has {count} layer(s) but {len(names)} band name(s)")
            for i, name in enumerate(names):
                if (date, name) in layers:
                    desc.fail("rasters.pattern", f"date {date}, band {name!r} given twice ({file.name} and "
                                                 f"{layers[(date, name)][0].name})")
                layers[(date, name)] = (file, i)
        return layers, "file names"
    if "dates" not in spec:
        desc.fail("rasters.dates", "missing: the file names carry no date here, give them (a list or a file)")
    dates = desc.dates("rasters.dates", spec["dates"])
    if np.unique(dates).size != dates.size:
        desc.fail("rasters.dates", "a date is given twice: the dates of the layers must be distinct")
    if given == ["bands"]:
        if not isinstance(spec["bands"], dict) or not spec["bands"]:
            desc.fail("rasters.bands", f"expected a mapping band name -> file, got {spec['bands']!r}")
        if order != "dates":
            desc.fail("rasters.layers", "with bands: {name: file}, each file holds one band: layers must be 'dates'")
        stacks = [(desc.file(f"rasters.bands.{b}", f), [str(b)]) for b, f in spec["bands"].items()]
    else:
        files = _file_list(desc, "rasters.files", spec["files"])
        if order == "dates":
            names = band_names or ([f"band{i + 1}" for i in range(len(files))])
            if len(names) != len(files):
                desc.fail("rasters.band_names", f"layers 'dates': one band per file, {len(files)} files but "
                                                f"{len(names)} band names")
            stacks = [(f, [n]) for f, n in zip(files, names)]
        elif order == "bands":
            if len(files) != dates.size:
                desc.fail("rasters.dates", f"layers 'bands': one file per date, {len(files)} files but "
                                           f"{dates.size} dates")
            names = band_names or [f"band{i + 1}" for i in range(_layer_count(files[0]))]
            for file, date in zip(files, dates):
                count = _layer_count(file)
                if count != len(names):
                    desc.fail("rasters.band_names", f"{file.name} has {count} layer(s), expected {len(names)} bands")
                layers.update({(date, n): (file, i) for i, n in enumerate(names)})
            return layers, _dates_source(spec["dates"])
        else:
            if len(files) != 1:
                desc.fail("rasters.files", f"layers {order!r}: one file holding every date and band, got {len(files)}")
            if band_names is None:
                desc.fail("rasters.band_names", f"layers {order!r}: name the bands of the file")
            stacks = [(files[0], band_names)]
    for file, names in stacks:
        count = _layer_count(file)
        if count != dates.size * len(names):
            desc.fail("rasters.layers", f"{file.name} has {count} layers, expected {dates.size} dates x "
                                        f"{len(names)} band(s) = {dates.size * len(names)} ({order})")
        for t, date in enumerate(dates):
            for b, name in enumerate(names):
                index = b * dates.size + t if order == "bands*dates" else t * len(names) + b
                layers[(date, name)] = (file, index)
    return layers, _dates_source(spec["dates"])


def _dates_source(value) -> str:
    if isinstance(value, list):
        return "the description's list"
    return str(value["file"] if isinstance(value, dict) else value)


def _cube(desc: _Description, spec: dict, chunks: int | str | None = "auto"):
    from sitsbench.data import cube as cube_format
    from sitsbench.data.readers.rasters import read_raster_layers

    layers, dates_from = _layers(desc, spec)
    scale = spec.get("scale", "auto")
    if scale != "auto":
        scale = desc.number("rasters.scale", scale)
    crs = desc.crs("rasters.crs", spec.get("crs"))
    nodata = desc.number("rasters.nodata", spec.get("nodata"))
    mask_spec = spec.get("mask")
    mask_band = mask_spec.get("band") if mask_spec else None
    bands = list(dict.fromkeys(b for _, b in layers))
    if mask_band is not None and str(mask_band) not in bands:
        desc.fail("rasters.mask.band", f"no band {mask_band!r} in the rasters (bands: {bands})")
    kept = {k: v for k, v in layers.items() if k[1] != mask_band}
    cube = read_raster_layers(kept, source=desc.path, chunks=chunks, index_scale=scale, nodata=nodata, crs=crs)
    offset = desc.number("rasters.offset", spec.get("offset"), 0.0)
    valid = cube[cube_format.VALID]
    if "valid_range" in spec:
        bounds = spec["valid_range"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(v, int | float) for v in bounds)):
            desc.fail("rasters.valid_range", f"expected [low, high], got {bounds!r}")
        inside = ((cube[cube_format.REFLECTANCE] + offset >= bounds[0]) & (cube[cube_format.REFLECTANCE] + offset <= bounds[1]))
        valid = valid & inside.all(cube_format.BAND)
    if mask_spec:
        valid = valid & _clear(desc, mask_spec, layers, mask_band, cube, crs)
    reflectance = cube[cube_format.REFLECTANCE]
    if offset:  # no data stays 0; a masked (cloudy) observation keeps its value, flagged by valid
        reflectance = (reflectance + np.float32(offset)).where(cube[cube_format.VALID], 0.0).astype(np.float32)
    cube = cube.assign({cube_format.REFLECTANCE: reflectance, cube_format.VALID: valid.transpose(cube_format.TIME, cube_format.Y, cube_format.X)})
    cube.attrs.update({"dates_from": dates_from, "description": str(desc.path)})
    return cube


def _clear(desc: _Description, spec: dict, layers: dict, band, cube, crs):
    """True where the mask says the observation is clear, ``(time, y, x)``."""
    from sitsbench.data import cube as cube_format
    from sitsbench.data.readers.rasters import read_raster_layers

    given = [k for k in ("band", "file") if k in spec]
    if len(given) != 1:
        desc.fail("rasters.mask", f"give exactly one of band, file (got {given or 'none'})")
    if band is not None:
        mask_layers = {(d, "mask"): where for (d, b), where in layers.items() if b == band}
    else:
        file = desc.file("rasters.mask.file", spec["file"])
        count, times = _layer_count(file), cube[cube_format.TIME].values.astype("datetime64[D]")
        if count != times.size:
            desc.fail("rasters.mask.file", f"{file.name} has {count} layers, expected one per date ({times.size})")
        mask_layers = {(d, "mask"): (file, t) for t, d in enumerate(times)}
    raw = read_raster_layers(mask_layers, source=desc.path, index_scale=1.0, nodata=np.nan, crs=crs)
    codes = raw[cube_format.REFLECTANCE].isel({cube_format.BAND: 0}).astype(np.int64)
    if "clear" in spec:
        values = spec["clear"]
        if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
            desc.fail("rasters.mask.clear", f"expected a list of integer classes that mean clear, got {values!r}")
        return codes.isin(values)
    if "clear_bits" in spec:
        bits = spec["clear_bits"]
        if not isinstance(bits, dict) or not all(isinstance(b, int) and v in (0, 1) for b, v in bits.items()):
            desc.fail("rasters.mask.clear_bits", f"expected {{bit number: 0 or 1}} for a clear pixel, got {bits!r}")
        clear = codes >= 0
        for bit, value in bits.items():
            clear = clear & (((codes >> bit) & 1) == value)
        return clear
    desc.fail("rasters.mask", "say which values mean clear: clear: [classes] or clear_bits: {bit: value}")


def _points(desc: _Description, spec: dict, cube, notes: list[str]):
    from sitsbench.data import georef
    from sitsbench.data.readers.points import VECTOR_SUFFIXES, WGS84, read_points
    from sitsbench.data.readers.tables import read_table
    from sitsbench.data.samples import samples_from_cube

    if "file" not in spec:
        desc.fail("points.file", "missing: the table or vector file of labelled points")
    path = desc.file("points.file", spec["file"])
    columns = dict(spec.get("columns") or {})
    crs = desc.crs("points.crs", spec.get("crs"))
    outside_policy = spec.get("outside", "error")
    if outside_policy not in ("error", "drop"):
        desc.fail("points.outside", f"expected error or drop, got {outside_policy!r}")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        table = read_points(path)
        crs = crs or table.attrs["crs"]
    else:
        table, _ = read_table(path)
        defaults = next(((x, y) for x, y in (("longitude", "latitude"), ("lon", "lat"), ("x", "y"))
                         if x in table.columns and y in table.columns), (None, None))
        x, y = columns.get("x", defaults[0]), columns.get("y", defaults[1])
        for role, name in (("x", x), ("y", y)):
            if name not in table.columns:
                desc.fail(f"points.columns.{role}", f"no column {name!r} in {path.name} (columns: {list(table.columns)})")
        if crs is None:
            if (x, y) not in (("longitude", "latitude"), ("lon", "lat")):
                desc.fail("points.crs", f"the CRS of columns {x}/{y} is needed (EPSG:<code>, PROJ string, WKT or "
                                        "{file: ...})")
            crs = WGS84
        table = table.drop(columns=[c for c in ("x", "y") if c not in (x, y) and c in table.columns])
        table = table.rename(columns={x: "x", y: "y"})
    defaults = {"label": "label", "id": "id", "start": "start_date", "end": "end_date", "group": None}
    for role, default in defaults.items():
        if role in columns and str(columns[role]) not in table.columns:
            desc.fail(f"points.columns.{role}", f"no column {columns[role]!r} in {path.name} "
                                                f"(columns: {list(table.columns)})")
        if role not in columns:
            columns[role] = default if default in table.columns else None
        if columns[role] is None and role == "label":
            desc.fail("points.columns.label", f"no column 'label' in {path.name}: name the label column "
                                              f"(columns: {list(table.columns)})")
    _, _, inside = georef.locate(cube, table["x"].to_numpy(), table["y"].to_numpy(), crs)
    if not inside.all():
        ids = table[columns["id"]] if columns["id"] in table.columns else table.index
        names = [str(v) for v in np.asarray(ids)[~inside]]
        message = (f"{path.name}: {len(names)} of {len(table)} point(s) fall outside the rasters "
                   f"({cube.sizes['y']} x {cube.sizes['x']} px), {columns['id'] if columns['id'] in table else 'row'}"
                   f" {', '.join(names)}")
        if outside_policy == "error" or inside.sum() == 0:
            desc.fail("points", f"{message}; set points.outside: drop to train on the others")
        notes.append(f"{message}: dropped (points.outside: drop)")
        warnings.warn(f"{desc.path}: {notes[-1]}", stacklevel=3)
        table = table[inside].reset_index(drop=True)
    samples = samples_from_cube(cube, table, label=columns["label"], x="x", y="y", crs=crs, group=columns["group"],
                                start=columns["start"], end=columns["end"])
    notes.append(f"{len(table)} labelled points from {path.name} placed on the rasters")
    return samples


def _classes(desc: _Description, value) -> tuple[list[str] | None, dict | None]:
    """Class names in id order, or an ``{id: name}`` mapping for ids that are not 0..n-1."""
    if value is None:
        return None, None
    if isinstance(value, list):
        return [str(v) for v in value], None
    if isinstance(value, dict):
        if not all(isinstance(k, int) for k in value):
            desc.fail("samples.classes", f"a mapping must give {{integer id: name}}, got keys {list(value)[:5]}")
        return None, {int(k): str(v) for k, v in value.items()}
    path = desc.file("samples.classes", value)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()], None


def _table(desc: _Description, spec: dict):
    import pandas as pd

    from sitsbench.data import samples as samples_format
    from sitsbench.data.readers.tables import read_sample_table, read_table

    if "file" not in spec:
        desc.fail("samples.file", "missing: the table of labelled series")
    path = desc.file("samples.file", spec["file"])
    header = spec.get("header", True)
    if not isinstance(header, bool):
        desc.fail("samples.header", f"expected true or false, got {header!r}")
    columns = {k: str(v) for k, v in (spec.get("columns") or {}).items()}
    if "label" not in columns:
        desc.fail("samples.columns.label", "missing: the column holding the class (a name, or a position when "
                                           "header: false)")
    values = spec.get("values") or {}
    order = values.get("order", "dates*bands")
    if order not in ("dates*bands", "bands*dates"):
        desc.fail("samples.values.order", f"expected dates*bands or bands*dates, got {order!r}")
    bands = desc.names("samples.values.bands", values["bands"]) if "bands" in values else None
    dates = desc.dates("samples.values.dates", values["dates"]) if "dates" in values else None
    class_names, mapping = _classes(desc, spec.get("classes"))
    pattern = values.get("pattern")
    if pattern is None and "split" in columns:
        pattern = f"(?!{re.escape(columns['split'])}$).*"  # the split column holds no value
    samples = read_sample_table(
        path, layout="wide", label=columns["label"], group=columns.get("group"), bands=bands,
        dates=None if dates is None else dates.astype(str).tolist(), class_names=class_names,
        scale=desc.number("samples.scale", spec.get("scale"), 1.0), header=header, values=pattern,
    )
    if order == "bands*dates":  # the reader took the columns date by date: put them back band by band
        n, t, b = samples[samples_format.VALUES].shape
        series = samples[samples_format.VALUES].values.reshape(n, t * b).reshape(n, b, t).transpose(0, 2, 1)
        samples = samples.assign({samples_format.VALUES: ((samples_format.SAMPLE, samples_format.TIME, samples_format.BAND), np.ascontiguousarray(series)),
                                  samples_format.VALID: ((samples_format.SAMPLE, samples_format.TIME), np.isfinite(series).all(axis=2))})
    if mapping is not None:
        ids = np.array([int(float(n)) for n in samples_format.class_names(samples)])
        unknown = sorted(set(ids.tolist()) - set(mapping))
        if unknown:
            desc.fail("samples.classes", f"label id(s) {unknown} of {path.name} are not in the mapping {mapping}")
        order_ids = sorted(mapping)
        remap = np.array([order_ids.index(i) for i in ids])
        labels = samples[samples_format.LABEL].values
        samples = samples.assign({samples_format.LABEL: ((samples_format.SAMPLE,), np.where(labels >= 0, remap[labels], labels))})
        samples.attrs["class_names"] = [mapping[i] for i in order_ids]
    if "split" in columns:
        table, _ = read_table(path, header=header)
        if columns["split"] not in table.columns:
            desc.fail("samples.columns.split", f"no column {columns['split']!r} in {path.name}")
        text = table[columns["split"]].astype(str).str.strip().str.lower()
        codes = text.map({**samples_format.SPLIT_CODES, **{str(v): v for v in samples_format.SPLIT_CODES.values()}})
        if codes.isna().any():
            bad = sorted(set(text[codes.isna()]))[:5]
            desc.fail("samples.columns.split", f"values {bad} of {path.name}: expected train/val/test or 0/1/2")
        samples = samples.assign({samples_format.SPLIT: ((samples_format.SAMPLE,), pd.to_numeric(codes).to_numpy(np.int8))})
    return samples_format.validate_samples(samples)


DATE_FILE_SUFFIXES = (".rda", ".rdata", ".rds", ".json", ".txt")


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _raster_lines(folder: Path, out_dir: Path) -> list[str]:
    """The ``rasters:`` section for the raster files in ``folder``, from their names and metadata."""
    import rasterio

    from sitsbench.data.georef import crs_label
    from sitsbench.data.readers.rasters import DATE_PATTERN, INDEX_BANDS, raster_files

    files = raster_files(folder)
    meta = []
    for file in files:
        with rasterio.open(file) as source:
            sample = source.read(1, window=((0, min(64, source.height)), (0, min(64, source.width))))
            finite = sample[np.isfinite(sample) & (sample != (source.nodata if source.nodata is not None else np.nan))]
            meta.append({"count": source.count, "crs": source.crs, "nodata": source.nodata,
                         "max": float(np.abs(finite).max()) if finite.size else 0.0})
    lines = ["rasters:"]
    dated = [DATE_PATTERN.search(f.stem) for f in files]
    token = re.compile(r"(?i)(?<![a-z0-9])(" + "|".join(INDEX_BANDS) + r"|B\d{1,2}A?|SCL|QA\w*)(?![a-z0-9])")
    if all(dated):
        templates = [f.name[: m.start()] + "{date}" + f.name[m.end():] for f, m in zip(files, dated)]
        pattern = templates[0]
        bands_here = [token.search(t) for t in templates]
        if len(set(templates)) > 1 and all(bands_here):
            first = bands_here[0]
            pattern = templates[0][: first.start()] + "{band}" + templates[0][first.end():]
        elif len(set(templates)) > 1:
            pattern = f"{FILL_IN}  # the file names differ by more than the date: mark the band with {{band}}"
        lines.append(f"  pattern: {_relative(folder, out_dir)}/{pattern}" if "#" not in pattern
                     else f"  pattern: {pattern}")
        names = sorted({m[1] for m in bands_here if m}) or ["band1"]
        index = all(n.upper() in INDEX_BANDS for n in names)
        lines.append("  layers: bands                   # each file: one date")
        if "{band}" not in pattern and len(names) == 1 and meta[0]["count"] == 1:
            lines.append(f"  band_names: [{names[0]}]")
    else:
        lines.append("  bands:                          # one file per band (check the band names)")
        names = []
        for file in files:
            found = token.search(file.stem)
            name = found[1].lower() if found else file.stem
            names.append(name)
            lines.append(f"    {name}: {_relative(file, out_dir)}")
        index = all(n.upper() in INDEX_BANDS for n in names)
        counts = sorted({m["count"] for m in meta})
        lines.append(f"  layers: dates                   # each file: {', '.join(map(str, counts))} layer(s), one per date")
        candidates = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in DATE_FILE_SUFFIXES
                      or (p.suffix.lower() == ".csv" and "date" in p.stem.lower())]
        if len(candidates) == 1:
            lines.append(f"  dates: {_relative(candidates[0], out_dir)}   # the only dates-like file here: check it")
        else:
            lines.append(f"  dates: {FILL_IN}                 # a list of {counts[0]} dates or a file (text, CSV, "
                         "JSON, .rda/.rds)")
    biggest = max(m["max"] for m in meta)
    if index and biggest > 1:
        lines.append(f"  scale: 0.0001                   # index values up to {biggest:g}: stored x 10,000")
    else:
        lines.append(f"  scale: 1                        # values up to {biggest:g} in the first block: check the unit")
    nodata = {m["nodata"] for m in meta}
    if nodata != {None}:
        lines.append(f"  nodata: {sorted(v for v in nodata if v is not None)[0]!r}   # as in the files")
    crs = {crs_label(m["crs"].to_wkt()) if m["crs"] else None for m in meta}
    if None in crs:
        lines.append(f"  crs: {FILL_IN}                   # some files have no CRS: EPSG:<code>, PROJ string or WKT")
    else:
        lines.append(f"  # crs: kept from the files ({', '.join(sorted(crs))}); a crs: key would override it")
    return lines


def _points_lines(csv: Path, out_dir: Path) -> list[str]:
    from sitsbench.data.readers.tables import read_table

    columns = list(read_table(csv)[0].columns)
    roles = {"label": ("label", "class"), "id": ("id",), "x": ("longitude", "lon", "x"), "y": ("latitude", "lat", "y"),
             "start": ("start_date", "from", "start"), "end": ("end_date", "to", "end")}
    found = {role: next((c for c in columns if c.lower() in names), None) for role, names in roles.items()}
    lonlat = found["x"] is not None and found["x"].lower() in ("longitude", "lon")
    lines = ["points:", f"  file: {_relative(csv, out_dir)}", "  columns:"]
    lines += [f"    {role}: {name if name else FILL_IN}" + ("" if name else f"   # one of {columns}")
              for role, name in found.items() if name or role in ("label", "x", "y")]
    lines.append("  crs: EPSG:4326" if lonlat else f"  crs: {FILL_IN}   # of the x/y columns: EPSG:<code> or PROJ")
    lines.append("  outside: error                   # or drop: points off the rasters are then dropped and named")
    return lines


def _table_lines(table_path: Path, out_dir: Path) -> list[str]:
    from sitsbench.data.readers.tables import DATE_IN_NAME, read_table

    table, _ = read_table(table_path)
    header = not all(re.fullmatch(r"-?[\d.eE+-]+", str(c)) for c in table.columns)
    if not header:
        table, _ = read_table(table_path, header=False)
    columns = [str(c) for c in table.columns]
    label = next((c for c in columns if c.lower() in ("label", "class", "lc_id", "code")), None)
    group = next((c for c in columns if c.lower() in ("group", "polygon", "objectid", "parcel", "polygon_id")), None)
    lines = ["samples:", f"  file: {_relative(table_path, out_dir)}",
             f"  header: {'true' if header else 'false'}" + ("" if header else "   # columns are named 0, 1, ..."),
             "  columns:", f"    label: {label if label else FILL_IN}" + ("" if label else f"   # one of {columns[:6]}")]
    if group:
        lines.append(f"    group: {group}")
    else:
        lines.append("    # group: the polygon / parcel column, if any (samples of a group stay on one side of a split)")
    values = [c for c in columns if c not in (label, group)]
    if not all(DATE_IN_NAME.search(c) for c in values):
        prefixes = {re.sub(r"\d+$", "", c) for c in values}
        guess = f"'{re.escape(prefixes.pop())}\\d+'   # every value column" if len(prefixes) == 1 else \
            f"{FILL_IN}   # a regular expression matching the {len(values)} value columns, e.g. {values[0]!r}..."
        lines += ["  values:", f"    pattern: {guess}",
                  "    order: dates*bands            # or bands*dates (all dates of a band, band by band)",
                  f"    bands: {FILL_IN}              # [B02, B03, ...]",
                  f"    dates: {FILL_IN}              # a list or a file of the dates"]
    lines.append("  # classes: [names in label-id order], {id: name} or a text file (default: the sorted labels)")
    return lines


def describe_path(path: str | Path, out_dir: str | Path = ".") -> str:
    """A starting description (YAML text) of the data at ``path``: what the files say is filled in, every value
    they do not say is ``FILL_IN`` with a comment. Paths are written relative to ``out_dir``, where the
    description will be saved."""
    from sitsbench.data.readers.points import LONLAT_COLUMNS
    from sitsbench.data.readers.rasters import raster_files
    from sitsbench.data.readers.tables import read_table

    path, out_dir = Path(path), Path(out_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    lines = [f"# sitsbench dataset description of {path} (schema: sitsbench.data.description).",
             f"# Replace every {FILL_IN}; `sitsbench data info THIS.yaml` checks it.",
             f"name: {path.stem if path.is_file() else path.name}"]
    if path.is_file() and path.suffix.lower() in (".csv", ".parquet", ".pq"):
        return "\n".join(lines + _table_lines(path, out_dir)) + "\n"
    folder = path if path.is_dir() else path.parent
    rasters = next((d for d in (folder, folder / "raster", folder / "rasters") if d.is_dir() and raster_files(d)), None)
    if rasters is None:
        tables = sorted(folder.glob("*.csv"))
        if not tables:
            raise DatasetFormatError(f"{path}: no raster (.tif, .jp2, ...) and no table (.csv) to describe")
        return "\n".join(lines + _table_lines(tables[0], out_dir)) + "\n"
    lines += _raster_lines(rasters, out_dir)
    for csv in sorted(folder.glob("*.csv")):
        columns = {c.lower() for c in read_table(csv)[0].columns}
        if any({lon, lat} <= columns for lon, lat in LONLAT_COLUMNS) or {"x", "y"} <= columns:
            return "\n".join(lines + _points_lines(csv, out_dir)) + "\n"
    lines.append("# points: {file: points.csv, columns: {label: ..., x: ..., y: ...}, crs: ...}  (labelled points)")
    return "\n".join(lines) + "\n"
