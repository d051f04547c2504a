"""Tiny files in the published on-disk layout of each supported format, for tests and examples.

Each ``write_*`` function writes a few samples under ``root`` with the real file names, dtypes, array
shapes and metadata keys (see the reader modules in :mod:`sitsbench.data.readers` for the layouts) and
returns what it wrote, so that a test can compare a reader's cube with the raw values.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _yyyymmdd(dates: np.ndarray) -> list[int]:
    return [int(str(d).replace("-", "")) for d in dates.astype("datetime64[D]")]


def write_pastis(root: str | Path, n_patches: int = 3, size: int = 4, seed: int = 0, with_s1: bool = False,
                 dates_as_string: bool = False, with_parcel_ids: bool = True) -> dict[int, dict]:
    """PASTIS: ``metadata.geojson``, ``DATA_S2/S2_{id}.npy`` int16, ``ANNOTATIONS/TARGET_{id}.npy``,
    ``ANNOTATIONS/ParcelIDs_{id}.npy``, ``INSTANCE_ANNOTATIONS/INSTANCES_{id}.npy`` and ``NORM_S2_patch.json``;
    patches have different dates. ``ParcelIDs`` hold global parcel ids, one of them on a background pixel;
    ``INSTANCES`` are derived from them as the official ``code/centerness_ground_truth.py`` does (ids off the
    background renumbered 1, 2, ... in increasing order). ``dates_as_string`` writes each ``dates-*`` table as
    its JSON text, as fiona/geopandas re-write nested properties. ``with_s1`` adds the PASTIS-R ascending orbit:
    ``DATA_S1A/S1A_{id}.npy`` float32 (T1, 3, H, W) and ``dates-S1A``."""
    root, rng = Path(root), _rng(seed)
    for folder in ("DATA_S2", "ANNOTATIONS", "INSTANCE_ANNOTATIONS") + (("DATA_S1A",) if with_s1 else ()):
        (root / folder).mkdir(parents=True, exist_ok=True)

    def table(dates):
        mapping = {str(i): d for i, d in enumerate(_yyyymmdd(dates))}
        return json.dumps(mapping) if dates_as_string else mapping

    written, features = {}, []
    for k in range(n_patches):
        pid = 10000 + k
        n_dates = 3 + k
        dates = np.datetime64("2018-09-15") + np.sort(rng.choice(400, n_dates, replace=False))
        s2 = rng.integers(0, 10000, (n_dates, 10, size, size)).astype(np.int16)
        semantic = rng.integers(0, 20, (size, size)).astype(np.uint8)
        semantic[0, 0] = 19  # one void pixel in every patch
        semantic[0, 1] = 0  # one background pixel that lies in a parcel
        codes = rng.integers(0, 5, (size, size))
        codes[0, 1] = 1
        parcel_ids = np.where(codes > 0, 7_000_000 + 1000 * k + 7 * codes, 0).astype(np.int64)
        kept = parcel_ids * (semantic != 0)
        instances = np.searchsorted(np.unique(kept), kept).astype(np.int64)  # kept holds 0 (pixel [0, 1])
        target = np.stack([semantic, instances.astype(np.uint8), semantic]).astype(np.uint8)
        np.save(root / "DATA_S2" / f"S2_{pid}.npy", s2)
        np.save(root / "ANNOTATIONS" / f"TARGET_{pid}.npy", target)
        if with_parcel_ids:
            np.save(root / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy", parcel_ids)
        np.save(root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{pid}.npy", instances)
        fold = k % 5 + 1
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1280, 0], [1280, 1280], [0, 1280], [0, 0]]]},
            "properties": {
                "ID_PATCH": pid, "Fold": fold, "N_Parcel": int(np.unique(instances).size - 1),
                "Parcel_Cover": 0.5, "TILE": "t30uxv", "dates-S2": table(dates),
            },
        })
        written[pid] = {"s2": s2, "target": target, "instances": instances, "parcel_ids": parcel_ids,
                        "dates": dates, "fold": fold}
        if with_s1:
            s1_dates = np.datetime64("2018-09-01") + np.sort(rng.choice(400, 6, replace=False))
            s1 = rng.normal(-12, 3, (6, 3, size, size)).astype(np.float32)
            np.save(root / "DATA_S1A" / f"S1A_{pid}.npy", s1)
            features[-1]["properties"]["dates-S1A"] = table(s1_dates)
            written[pid].update(s1=s1, s1_dates=s1_dates)
    (root / "metadata.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    norm = {f"Fold_{f}": {"mean": [1000.0] * 10, "std": [500.0] * 10} for f in range(1, 6)}
    (root / "NORM_S2_patch.json").write_text(json.dumps(norm))
    return written


def write_pixelset(root: str | Path, n_parcels: int = 3, n_dates: int = 4, seed: int = 0,
                   labels: list[int] | None = None, empty: tuple[int, ...] = ()) -> dict:
    """Pixel-Set (PSE-TAE): ``DATA/{id}.npy`` uint16 (T, 10, S), ``META/labels.json``, ``META/dates.json``,
    ``META/geomfeat.json``; parcel ids start at 0 as in S2-Agri and parcels have different pixel counts.
    ``labels`` gives the ``label_44class`` id of each parcel (default: random 0-4); the parcels listed in
    ``empty`` have no pixel (``S = 0``)."""
    root, rng = Path(root), _rng(seed)
    (root / "DATA").mkdir(parents=True, exist_ok=True)
    (root / "META").mkdir(parents=True, exist_ok=True)
    dates = np.datetime64("2017-01-05") + np.sort(rng.choice(300, n_dates, replace=False))
    arrays, parcel_labels = {}, {}
    for pid in range(n_parcels):
        n_pixels = 0 if pid in empty else 2 + pid
        arrays[pid] = rng.integers(0, 10000, (n_dates, 10, n_pixels)).astype(np.uint16)
        parcel_labels[pid] = int(rng.integers(0, 5)) if labels is None else int(labels[pid])
        np.save(root / "DATA" / f"{pid}.npy", arrays[pid])
    meta = {"label_44class": {str(p): v for p, v in parcel_labels.items()},
            "label_20class": {str(p): 0 for p in parcel_labels}}
    (root / "META" / "labels.json").write_text(json.dumps(meta))
    (root / "META" / "dates.json").write_text(json.dumps({str(i): d for i, d in enumerate(_yyyymmdd(dates))}))
    geom = {str(p): [float(a.shape[2]), 1.0, 1.0, 1.0] for p, a in arrays.items()}
    (root / "META" / "geomfeat.json").write_text(json.dumps(geom))
    return {"arrays": arrays, "labels": parcel_labels, "dates": dates}


def write_breizhcrops(root: str | Path, region: str = "frh04", level: str = "L2A", n_parcels: int = 3,
                      seed: int = 0, layout: str | None = None, first_id: int = 100) -> dict:
    """BreizhCrops 2017: ``classmapping.csv``, ``codes.csv``, ``2017/{level}/{region}.csv`` and ``.h5``.

    ``layout`` is the column order of the HDF5 datasets, spelled out here from the official code (not from
    the reader): L2A ``"doa-first"`` (default; ``SELECTED_BANDS["L2A"]``, package >= 2021) or ``"doa-last"``
    (``BANDS["L2A"]`` of June 2020); L1C ``"2020-04"`` (default; ``self.bands`` of April 2020) or
    ``"2020-08"`` (``SELECTED_BANDS["L1C"]``). ``doa`` is float ns since 1970, as published. Values are
    plausible (the L1C cirrus band B10 is dark), so the reader can tell the L1C orders apart.
    Parcel ids are ``first_id + k``; each parcel has its own dates; parcel 0 has a second observation on its
    first day (dropped by the reader) and one cloudy date (L2A ``CLD = 80``, L1C ``QA60 = 1024``); one more
    parcel has a crop code outside the mapping. Returns the raw arrays with their columns and dates.
    """
    l2a = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "CLD", "EDG", "SAT")
    layouts = {
        ("L2A", "doa-first"): ("doa", *l2a),
        ("L2A", "doa-last"): (*l2a, "doa"),
        ("L1C", "2020-04"): ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                             "QA10", "QA20", "QA60", "doa"),
        ("L1C", "2020-08"): ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
                             "QA10", "QA20", "QA60", "doa"),
    }
    layout = layout or ("doa-first" if level == "L2A" else "2020-04")
    if (level, layout) not in layouts:
        raise ValueError(f"unknown BreizhCrops layout {level}/{layout}; known: {sorted(layouts)}")
    root, rng = Path(root), _rng(seed)
    columns = layouts[level, layout]
    cloud_column, cloud_value = ("QA60", 1024) if level == "L1C" else ("CLD", 80)
    folder = root / "2017" / level
    folder.mkdir(parents=True, exist_ok=True)
    mapping = pd.DataFrame({"id": [0, 1, 1, 2], "classname": ["barley", "wheat", "wheat", "corn"],
                            "code": ["ORH", "BTH", "BTP", "MIS"]})
    mapping.to_csv(root / "classmapping.csv")
    pd.DataFrame({"code": ["ORH", "BTH", "BTP", "MIS", "XXX"], "description": ["o", "b", "b", "m", "x"]}).to_csv(
        root / "codes.csv", sep=";", index=False
    )
    days = np.datetime64("2017-01-03T11:02:31.024", "ns") + np.arange(8) * np.timedelta64(5, "D")
    codes = ["ORH", "BTH", "MIS", "BTP", "MIS"][:n_parcels] + ["XXX"]
    rows, series = [], {}
    with h5py.File(folder / f"{region}.h5", "w") as handle:
        for k, code in enumerate(codes):
            pid = first_id + k
            when = np.sort(rng.choice(days, 4 + k % 3, replace=False))
            if k == 0:
                when = np.concatenate([when[:1], when[:1] + np.timedelta64(2, "h"), when[1:]])
            values = np.zeros((when.size, len(columns)))
            for j, name in enumerate(columns):
                if name == "B10":
                    values[:, j] = rng.integers(5, 40, when.size)  # cirrus: dark under a clear sky
                elif name.startswith("B"):
                    values[:, j] = rng.integers(300, 6000, when.size)
                elif name == "CLD":
                    values[:, j] = rng.integers(0, 20, when.size)
            if k == 0:
                values[-1, columns.index(cloud_column)] = cloud_value
            values[:, columns.index("doa")] = when.astype(np.int64).astype(np.float64)
            key = f"csv/{region}/{pid}.csv"
            handle.create_dataset(key, data=values)
            series[pid] = {"values": values, "code": code, "dates": when}
            rows.append({"idx": k, "id": pid, "CODE_CULTU": code, "path": key, "meanQA60": 0.0,
                         "sequencelength": when.size})
    pd.DataFrame(rows).to_csv(folder / f"{region}.csv")
    return {"series": series, "mapping": mapping, "columns": columns, "layout": layout}


TIMESEN2CROP_COLUMNS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8A", "B11", "B12", "Flag")


def write_timesen2crop(root: str | Path, tile: str = "33UVP", per_class: dict[int, int] | None = None,
                       n_dates: int = 5, seed: int = 0) -> dict:
    """TimeSen2Crop: ``{tile}/dates.csv`` and ``{tile}/{class}/{n}.csv`` with 9 bands and the Flag column."""
    root, rng = Path(root), _rng(seed)
    per_class = per_class or {0: 2, 3: 1}
    dates = np.datetime64("2017-09-02") + np.sort(rng.choice(360, n_dates, replace=False))
    (root / tile).mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"acquisition_date": _yyyymmdd(dates)}).to_csv(root / tile / "dates.csv", index=False)
    samples = []
    for label, count in sorted(per_class.items()):
        (root / tile / str(label)).mkdir(exist_ok=True)
        for n in range(count):
            table = pd.DataFrame(rng.integers(1, 10000, (n_dates, 9)), columns=list(TIMESEN2CROP_COLUMNS[:9]))
            table["Flag"] = rng.integers(0, 4, n_dates)
            table.to_csv(root / tile / str(label) / f"{n}.csv", index=False)
            samples.append({"label": label, "table": table})
    return {"dates": dates, "samples": samples}


def write_eolearn_ndvi(root: str | Path, n_dates: int = 4, height: int = 3, width: int = 5, seed: int = 0) -> dict:
    """eo-learn EOPatch: ``data/NDVI.npy``, ``mask/IS_VALID.npy``, ``mask/CLM.npy``,
    ``mask_timeless/LULC.npy`` and ``timestamps.json``; dates 1 and 2 fall on the same day."""
    root, rng = Path(root), _rng(seed)
    for folder in ("data", "mask", "mask_timeless"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    base = np.datetime64("2016-05-06T10:00:00") + np.arange(n_dates) * np.timedelta64(10, "D")
    times = base.copy()
    times[2] = times[1] + np.timedelta64(7, "m")
    times[3:] = times[3:] + np.timedelta64(1, "D")
    ndvi = rng.uniform(-0.2, 0.9, (n_dates, height, width, 1)).astype(np.float32)
    is_valid = rng.random((n_dates, height, width, 1)) > 0.1
    clm = (rng.random((n_dates, height, width, 1)) > 0.7).astype(np.uint8)
    lulc = rng.choice([0, 1, 2, 3, 4, 8], (height, width, 1)).astype(np.uint16)
    np.save(root / "data" / "NDVI.npy", ndvi)
    np.save(root / "mask" / "IS_VALID.npy", is_valid)
    np.save(root / "mask" / "CLM.npy", clm)
    np.save(root / "mask_timeless" / "LULC.npy", lulc)
    (root / "timestamps.json").write_text(json.dumps([str(t) for t in times.astype("datetime64[s]")]))
    return {"ndvi": ndvi, "is_valid": is_valid, "clm": clm, "lulc": lulc, "times": times}


VICTORIA_CLASS_MAP = """value,class,colour
1,Bare Ground,rgb(145, 130, 105)
2,Canola,rgb(255, 255, 0)
3,Cereals,rgb(255, 210, 125)
7,Legumes,rgb(255, 140, 0)
8,Forest,rgb(50, 150, 0)
10,Grassland,rgb(190, 230, 90)
12,Water,rgb(0, 40, 240)
13,Urban,rgb(255, 100, 100)
"""


def write_victoria(root: str | Path, n_rows: int = 4, seed: int = 0) -> dict:
    """IGARSS 2019 Victoria CSVs: ``train_dataset.csv``, ``test_dataset.csv`` (lc_id, objectid, b0..b729)
    and ``class_map.txt``; objectid 7 appears in both files, as in the real data."""
    root, rng = Path(root), _rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "class_map.txt").write_text(VICTORIA_CLASS_MAP)
    tables = {}
    for name, first_object in (("train_dataset.csv", 5), ("test_dataset.csv", 7)):
        values = rng.integers(1, 8000, (n_rows, 730)).astype(float)
        values[0, :10] = 0.0  # first date of the first row: no data
        table = pd.DataFrame(values, columns=[f"b{i}" for i in range(730)])
        table.insert(0, "objectid", first_object + np.arange(n_rows) // 2)
        table.insert(0, "lc_id", rng.integers(0, 8, n_rows))
        table.to_csv(root / name, index=False)
        tables[name] = table
    return tables


def write_pastis_r_pixelset(root: str | Path, n_patches: int = 2, parcels_per_patch: int = 3, seed: int = 0,
                            sensors: tuple[str, ...] = ("S2",), dates_as_string: bool = True,
                            labels: list[int] | None = None, empty: tuple[int, ...] = (1,)) -> dict:
    """PASTIS-R pixel-set layout (Zenodo 5745151, as ``code/dataloader_pixelset.py`` reads it):
    ``metadata_parcel.csv`` (ID_PARCEL, ID_PATCH, Fold, Label, GF_1..GF_4), ``metadata.geojson`` with the
    patches' ``dates-{sensor}`` (JSON text by default, as geopandas writes them),
    ``DATA_{sensor}/{sensor}_{ID_PARCEL}.npy`` (S2 int16 (T, 10, S); S1 float32 (T1, 3, S)) and
    ``NORM_PARCEL_{sensor}_set.json``. Parcel ``k`` (in ``ID_PARCEL`` order) has label ``labels[k]`` (default:
    a cycle over 1, 5, 19, 18, 3 with the void label 19) and the parcels listed in ``empty`` have no pixel.
    The GF_* column names are placeholders (the official loader takes every column containing ``GF_``)."""
    root, rng = Path(root), _rng(seed)
    for sensor in sensors:
        (root / f"DATA_{sensor}").mkdir(parents=True, exist_ok=True)
    cycle = [1, 5, 19, 18, 3]
    features, rows, arrays, patch_dates = [], [], {s: {} for s in sensors}, {}
    for k in range(n_patches):
        patch = 20000 + k
        fold = k % 5 + 1
        props = {"ID_PATCH": patch, "Fold": fold, "TILE": "t31tfj"}
        patch_dates[patch] = {}
        for sensor in sensors:
            n_dates = (3 + k) if sensor == "S2" else (5 + k)
            dates = np.datetime64("2018-09-20") + np.sort(rng.choice(400, n_dates, replace=False))
            patch_dates[patch][sensor] = dates
            mapping = {str(i): d for i, d in enumerate(_yyyymmdd(dates))}
            props[f"dates-{sensor}"] = json.dumps(mapping) if dates_as_string else mapping
        features.append({"type": "Feature", "geometry": None, "properties": props})
        for j in range(parcels_per_patch):
            index = k * parcels_per_patch + j
            pid = 300000 + 17 * index
            label = cycle[index % len(cycle)] if labels is None else int(labels[index])
            n_pixels = 0 if index in empty else 1 + (index % 4)
            rows.append({"ID_PARCEL": pid, "ID_PATCH": patch, "Fold": fold, "Label": label,
                         **{f"GF_{g}": float(rng.random()) for g in range(1, 5)}})
            for sensor in sensors:
                t = patch_dates[patch][sensor].size
                if sensor == "S2":
                    array = rng.integers(0, 10000, (t, 10, n_pixels)).astype(np.int16)
                else:
                    array = rng.normal(-12, 3, (t, 3, n_pixels)).astype(np.float32)
                np.save(root / f"DATA_{sensor}" / f"{sensor}_{pid}.npy", array)
                arrays[sensor][pid] = array
    table = pd.DataFrame(rows)
    table.iloc[::-1].to_csv(root / "metadata_parcel.csv", index=False)  # not sorted: the reader sorts by ID_PARCEL
    (root / "metadata.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    for sensor in sensors:
        width = 10 if sensor == "S2" else 3
        norm = {f"Fold_{f}": {"mean": [0.0] * width, "std": [1.0] * width} for f in range(1, 6)}
        (root / f"NORM_PARCEL_{sensor}_set.json").write_text(json.dumps(norm))
    return {"table": table, "arrays": arrays, "patch_dates": patch_dates}
