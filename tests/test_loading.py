"""load_dataset: one entry point for presets, manifest names and paths recognised from their content."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sitsbench import cli
from sitsbench.data import fixtures as F
from sitsbench.data import load_dataset
from sitsbench.data.fetch import DownloadError
from sitsbench.data.loading import LAYOUTS, UnknownLayoutError, content_checksum, require_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent")


@pytest.mark.parametrize(("writer", "layout", "kind"), [
    (F.write_breizhcrops, "breizhcrops", "samples"),
    (F.write_timesen2crop, "timesen2crop", "samples"),
    (F.write_pixelset, "pixelset", "samples"),
    (F.write_pastis_r_pixelset, "pastis-r pixelset", "samples"),
    (F.write_victoria, "victoria", "samples"),
    (F.write_eolearn_ndvi, "eolearn", "cube"),
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


def test_patch_sets_and_unknown_folders_get_clear_errors(tmp_path):
    F.write_pastis(tmp_path / "pastis")
    with pytest.raises(UnknownLayoutError, match="read_pastis"):
        load_dataset(tmp_path / "pastis")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownLayoutError) as error:
        load_dataset(tmp_path / "empty")
    assert all(f"- {name}:" in str(error.value) for name in LAYOUTS)
    with pytest.raises(FileNotFoundError, match="neither an existing path, a synthetic preset"):
        load_dataset(tmp_path / "absent")
    assert cli.main(["data", "info", str(tmp_path / "empty")]) == 2


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
