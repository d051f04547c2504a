"""load_dataset: one entry point for presets, manifest names and paths recognised from their content."""

from __future__ import annotations

import shutil
from pathlib import Path

import dask.array
import dataset_fixtures
import numpy as np
import pytest

from sitsbench import cli
from sitsbench.data import load_dataset
from sitsbench.data.fetch import DownloadError
from sitsbench.data.io import open_cube
from sitsbench.data.loading import LAYOUTS, READERS, UnknownLayoutError, content_checksum, require_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent")


@pytest.mark.parametrize(("writer", "layout", "kind"), [
    (dataset_fixtures.write_breizhcrops, "breizhcrops", "samples"),
    (dataset_fixtures.write_timesen2crop, "timesen2crop", "samples"),
    (dataset_fixtures.write_pixelset, "pixelset", "samples"),
    (dataset_fixtures.write_pastis_r_pixelset, "pastis-r pixelset", "samples"),
    (dataset_fixtures.write_victoria, "victoria", "samples"),
    (dataset_fixtures.write_eolearn_ndvi, "eolearn", "cube"),
])
def test_layouts_are_recognised_from_the_content(tmp_path, writer, layout, kind):
    root = tmp_path / "some_name"  # the folder's name says nothing: the content does
    root.mkdir()
    writer(root)
    loaded = load_dataset(root)
    assert loaded.layout == layout and loaded.kind == kind
    assert loaded.checksum == content_checksum(root) and loaded.checksum.startswith("sha256:")
    record = loaded.record()
    assert record["layout"] == layout and record["source"] == str(root)


def test_unknown_folders_get_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownLayoutError) as error:
        load_dataset(tmp_path / "empty")
    assert all(f"- {name}:" in str(error.value) for name in LAYOUTS) and list(LAYOUTS) == list(READERS)
    with pytest.raises(FileNotFoundError, match="neither an existing path, a synthetic preset"):
        load_dataset(tmp_path / "absent")
    assert cli.main(["data", "info", str(tmp_path / "empty")]) == 2


def test_pastis_patch_sets_load_lazily_with_the_official_folds(tmp_path, capsys):
    root = tmp_path / "patches"
    written = dataset_fixtures.write_pastis(root, n_patches=5, size=8)
    for spec in (root, f"pastis:{root}"):  # a path, or the manifest name with its root
        loaded = load_dataset(spec)
        assert loaded.layout == "pastis" and loaded.kind == "patches" and loaded.cube is None
        assert loaded.samples is None  # nothing read until asked for
    patches = loaded.patches
    assert len(patches) == 5 and patches.rotation == 0
    folds = {pid: w["fold"] for pid, w in written.items()}
    assert {s: patches.subset_ids(s) for s in ("train", "val", "test")} == {
        "train": sorted(p for p, f in folds.items() if f in (1, 2, 3)),
        "val": [p for p, f in folds.items() if f == 4], "test": [p for p, f in folds.items() if f == 5]}
    cube = patches.patch(10002)
    assert isinstance(cube["reflectance"].data, dask.array.Array) and cube.sizes["time"] == 5
    crops = patches.patch(10002, background=False)
    semantic = written[10002]["target"][0].astype(int)
    expected = np.where((semantic == 0) | (semantic == 19), -1, semantic - 1)
    np.testing.assert_array_equal(crops["class"].values, expected)
    assert crops.attrs["class_names"][0] == "Meadow" and len(crops.attrs["class_names"]) == 18
    # parcel samples: one per parcel of each patch, the mean of its pixels, the majority crop type, the fold's split
    samples = loaded.labelled
    assert loaded.samples is samples and loaded.kind == "samples+patches"
    parcels = {pid: w["parcel_ids"] * (w["target"][0] != 0) for pid, w in written.items()}
    assert samples.sizes["sample"] == sum(np.unique(p[p > 0]).size for p in parcels.values())
    k = int(np.flatnonzero(samples["patch_id"].values == 10001)[1])
    pid, parcel = 10001, int(samples["parcel_id"].values[k])
    rows, cols = np.nonzero(parcels[pid] == parcel)
    pixels = written[pid]["s2"][:, :, rows, cols].astype(np.float64) * 1e-4
    n_dates = written[pid]["dates"].size
    np.testing.assert_allclose(samples["series"].values[k, :n_dates], pixels.mean(axis=2), rtol=1e-5)
    assert np.isnat(samples["date"].values[k, n_dates:]).all()
    classes = written[pid]["target"][0][rows, cols].astype(int)
    classes = classes[(classes != 0) & (classes != 19)]
    assert samples["label"].values[k] == (np.bincount(classes).argmax() - 1 if classes.size else -1)
    codes = {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}
    assert (samples["split"].values == [codes[folds[p]] for p in samples["patch_id"].values]).all()
    assert (samples["group"].values == samples["patch_id"].values).all()  # the folds split patches
    assert loaded.record()["n_patches"] == 5
    assert cli.main(["data", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pastis" in out and "patches" in out and "fold 5" in out and "3-7 per patch" in out
    assert "Soft winter wheat" in out and "rotation 1" in out
    with pytest.raises(ValueError, match="a PASTIS patch set holds one cube per patch"):  # predict-map's reader
        open_cube(root)


def test_synthetic_presets_and_their_checksum():
    toy = load_dataset("toy", seed=0)
    assert toy.layout == "synthetic" and toy.kind == "cube"
    assert load_dataset("toy", seed=0).checksum == toy.checksum != load_dataset("toy", seed=1).checksum
    samples = require_samples(toy)  # every labelled pixel, grouped by parcel
    labelled = np.asarray(toy.cube["class"].values) >= 0
    assert samples.sizes["sample"] == labelled.sum()
    assert np.unique(samples["group"].values).size == np.unique(toy.cube["parcel"].values[labelled]).size


@needs_shared
def test_manifest_name_with_root_is_checked_against_the_manifest(tmp_path, capsys):
    folder = SHARED / "igarss2019_victoria_s2"
    loaded = load_dataset(f"victoria-s2:{folder}")
    assert loaded.name == loaded.manifest == "victoria-s2" and loaded.samples.sizes["sample"] == 800
    copy = tmp_path / "victoria"
    shutil.copytree(folder, copy)
    for path in copy.rglob("*"):
        path.chmod(0o644)
    with open(copy / "class_map.txt", "a") as handle:
        handle.write(" ")
    with pytest.raises(DownloadError, match="class_map.txt"):
        load_dataset(f"victoria-s2:{copy}")
    altered = load_dataset(copy)  # by path: read, but not claimed to be the published data
    assert altered.manifest is None and altered.name == "victoria"
    assert cli.main(["data", "info", str(SHARED / "sits_samples" / "cerrado_2classes.rda")]) == 0
    out = capsys.readouterr().out
    assert "verified against manifest: sits-samples" in out and "Cerrado: 400" in out and "Pasture: 346" in out


def test_data_root_prefix_names_the_folder_of_real_samples(tmp_path, monkeypatch):
    """``DATA_ROOT/...`` (as the book's chapters and pages write real data) is the folder of real samples:
    ``$SITSBENCH_REAL_DATA``, else shared/data beside the repository."""
    from sitsbench.data.fetch import expand_data_root, real_data_root

    monkeypatch.delenv("SITSBENCH_REAL_DATA", raising=False)
    assert real_data_root() == Path(__file__).resolve().parents[2] / "shared" / "data"
    monkeypatch.setenv("SITSBENCH_REAL_DATA", str(tmp_path))
    assert expand_data_root("DATA_ROOT/victoria") == str(tmp_path / "victoria")
    assert expand_data_root("default") == "default" and expand_data_root("runs/DATA_ROOT/x") == "runs/DATA_ROOT/x"
    with pytest.raises(FileNotFoundError, match="neither an existing path"):
        load_dataset("DATA_ROOT/victoria")


def test_train_on_a_pastis_patch_set_classifies_its_parcels_by_the_official_folds(tmp_path):
    """``sitsbench train PATCH_SET`` trains a series model on the parcels (mean series) of the train folds and
    scores the test fold (rotation 1: folds 1-3 / 4 / 5); the record names the patch set."""
    import json

    written = dataset_fixtures.write_pastis(tmp_path / "patches", n_patches=5, size=8)
    parcels = {pid: np.unique(w["parcel_ids"] * (w["target"][0] != 0)) for pid, w in written.items()}
    per_fold = {w["fold"]: parcels[pid][parcels[pid] > 0].size for pid, w in written.items()}
    out = tmp_path / "model"
    assert cli.main(["train", str(tmp_path / "patches"), "--model", "ltae_small", "--epochs", "1",
                     "--date-policy", "doy", "--output", str(out), "--quiet"]) == 0
    record = json.loads((out / "train_record.json").read_text())
    assert record["metrics"]["split_policy"] == "predefined"
    assert record["metrics"]["n_train"] == per_fold[1] + per_fold[2] + per_fold[3]
    assert (record["metrics"]["n_val"], record["metrics"]["n_test"]) == (per_fold[4], per_fold[5])
    assert record["dataset"]["layout"] == "pastis" and record["dataset"]["n_patches"] == 5
