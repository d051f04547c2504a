"""PASTIS patches, S2-Agri Pixel-Set and PASTIS-R pixel-set readers against the official loaders.

Each rule is checked twice where possible: against a re-implementation of the official logic in this file
(the comment cites the file and lines it copies) and, when a copy of the official code is available, against
the official dataset class itself run on the same tiny files. The official code is never copied into the
repository: it is read from ``$SITSBENCH_OFFICIAL_CODE`` (a folder with a checkout ``<name>/`` or a bare mirror
``<owner>+<name>/repo`` of each repository) or from the sessions' mirror folder, at the pinned commits below;
without it those tests are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from datetime import datetime
from pathlib import Path

import dask.array as da
import dataset_fixtures
import numpy as np
import pandas as pd
import pytest
from official_code import official_file

from sitsbench.data.cube import IGNORE_INDEX, validate_cube
from sitsbench.data.readers import DatasetFormatError
from sitsbench.data.readers.pastis import (
    CLASS_NAMES,
    FOLD_ROTATIONS,
    fold_patches,
    read_metadata,
    read_pastis,
    read_patch,
)
from sitsbench.data.readers.pastis_r_pixelset import read_pastis_r_pixelset
from sitsbench.data.readers.pixelset import PSETAE_SUB_CLASSES, read_pixelset
from sitsbench.data.samples import validate_samples

OFFICIAL_CODE = {
    "pastis": ("VSainteuf/pastis-benchmark", "43a0eceb9f40a6e6b0863b1a591407877812efcc"),
    "psetae": ("VSainteuf/pytorch-psetae", "fbd8ca3b5f6ebce6c53bfd1a0c25925dc2d7de52"),
}
REFERENCE_DATE = datetime(2018, 9, 1)  # default reference_date of the official PASTIS loaders


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- the official logic, re-implemented (always runs) -------------------------------------------------


def _official_days(date_seq) -> np.ndarray:
    """pastis-benchmark code/dataloader.py lines 119-134 and 170-171: a JSON string is decoded, every
    YYYYMMDD becomes its day offset from the reference date, and the offsets are read back sorted through a
    0/1 table over days -200..599."""
    if type(date_seq) is str:
        date_seq = json.loads(date_seq)
    days = [(datetime(int(str(x)[:4]), int(str(x)[4:6]), int(str(x)[6:])) - REFERENCE_DATE).days
            for x in date_seq.values()]
    table = np.zeros(800, dtype=int)
    table[np.asarray(days) + 200] = 1
    return np.arange(-200, 600)[np.flatnonzero(table == 1)]


def _official_instances(parcel_ids: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    """pastis-benchmark code/centerness_ground_truth.py lines 73-79: ParcelIDs off the background (semantic
    class 0), renumbered 0, 1, ... in increasing order."""
    instance = parcel_ids * (semantic != 0)
    paid = np.unique(instance)
    mapp = {paid[k]: k for k in range(len(paid))}
    return np.vectorize(lambda x: mapp[x])(instance)


def _official_sub_classes(pids: list[str], d: dict, labels: str, sub_classes: list[int]):
    """pytorch-psetae dataset.py lines 42-68 (PixelSetData.__init__): keep the parcels whose label is in
    sub_classes, in increasing parcel id order, and replace each label by its position in the list."""
    pid = list(map(str, np.sort([int(p) for p in pids])))
    sub_indices = []
    convert = dict((c, i) for i, c in enumerate(sub_classes))
    target = []
    for i, p in enumerate(pid):
        t = d[labels][p]
        target.append(t)
        if t in sub_classes:
            sub_indices.append(i)
            target[-1] = convert[target[-1]]
    return [int(p) for p in np.array(pid)[sub_indices]], [int(t) for t in np.array(target)[sub_indices]]


# --- access to the official code (optional) ------------------------------------------------------------


def _official_source(key: str, path: str) -> str | None:
    return official_file(*OFFICIAL_CODE[key], path)


def _official_module(tmp_path: Path, key: str, path: str, monkeypatch, fiona_strings: bool = True):
    """Import the official file ``path`` of ``key`` from a copy under ``tmp_path``. geopandas is replaced by a
    shim whose ``read_file`` returns the features' properties, nested objects as JSON text when
    ``fiona_strings`` (what fiona returns for them) and as dicts otherwise (pyogrio)."""
    text = _official_source(key, path)
    if text is None:
        repo, commit = OFFICIAL_CODE[key]
        pytest.skip(f"official {repo} {path}@{commit[:7]} not available: set SITSBENCH_OFFICIAL_CODE to a folder "
                    f"with a checkout {repo.split('/')[1]}/ or a bare mirror {repo.replace('/', '+')}/repo")

    def read_file(file):
        features = json.loads(Path(file).read_text())["features"]
        rows = [dict(f["properties"]) for f in features]
        if fiona_strings:
            rows = [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()} for row in rows]
        return pd.DataFrame(rows)

    monkeypatch.setitem(sys.modules, "geopandas", types.SimpleNamespace(read_file=read_file))
    # dataloader_pixelset.py line 126 calls Series.iteritems, removed in pandas 2: give it the same method
    monkeypatch.setattr(pd.Series, "iteritems", pd.Series.items, raising=False)
    file = tmp_path / f"official_{key}_{Path(path).stem}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- PASTIS patches -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dates_as_string", [False, True], ids=["dates-dict", "dates-json-string"])
def test_pastis_round_trip(tmp_path, dates_as_string):
    written = dataset_fixtures.write_pastis(tmp_path, n_patches=3, size=4, dates_as_string=dates_as_string)
    meta = json.loads((tmp_path / "metadata.geojson").read_text())
    assert isinstance(meta["features"][0]["properties"]["dates-S2"], str if dates_as_string else dict)
    cubes = read_pastis(tmp_path)
    assert sorted(cubes) == sorted(written)
    for pid, cube in cubes.items():
        raw = written[pid]
        assert isinstance(cube["reflectance"].data, da.Array), "reflectance stays lazy"
        validate_cube(cube, check_values=False)
        validate_cube(cube.compute())
        assert cube.sizes == {"time": raw["s2"].shape[0], "band": 10, "y": 4, "x": 4}
        np.testing.assert_allclose(cube["reflectance"].values, raw["s2"].astype(np.float32) * np.float32(1e-4))
        np.testing.assert_array_equal(cube["time"].values, raw["dates"].astype("datetime64[ns]"))
        semantic = raw["target"][0].astype(int)
        np.testing.assert_array_equal(cube["class"].values, np.where(semantic == 19, IGNORE_INDEX, semantic))
        assert cube["class"].values[0, 0] == IGNORE_INDEX
        # parcel = ParcelIDs off the background: pixel [0, 1] is background inside a parcel
        assert raw["parcel_ids"][0, 1] > 0 and cube["parcel"].values[0, 1] == 0
        np.testing.assert_array_equal(cube["parcel"].values, raw["parcel_ids"] * (semantic != 0))
        assert cube.attrs["parcel_source"] == "ParcelIDs"
        assert bool(cube["valid"].all()) and cube.attrs["fold"] == raw["fold"]
        assert cube.attrs["class_names"] == list(CLASS_NAMES) and len(CLASS_NAMES) == 19
        days = (cube["time"].values.astype("datetime64[D]") - np.datetime64("2018-09-01")).astype(int)
        np.testing.assert_array_equal(days, _official_days(meta["features"][pid - 10000]["properties"]["dates-S2"]))


def test_pastis_parcel_layer_fallbacks(tmp_path):
    written = dataset_fixtures.write_pastis(tmp_path, n_patches=1, with_parcel_ids=False)
    raw = written[10000]
    # the fixture's INSTANCES follow the official derivation from ParcelIDs
    np.testing.assert_array_equal(raw["instances"], _official_instances(raw["parcel_ids"], raw["target"][0]))
    cube = read_patch(tmp_path, 10000)
    assert cube.attrs["parcel_source"] == "INSTANCES"
    np.testing.assert_array_equal(cube["parcel"].values, raw["instances"])
    (tmp_path / "INSTANCE_ANNOTATIONS" / "INSTANCES_10000.npy").unlink()
    cube = read_patch(tmp_path, 10000)
    assert cube.attrs["parcel_source"] == "none" and not cube["parcel"].values.any()


def test_pastis_bad_parcel_ids(tmp_path):
    dataset_fixtures.write_pastis(tmp_path, n_patches=1)
    path = tmp_path / "ANNOTATIONS" / "ParcelIDs_10000.npy"
    np.save(path, np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(DatasetFormatError, match=r"ParcelIDs_10000\.npy: array has shape \(3, 4\), expected \(4, 4\)"):
        read_patch(tmp_path, 10000)
    np.save(path, np.full((4, 4), -2, dtype=np.int64))
    with pytest.raises(DatasetFormatError, match=r"ParcelIDs_10000\.npy: negative parcel id -2"):
        read_patch(tmp_path, 10000)
    np.save(path, np.full((4, 4), 3.5))
    with pytest.raises(DatasetFormatError, match=r"ParcelIDs_10000\.npy: dtype float64 with non-integer values"):
        read_patch(tmp_path, 10000)
    np.save(path, np.full((4, 4), 3.0))
    assert read_patch(tmp_path, 10000)["parcel"].values.max() == 3


def test_pastis_folds_and_protocol(tmp_path):
    # utae-paps train_semantic.py lines 231-237 (fold_sequence: train folds, val fold, test fold)
    fold_sequence = [[[1, 2, 3], [4], [5]], [[2, 3, 4], [5], [1]], [[3, 4, 5], [1], [2]],
                     [[4, 5, 1], [2], [3]], [[5, 1, 2], [3], [4]]]
    assert [[list(t), [v], [s]] for t, v, s in FOLD_ROTATIONS] == fold_sequence
    # pastis-benchmark documentation/label_names.json ids 0-18 (19, "Void label", is ignored)
    official_names = ["Background", "Meadow", "Soft winter wheat", "Corn", "Winter barley", "Winter rapeseed",
                      "Spring barley", "Sunflower", "Grapevine", "Beet", "Winter triticale", "Winter durum wheat",
                      "Fruits,  vegetables, flowers", "Potatoes", "Leguminous fodder", "Soybeans", "Orchard",
                      "Mixed cereal", "Sorghum"]
    assert list(CLASS_NAMES) == [" ".join(n.split()) for n in official_names]
    dataset_fixtures.write_pastis(tmp_path, n_patches=5)
    metadata = read_metadata(tmp_path)
    assert fold_patches(metadata, 0) == {"train": [10000, 10001, 10002], "val": [10003], "test": [10004]}
    assert fold_patches(metadata, 1) == {"train": [10001, 10002, 10003], "val": [10004], "test": [10000]}
    assert sorted(read_pastis(tmp_path, folds=(2, 5))) == [10001, 10004]
    with pytest.raises(ValueError, match="rotation must be 0-4"):
        fold_patches(metadata, 5)


@pytest.mark.parametrize("dates_as_string", [False, True], ids=["dates-dict", "dates-json-string"])
def test_pastis_r_sentinel1(tmp_path, dates_as_string):
    written = dataset_fixtures.write_pastis(tmp_path, n_patches=2, with_s1=True, dates_as_string=dates_as_string)
    cube = read_patch(tmp_path, 10001, s1="S1A", s1_bands=("VV", "VH", "ratio"))
    validate_cube(cube.compute())
    np.testing.assert_array_equal(cube["backscatter"].values, written[10001]["s1"])
    np.testing.assert_array_equal(cube["time_s1"].values, written[10001]["s1_dates"].astype("datetime64[ns]"))
    assert list(cube["band_s1"].values) == ["VV", "VH", "ratio"] and cube.attrs["s1_orbit"] == "S1A"
    assert list(read_patch(tmp_path, 10001, s1="S1A")["band_s1"].values) == ["S1_0", "S1_1", "S1_2"]
    with pytest.raises(DatasetFormatError, match=r"patch 10001 has no 'dates-S1D'"):
        read_patch(tmp_path, 10001, s1="S1D")
    np.save(tmp_path / "DATA_S1A" / "S1A_10001.npy", written[10001]["s1"][:, :, :3])
    with pytest.raises(DatasetFormatError, match=r"S1A_10001\.npy: array has shape \(6, 3, 3, 4\), expected \(6, 'any', 4, 4\)"):
        read_patch(tmp_path, 10001, s1="S1A")


def test_pastis_bad_files(tmp_path):
    written = dataset_fixtures.write_pastis(tmp_path, n_patches=1)
    target_path = tmp_path / "ANNOTATIONS" / "TARGET_10000.npy"
    target_path.unlink()
    with pytest.raises(DatasetFormatError, match=r"TARGET_10000\.npy: missing file \(expected semantic target"):
        read_patch(tmp_path, 10000)
    target = written[10000]["target"].copy()
    target[0, 1, 1] = 25
    np.save(target_path, target)
    with pytest.raises(DatasetFormatError, match=r"TARGET_10000\.npy: unknown class id\(s\) \[25\] \(expected 0..18 or \[19\]\)"):
        read_patch(tmp_path, 10000)
    np.save(target_path, written[10000]["target"])
    s2_path = tmp_path / "DATA_S2" / "S2_10000.npy"
    np.save(s2_path, np.zeros((3, 9, 4, 4), dtype=np.int16))
    with pytest.raises(DatasetFormatError, match=r"S2_10000\.npy: array has shape \(3, 9, 4, 4\), expected \(3, 10, 'any', 'any'\)"):
        read_patch(tmp_path, 10000)
    np.save(s2_path, written[10000]["s2"])
    _truncate(s2_path)
    with pytest.raises(DatasetFormatError, match=r"S2_10000\.npy: unreadable or truncated \.npy file"):
        read_patch(tmp_path, 10000)


def test_pastis_bad_metadata(tmp_path):
    dataset_fixtures.write_pastis(tmp_path, n_patches=1)
    path = tmp_path / "metadata.geojson"
    good = json.loads(path.read_text())
    meta = json.loads(path.read_text())
    del meta["features"][0]["properties"]["Fold"]
    path.write_text(json.dumps(meta))
    with pytest.raises(DatasetFormatError, match=r"metadata\.geojson: feature 0 lacks properties \['Fold'\]"):
        read_metadata(tmp_path)
    for value, message in [
        ('{"0": 20180915', r"dates-S2 of patch 10000 is a string but not JSON"),
        ("[20180915]", r"dates-S2 of patch 10000 must map '0', '1', \.\.\. to YYYYMMDD .*got list"),
        ('{"a": 20180915}', r"dates-S2 of patch 10000 has key 'a'"),
        ('{"0": 20181015, "1": 20180915}', r"dates-S2 of patch 10000 must be strictly increasing"),
    ]:
        meta = json.loads(json.dumps(good))
        meta["features"][0]["properties"]["dates-S2"] = value
        path.write_text(json.dumps(meta))
        with pytest.raises(DatasetFormatError, match=rf"metadata\.geojson: {message}"):
            read_metadata(tmp_path)


@pytest.mark.parametrize("fiona_strings", [True, False], ids=["fiona-strings", "pyogrio-dicts"])
def test_pastis_matches_official_loader(tmp_path, monkeypatch, fiona_strings):
    official = _official_module(tmp_path, "pastis", "code/dataloader.py", monkeypatch, fiona_strings)
    root = tmp_path / "PASTIS"
    dataset_fixtures.write_pastis(root, n_patches=4, dates_as_string=not fiona_strings)
    dataset = official.PASTIS_Dataset(str(root), norm=False, folds=[1, 3, 4], target="semantic")
    assert list(dataset.id_patches) == sorted(read_pastis(root, folds=(1, 3, 4)))
    for item, pid in enumerate(dataset.id_patches):
        (data, dates), target = dataset[item]
        cube = read_patch(root, int(pid), lazy=False)
        np.testing.assert_allclose(cube["reflectance"].values, data["S2"].numpy() * np.float32(1e-4), rtol=1e-6)
        days = (cube["time"].values.astype("datetime64[D]") - np.datetime64("2018-09-01")).astype(int)
        np.testing.assert_array_equal(days, dates["S2"].numpy())
        official_target = target.numpy()
        np.testing.assert_array_equal(cube["class"].values, np.where(official_target == 19, -1, official_target))


# --- S2-Agri Pixel-Set ----------------------------------------------------------------------------------


def test_pixelset_round_trip(tmp_path):
    written = dataset_fixtures.write_pixelset(tmp_path, n_parcels=3, n_dates=4)
    samples = read_pixelset(tmp_path)
    validate_samples(samples)
    sizes = [written["arrays"][p].shape[2] for p in range(3)]
    assert samples.sizes == {"sample": 3, "time": 4, "band": 10, "pixel": max(sizes)}
    for k in range(3):
        expected = written["arrays"][k].astype(np.float32) * np.float32(1e-4)
        np.testing.assert_allclose(samples["pixels"].values[k, :, :, : sizes[k]], expected)
        assert np.isnan(samples["pixels"].values[k, :, :, sizes[k]:]).all()
        np.testing.assert_array_equal(samples["pixel_mask"].values[k], np.arange(max(sizes)) < sizes[k])
        np.testing.assert_allclose(samples["series"].values[k], expected.mean(axis=2), rtol=1e-6)
    assert samples["label"].values.tolist() == [written["labels"][p] for p in range(3)]
    assert samples["parcel_id"].values.tolist() == [0, 1, 2] and samples["group"].values.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(samples["date"].values[1], written["dates"].astype("datetime64[ns]"))
    assert samples.attrs["class_names"] == [f"class_{k}" for k in range(max(written["labels"].values()) + 1)]
    assert bool(samples["valid"].all())


def test_pixelset_psetae_sub_classes(tmp_path):
    # pytorch-psetae train.py lines 170 and 175 (and L-TAE train.py line 169): sub_classes of label_44class
    assert PSETAE_SUB_CLASSES == (1, 3, 4, 5, 6, 8, 9, 12, 13, 14, 16, 18, 19, 23, 28, 31, 33, 34, 36, 39)
    labels = [39, 2, 1, 23, 0, 44 - 1, 19, 3, 28]
    dataset_fixtures.write_pixelset(tmp_path, n_parcels=len(labels), labels=labels, empty=(6,))
    samples = read_pixelset(tmp_path, sub_classes=PSETAE_SUB_CLASSES)
    validate_samples(samples)
    d = json.loads((tmp_path / "META" / "labels.json").read_text())
    pids = [p.stem for p in (tmp_path / "DATA").glob("*.npy")]
    official_ids, official_targets = _official_sub_classes(pids, d, "label_44class", list(PSETAE_SUB_CLASSES))
    assert samples["parcel_id"].values.tolist() == official_ids == [0, 2, 3, 6, 7, 8]
    assert samples["label"].values.tolist() == official_targets == [19, 0, 13, 12, 1, 14]
    assert len(samples.attrs["class_names"]) == 20 and samples.attrs["class_names"][19] == "class_39"
    names = [f"name{k}" for k in range(44)]
    named = read_pixelset(tmp_path, sub_classes=PSETAE_SUB_CLASSES, class_names=names)
    assert named.attrs["class_names"] == [f"name{c}" for c in PSETAE_SUB_CLASSES]
    assert named.attrs["sub_classes"] == list(PSETAE_SUB_CLASSES)
    with pytest.raises(DatasetFormatError, match=r"labels\.json: no parcel has a label in sub_classes \[40\]"):
        read_pixelset(tmp_path, sub_classes=[40])
    with pytest.raises(ValueError, match="distinct class ids"):
        read_pixelset(tmp_path, sub_classes=[1, 1])


def test_pixelset_parcel_without_pixel_is_kept(tmp_path):
    written = dataset_fixtures.write_pixelset(tmp_path, n_parcels=3, empty=(1,))
    assert written["arrays"][1].shape == (4, 10, 0)
    samples = read_pixelset(tmp_path)
    validate_samples(samples)
    assert samples.sizes["sample"] == 3 and samples["parcel_id"].values.tolist() == [0, 1, 2]
    assert not samples["pixel_mask"].values[1].any() and np.isnan(samples["series"].values[1]).all()
    assert not samples["valid"].values[1].any() and samples["valid"].values[[0, 2]].all()


def test_pixelset_max_pixels(tmp_path):
    written = dataset_fixtures.write_pixelset(tmp_path, n_parcels=4)
    full = read_pixelset(tmp_path)
    cut = read_pixelset(tmp_path, max_pixels=3)
    assert cut.sizes["pixel"] == 3 and cut["pixel_mask"].values.sum(axis=1).tolist() == [2, 3, 3, 3]
    np.testing.assert_array_equal(cut["series"].values, full["series"].values)  # the mean of every pixel
    raw = written["arrays"][3].astype(np.float32) * np.float32(1e-4)
    kept = cut["pixels"].values[3]
    assert all(any(np.array_equal(kept[:, :, j], raw[:, :, i]) for i in range(raw.shape[2])) for j in range(3))
    again = read_pixelset(tmp_path, ids=[3], max_pixels=3)  # the draw depends on the parcel, not on the others
    np.testing.assert_array_equal(again["pixels"].values[0], kept)
    with pytest.raises(ValueError, match="max_pixels must be a positive"):
        read_pixelset(tmp_path, max_pixels=0)


def test_pixelset_unknown_class_and_nomenclature(tmp_path):
    written = dataset_fixtures.write_pixelset(tmp_path)
    top = max(written["labels"].values())
    with pytest.raises(DatasetFormatError, match=rf"labels\.json: unknown class id\(s\) \[{top}\]"):
        read_pixelset(tmp_path, class_names=[f"c{k}" for k in range(top)])
    with pytest.raises(DatasetFormatError, match=r"labels\.json: no nomenclature 'label_99'"):
        read_pixelset(tmp_path, nomenclature="label_99")
    labels = json.loads((tmp_path / "META" / "labels.json").read_text())
    labels["label_44class"]["1"] = 2.0  # an integral float is accepted, as by the official loader
    labels["label_44class"]["2"] = "wheat"
    (tmp_path / "META" / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(DatasetFormatError, match=r"labels\.json: 'label_44class' label 'wheat' is not an integer"):
        read_pixelset(tmp_path)
    assert read_pixelset(tmp_path, ids=[0, 1])["label"].values[1] == 2


def test_pixelset_wrong_shape_missing_and_truncated(tmp_path):
    dataset_fixtures.write_pixelset(tmp_path, n_dates=4)
    np.save(tmp_path / "DATA" / "1.npy", np.zeros((5, 10, 2), dtype=np.uint16))
    with pytest.raises(DatasetFormatError, match=r"1\.npy: array has shape \(5, 10, 2\), expected \(4, 10, S\)"):
        read_pixelset(tmp_path)
    np.save(tmp_path / "DATA" / "1.npy", np.zeros((4, 10, 2), dtype=np.uint16))
    _truncate(tmp_path / "DATA" / "2.npy")
    with pytest.raises(DatasetFormatError, match=r"2\.npy: unreadable or truncated"):
        read_pixelset(tmp_path)
    (tmp_path / "META" / "dates.json").unlink()
    with pytest.raises(DatasetFormatError, match=r"dates\.json: missing file"):
        read_pixelset(tmp_path)


def test_pixelset_feeds_pse_tae_dataset(tmp_path):
    from sitsbench.data.datasets import SamplePixelSetDataset

    dataset_fixtures.write_pixelset(tmp_path, n_parcels=3, empty=(2,))
    samples = read_pixelset(tmp_path)
    data = SamplePixelSetDataset(samples, np.zeros(3, dtype=np.int8), "train", n_pixels=4)
    assert data[0]["x"].shape == (4, 10, 4) and not data[2]["x"].any()


def test_pixelset_matches_official_loader(tmp_path, monkeypatch):
    official = _official_module(tmp_path, "psetae", "dataset.py", monkeypatch)
    root = tmp_path / "S2Agri"
    labels = [39, 2, 1, 23, 0, 43, 19, 3, 28]
    written = dataset_fixtures.write_pixelset(root, n_parcels=len(labels), labels=labels, empty=(6,))
    npixel = max(a.shape[2] for a in written["arrays"].values()) + 1  # no random draw: every pixel is returned
    dataset = official.PixelSetData(str(root), labels="label_44class", npixel=npixel,
                                    sub_classes=list(PSETAE_SUB_CLASSES), jitter=None, return_id=True)
    samples = read_pixelset(root, sub_classes=PSETAE_SUB_CLASSES)
    assert len(dataset) == samples.sizes["sample"] == 6
    for k in range(len(dataset)):
        (x, mask), y, pid = dataset[k]
        assert int(pid) == samples["parcel_id"].values[k] and int(y) == samples["label"].values[k]
        real = mask.numpy()[0].astype(bool)
        ours = samples["pixel_mask"].values[k]
        if not ours.any():  # S = 0: the official class returns zeros with mask[0] = 1 (dataset.py lines 111-114)
            assert real.tolist() == [True] + [False] * (npixel - 1) and not x.numpy().any()
            continue
        np.testing.assert_allclose(samples["pixels"].values[k][:, :, ours], x.numpy()[:, :, real] * 1e-4, rtol=1e-6)


# --- PASTIS-R pixel-set ---------------------------------------------------------------------------------


def test_pastis_r_pixelset_round_trip(tmp_path):
    written = dataset_fixtures.write_pastis_r_pixelset(tmp_path, n_patches=4, parcels_per_patch=2)
    meta = json.loads((tmp_path / "metadata.geojson").read_text())
    assert isinstance(meta["features"][0]["properties"]["dates-S2"], str)
    samples = read_pastis_r_pixelset(tmp_path, rotation=3)
    validate_samples(samples)
    table = written["table"].sort_values("ID_PARCEL")
    assert samples["parcel_id"].values.tolist() == table["ID_PARCEL"].tolist() == samples["group"].values.tolist()
    assert samples["patch_id"].values.tolist() == table["ID_PATCH"].tolist()
    raw = table["Label"].to_numpy()
    assert samples["label"].values.tolist() == np.where(raw == 19, -1, raw - 1).tolist()
    assert samples.attrs["class_names"] == list(CLASS_NAMES[1:]) and len(samples.attrs["class_names"]) == 18
    # rotation 3: train folds 4, 5, 1; val 2; test 3
    assert samples["split"].values.tolist() == [0, 0, 1, 1, 2, 2, 0, 0]
    for k, (pid, patch) in enumerate(zip(table["ID_PARCEL"], table["ID_PATCH"])):
        dates = written["patch_dates"][patch]["S2"]
        n = dates.size
        np.testing.assert_array_equal(samples["date"].values[k, :n], dates.astype("datetime64[ns]"))
        assert np.isnat(samples["date"].values[k, n:]).all()
        array = written["arrays"]["S2"][pid].astype(np.float32) * np.float32(1e-4)
        size = array.shape[2]
        assert samples["pixel_mask"].values[k].sum() == size
        np.testing.assert_allclose(samples["pixels"].values[k, :n, :, :size], array)
        if size == 0:
            assert not samples["valid"].values[k].any()
        else:
            np.testing.assert_allclose(samples["series"].values[k, :n], array.mean(axis=2), rtol=1e-6)
    assert read_pastis_r_pixelset(tmp_path, folds=[2]).sizes["sample"] == 2
    kept = read_pastis_r_pixelset(tmp_path, drop_void=True)
    assert -1 not in kept["label"].values and kept.sizes["sample"] == (raw != 19).sum()


def test_pastis_r_pixelset_sentinel1(tmp_path):
    written = dataset_fixtures.write_pastis_r_pixelset(tmp_path, sensors=("S2", "S1A"), dates_as_string=False)
    samples = read_pastis_r_pixelset(tmp_path, sensor="S1A", bands=["VV", "VH", "VV/VH"])
    validate_samples(samples)
    assert samples["band"].values.tolist() == ["VV", "VH", "VV/VH"] and samples.attrs["sensor"] == "S1A"
    first = int(samples["parcel_id"].values[0])
    patch = int(samples["patch_id"].values[0])
    n = written["patch_dates"][patch]["S1A"].size
    np.testing.assert_array_equal(samples["date"].values[0, :n], written["patch_dates"][patch]["S1A"])
    np.testing.assert_allclose(samples["pixels"].values[0, :n, :, :1], written["arrays"]["S1A"][first])
    assert read_pastis_r_pixelset(tmp_path, sensor="S1A")["band"].values.tolist() == ["S1_0", "S1_1", "S1_2"]
    with pytest.raises(DatasetFormatError, match=r"metadata\.geojson: feature 0 lacks properties \['dates-S1D'\]"):
        read_pastis_r_pixelset(tmp_path, sensor="S1D")


def test_pastis_r_pixelset_refuses_other_layouts_and_bad_files(tmp_path):
    dataset_fixtures.write_pastis(tmp_path / "patches", n_patches=1)
    with pytest.raises(DatasetFormatError, match=r"no metadata_parcel\.csv; this looks like the PASTIS / PASTIS-R "
                                                 r"patch layout.*PASTIS-R pixel-set \(metadata_parcel\.csv"):
        read_pastis_r_pixelset(tmp_path / "patches")
    with pytest.raises(DatasetFormatError, match=r"metadata_parcel\.csv: missing file \(expected the parcel table"):
        read_pastis_r_pixelset(tmp_path / "nothing")
    root = tmp_path / "pixelset"
    written = dataset_fixtures.write_pastis_r_pixelset(root)
    table = written["table"]
    table.drop(columns="Fold").to_csv(root / "metadata_parcel.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"metadata_parcel\.csv: missing column\(s\) \['Fold'\]"):
        read_pastis_r_pixelset(root)
    table.assign(Label=[25] + table["Label"].tolist()[1:]).to_csv(root / "metadata_parcel.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"metadata_parcel\.csv: Label 25, expected a PASTIS class 0-19"):
        read_pastis_r_pixelset(root)
    table.assign(ID_PATCH=[99] + table["ID_PATCH"].tolist()[1:]).to_csv(root / "metadata_parcel.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"metadata_parcel\.csv: ID_PATCH \[99\] has no feature"):
        read_pastis_r_pixelset(root)
    table.to_csv(root / "metadata_parcel.csv", index=False)
    pid = int(table["ID_PARCEL"].iloc[0])
    np.save(root / "DATA_S2" / f"S2_{pid}.npy", np.zeros((9, 10, 2), dtype=np.int16))
    with pytest.raises(DatasetFormatError, match=rf"S2_{pid}\.npy: array has shape \(9, 10, 2\), expected \(3, 10, S\)"):
        read_pastis_r_pixelset(root)
    with pytest.raises(ValueError, match="sensor must be one of"):
        read_pastis_r_pixelset(root, sensor="S3")


@pytest.mark.parametrize("fiona_strings", [True, False], ids=["fiona-strings", "pyogrio-dicts"])
def test_pastis_r_pixelset_matches_official_loader(tmp_path, monkeypatch, fiona_strings):
    official = _official_module(tmp_path, "pastis", "code/dataloader_pixelset.py", monkeypatch, fiona_strings)
    root = tmp_path / "PASTIS-R-PixelSet"
    written = dataset_fixtures.write_pastis_r_pixelset(root, n_patches=3, parcels_per_patch=3, dates_as_string=not fiona_strings)
    npixel = max(a.shape[2] for a in written["arrays"]["S2"].values()) + 1  # no random draw
    dataset = official.PASTIS_Dataset_PixelSet(str(root), norm=False, n_pixel=npixel, geom_features=False,
                                               folds=[1, 3], ignore_label=19)
    samples = read_pastis_r_pixelset(root, folds=[1, 3], drop_void=True)
    assert list(dataset.id_parcels) == samples["parcel_id"].values.tolist()
    for k in range(len(dataset)):
        item = dataset[k]
        assert int(item["label"]) == samples["label"].values[k]
        days = (samples["date"].values[k].astype("datetime64[D]") - np.datetime64("2018-09-01")).astype(int)
        n = item["dates-S2"].numel()
        np.testing.assert_array_equal(days[:n], item["dates-S2"].numpy())
        x, mask = item["S2"]
        real = mask.numpy().astype(bool)
        ours = samples["pixel_mask"].values[k]
        if not ours.any():  # S = 0: official zeros with mask[0] = 1 (dataloader_pixelset.py lines 295-298)
            assert real.tolist() == [True] + [False] * (npixel - 1) and not x.numpy().any()
            continue
        np.testing.assert_allclose(samples["pixels"].values[k, :n][:, :, ours], x.numpy()[:, :, real] * 1e-4,
                                   rtol=1e-6)
