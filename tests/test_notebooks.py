"""The chapter notebooks: stored without outputs, listed in the book, and runnable headless (quick profile)."""

import json
import os
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest

from sitsbench.book import BookBuildError, execute_notebook, notebooks_in_toc

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SHARED = REPO.parent / "shared" / "data"
VICTORIA, CERRADO = SHARED / "igarss2019_victoria_s2", SHARED / "sits_samples" / "cerrado_2classes.rda"
SINOP = SHARED / "sits_sinop_modis"


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"real sample {path} absent (../shared/data not beside the clone)")


def record_of(run: Path) -> dict:
    """The run record a chapter wrote into its run folder (see the ``chapter_run`` fixture)."""
    return json.loads((run / "record.json").read_text())


def test_toc_lists_exactly_the_notebooks():
    assert sorted(notebooks_in_toc(REPO / "book")) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean_with_one_parameters_cell(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip outputs before committing"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    for knob in ("profile", "seed", "output_dir", "dataset"):
        assert f"{knob} =" in tagged[0].source
    cell_ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]  # nbformat 4.5: ids required
    assert None not in cell_ids and len(set(cell_ids)) == len(cell_ids), "every cell needs its own id"


def test_a_failing_cell_fails_the_build_and_is_named(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("profile = 'quick'\noutput_dir = '.'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom in chapter')"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(BookBuildError, match=r"broken.ipynb failed in cell \d+: ValueError: boom in chapter") as error:
        execute_notebook(path, tmp_path / "out.ipynb", {"profile": "quick"}, cwd=tmp_path)
    assert isinstance(error.value.__cause__, papermill.PapermillExecutionError)


def test_a_parameter_the_chapter_would_refuse_is_named_before_its_kernel_starts(tmp_path):
    """A profile outside quick/full, or a scalar for a list knob, used to fail inside the executed notebook (a cell
    traceback); now one line naming the parameter, and no executed copy is written."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("profile = 'quick'\nmodels = ['rf']", metadata={"tags": ["parameters"]})]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    for parameters, message in (({"profile": "fast"}, "parameter 'profile' must be one of ('quick', 'full'), got 'fast'"),
                                ({"models": "rf"}, "parameter 'models' must be a list like its default ['rf'], got str 'rf'")):
        with pytest.raises(BookBuildError) as error:
            execute_notebook(path, tmp_path / "out.ipynb", parameters, cwd=tmp_path)
        assert str(error.value) == f"notebook chapter.ipynb: {message}"
    assert not (tmp_path / "out.ipynb").exists()


def test_book_executions_hide_their_bookkeeping(tmp_path, monkeypatch):
    """A chapter executed for the book: no tqdm progress bar in its outputs (even when the caller's environment asks
    for them) and papermill's injected-parameters cell tagged ``remove-cell`` (it holds the build's run folder)."""
    monkeypatch.setenv("TQDM_DISABLE", "0")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from tqdm import tqdm\nfor _ in tqdm(range(3), desc='busy'):\n    pass"),
    ]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    execute_notebook(path, tmp_path / "out.ipynb", {"profile": "full"}, cwd=tmp_path)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    injected = [cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert "busy" not in json.dumps([cell.get("outputs", []) for cell in executed.cells])
    assert os.environ["TQDM_DISABLE"] == "0", "the caller's environment is restored"


@pytest.mark.slow
def test_chapter_two_baselines_beat_the_majority_class(chapter_run):
    metrics = record_of(chapter_run("02_supervised_baselines"))["metrics"]
    expected = {"majority class", "Random Forest", "TempCNN", "LSTM", "GRU", "Transformer", "L-TAE", "PSE-TAE", "U-TAE"}
    assert set(metrics) == expected
    floor = metrics["majority class"]["macro_f1"]
    for name in ("Random Forest", "TempCNN", "L-TAE", "Transformer"):
        assert metrics[name]["macro_f1"] > floor + 0.4, name
        assert metrics[name]["train_time_s"] > 0


@pytest.mark.slow
def test_performance_chapter_records_every_measurement_and_flat_memory(chapter_run):
    """Timings are compared in ``benchmarks/`` (same-run ratios), not here: a ratio of two timings depends on the
    machine and its load (the cube path beat the raw memmap on a CI machine with parallel decompression). This
    test checks that every measurement is recorded as a finite positive number and the traced memory, which does
    not depend on the load."""
    metrics = record_of(chapter_run("07_performance"))["metrics"]
    expected = {"dataset_read_s", "dataset_prepared_samples_per_s", "map_pixels_per_s", "map_time_ratio_last",
                "map_pixel_ratio_last", "map_memory_ratio_last", "data_path_cube_over_memmap_time",
                "ssl_epoch_time_vs_supervised_simclr", "ssl_epoch_time_vs_supervised_dino",
                "str_extraction_speed_up_random_walk", "str_extraction_speed_up_hilbert"}
    assert expected <= set(metrics)
    assert {"train_samples_per_s_tempcnn", "train_samples_per_s_ltae"} <= set(metrics)
    for name, value in metrics.items():
        for number in np.ravel(value):
            assert np.isfinite(number) and number > 0, name
    assert metrics["ssl_epoch_time_vs_supervised_supervised"] == 1
    assert metrics["map_pixel_ratio_last"] == 16
    assert metrics["map_memory_ratio_last"] < 3  # traced memory does not follow the x16 cube


# --- chapters on real data (../shared/data) ------------------------------------------------------------
# These tests check the real-data path of each chapter (reading, splitting, which sections run or are skipped, the
# record), not how well the models learn, which the default-data tests above check: the chapters that train for
# minutes run with less training here (same code paths). The book runs them on the real samples at the full quick
# profile (sitsbench.book.REAL_DATA_RUNS).
REAL_DATA_SMALL = {
    "03_autoencoders": {"epochs": 2, "label_fractions": [0.1, 1.0]},
    "05_ssl_pretraining": {"epochs": 2, "label_fractions": [0.1, 1.0]},
    "06_downstream": {"pretrain_epochs": 1, "ae_epochs": 2, "seeds": [0, 1], "fractions": [0.1, 1.0],
                      "finetune_steps": 40, "n_boot": 200, "ssl_methods": ["dino", "masked"]},
}


@pytest.mark.slow
@pytest.mark.parametrize(("path", "name"), [pytest.param(VICTORIA, "victoria-s2", marks=needs(VICTORIA)),
                                            pytest.param(CERRADO, "sits-samples", marks=needs(CERRADO))],
                         ids=["victoria", "cerrado"])
def test_chapter_two_runs_on_real_samples(chapter_run, path, name):
    from sitsbench.data.loading import content_checksum

    record = record_of(chapter_run("02_supervised_baselines", f"02_supervised_baselines--{name}", dataset=str(path)))
    dataset, metrics = record["dataset"], record["metrics"]
    assert dataset["name"] == name and dataset["checksum"] == content_checksum(path)
    assert dataset["manifest_sha256"], "a verified copy of a published dataset pins its manifest"
    assert dataset["split"].startswith("group"), "Victoria's published split leaks polygons; Cerrado has none"
    assert set(metrics) == {"majority class", "Random Forest", "TempCNN", "LSTM", "GRU", "Transformer", "L-TAE"}
    assert set(dataset["skipped"]) == {"PSE-TAE", "U-TAE"}
    assert dataset["test_pixels"] == metrics["TempCNN"]["n"]  # the real-data page's count of test series
    floor = metrics["majority class"]["oa"]
    for model in ("Random Forest", "TempCNN", "L-TAE"):
        assert metrics[model]["oa"] > floor + 0.3, model


@pytest.mark.slow
def test_chapter_two_runs_on_a_pastis_patch_set_given_by_path(chapter_run, tmp_path):
    """A PASTIS patch set (five 32 x 32 patches, one per fold, 3 to 7 dates each) as ``dataset``: the official
    folds of rotation 1 split it (test = fold 5); the series models and PSE-TAE classify its parcels, U-TAE
    segments its patches, all on the 18 crop types, and no section is skipped."""
    from dataset_fixtures import write_pastis

    written = write_pastis(tmp_path / "patches", n_patches=5, size=32)
    record = record_of(chapter_run("02_supervised_baselines", "02_supervised_baselines--pastis-fixture",
                                   dataset=str(tmp_path / "patches"), epochs=1, parcel_epochs=1, patch_epochs=1,
                                   rf_trees=10))
    dataset, metrics = record["dataset"], record["metrics"]
    assert dataset["layout"] == "pastis" and dataset["n_patches"] == 5 and dataset["fold_rotation"] == 1
    assert dataset["split"].startswith("predefined") and dataset["skipped"] == {}
    assert len(dataset["classes"]) == 18 and dataset["classes"][0] == "Meadow"
    assert set(metrics) == {"majority class", "Random Forest", "TempCNN", "LSTM", "GRU", "Transformer", "L-TAE",
                            "PSE-TAE", "U-TAE"}
    test = next(w for w in written.values() if w["fold"] == 5)  # the test fold of rotation 1
    parcels = test["parcel_ids"] * (test["target"][0] != 0)
    crop_pixels = ~np.isin(test["target"][0], (0, 19))
    for name, scores in metrics.items():
        assert 0 <= scores["macro_f1"] <= 1, name
        assert scores["n"] == (crop_pixels.sum() if name == "U-TAE" else np.unique(parcels[parcels > 0]).size), name
    units = {row["method"]: row["unit"] for row in record["scores"]}
    assert units["U-TAE"] == "patch" and units["PSE-TAE"] == "parcel" and units["TempCNN"] == "sample"


@pytest.mark.slow
@needs(VICTORIA)
def test_chapter_six_classification_runs_on_victoria(chapter_run):
    """Without SimCLR among its SSL methods too (the chapter once assumed it: KeyError 'simclr')."""
    record = record_of(chapter_run("06_downstream", "06_downstream--victoria-small", dataset=str(VICTORIA),
                                   **REAL_DATA_SMALL["06_downstream"]))
    assert record["dataset"]["name"] == "victoria-s2"
    assert set(record["dataset"]["skipped"]) == {"segmentation", "change detection"}
    scores = [row for row in record["scores"] if row["metric"] == "macro_f1"]
    curves = {(row["method"], row["encoder"]) for row in scores if "n_labels" in row}
    assert {("supervised", None), ("random forest", "raw series"), ("linear probe", "DINO"),
            ("linear probe", "masked series")} <= curves
    assert not any(method == "Deep-STaR" or encoder == "SimCLR" for method, encoder in curves)
    full = [row["value"] for row in scores if row["method"] == "random forest" and row["label_fraction"] == 1.0]
    assert min(full) > 1 / 8 + 0.3, "8 classes: the forest on raw series beats chance by a margin"
    assert {row["unit"] for row in scores} == {"sample", "parcel"} and record["intervals"] and record["differences"]
    assert record["metrics"]["segmentation"]["rows"] == []


@pytest.mark.slow
@needs(SINOP)
def test_chapter_one_walks_through_sinop_rasters_and_points(chapter_run):
    import rioxarray

    from sitsbench.data import georef, load_dataset

    run = chapter_run("01_sits_data", "01_sits_data--sinop", dataset=str(SINOP))
    record = record_of(run)
    assert record["dataset"]["name"] == "sits-sinop-modis" and record["dataset"]["kind"] == "cube+samples"
    metrics = record["metrics"]
    assert metrics["real_n_points"] == 18 and metrics["real_map_same_crs_and_transform"]
    written = rioxarray.open_rasterio(run / "sinop_map.tif")
    cube = load_dataset(SINOP).cube
    assert written.rio.crs == georef.crs_of(cube) and written.shape[1:] == (cube.sizes["y"], cube.sizes["x"])
    assert set(map(int, set(written.values.ravel().tolist()))) <= {0, 1, 2, 3}


@pytest.mark.slow
@needs(VICTORIA)
@pytest.mark.parametrize("chapter", ["03_autoencoders", "04_deepstar_planes", "05_ssl_pretraining"])
def test_other_chapters_take_real_samples(chapter_run, chapter):
    record = record_of(chapter_run(chapter, f"{chapter}--victoria-small", dataset=str(VICTORIA),
                                   **REAL_DATA_SMALL.get(chapter, {})))
    assert record["dataset"]["name"] == "victoria-s2"
    if chapter == "04_deepstar_planes":
        assert "no cube with parcels" in record["dataset"]["skipped"] and record["metrics"] == {}
    else:
        assert record["metrics"], "the sample-level sections ran"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path):
    """papermill cannot parse a parameters line whose comment holds '=' and then warns of unknown parameters."""
    notebook = nbformat.read(path, as_version=4)
    tagged = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    assigned = [line.split("=")[0].strip() for line in tagged.source.splitlines()
                if "=" in line and not line.lstrip().startswith("#")]
    assert list(papermill.inspect_notebook(str(path))) == assigned


@pytest.mark.slow
def test_chapter_one_runs_on_a_small_landscape(chapter_run):
    """80 x 80 px with seed 2 once died in the patch cell (no 32-px block mostly in the training split)."""
    record = record_of(chapter_run("01_sits_data", "01_sits_data--small-landscape", size=80, seed=2, real_data="none"))
    assert record["parameters"]["size"] == 80 and record["metrics"]["rf_overall_accuracy"] > 0.4


@pytest.mark.slow
def test_model_to_map_chapter_maps_a_new_landscape_and_assesses_it_honestly(chapter_run):
    import rasterio

    run = chapter_run("08_model_to_map")
    record = record_of(run)
    metrics = record["metrics"]
    assert metrics["test_oa"] > 0.6 and metrics["map_pixel_agreement"] > 0.6
    assert metrics["entropy_wrong"] > metrics["entropy_right"], "the uncertainty layer is higher where the map is wrong"
    # the error-adjusted estimate is closer to the true areas on average than the pixel count, and its 95 % intervals
    # (where the sample saw errors) cover the truth most of the time (normal approximation: not exactly 95 %)
    assert metrics["estimate_relative_error"] < metrics["pixel_count_relative_error"] / 3
    assert 0.88 < metrics["ci_coverage"] <= 1.0 and metrics["zero_width_share"] < 0.6
    assert abs(metrics["overall_accuracy"] - metrics["map_pixel_agreement"]) < 3 * metrics["overall_accuracy_ci"]
    with rasterio.open(run / "map.tif") as src:
        assert src.crs.to_epsg() == 32631 and src.transform.a == 10.0
    rates = {row["model"]: row["pixels_per_s"] for row in metrics["throughput"]}
    assert set(rates) == {"rf", "tempcnn", "ltae"} and min(rates.values()) > 0
    if SINOP.exists():
        assert metrics["sinop_same_crs_and_transform"]


@pytest.mark.slow
def test_pretraining_scale_chapter_measures_the_gain_against_pool_size(chapter_run):
    """Chapter 9: pools spanning two orders of magnitude at a fixed budget, every encoder learning, one paired interval
    per pool and label fraction, and the direct largest-minus-smallest comparison; on the Slovenia raster when it
    is present."""
    metrics = record_of(chapter_run("09_pretraining_scale"))["metrics"]
    pools = metrics["pools"]
    assert pools == sorted(pools) and pools[-1] / pools[0] >= 100
    assert all(run["final_loss"] < run["first_loss"] for run in metrics["pretraining"])  # every encoder learns
    assert len(metrics["pretraining"]) == 3 * len(pools)
    passes = {run["pool"]: run["passes"] for run in metrics["pretraining"]}
    assert passes[pools[0]] / passes[pools[-1]] == pytest.approx(pools[-1] / pools[0])  # same steps for every pool
    assert len(metrics["gains"]) == 3 * len(pools) and len(metrics["pool_effect"]) == 3 * 2  # vs smallest, vs next
    for row in metrics["gains"] + metrics["pool_effect"]:
        assert row["low"] <= row["difference"] <= row["high"] and row["n_seeds"] == 3
    probe = metrics["probe_macro_f1"]
    largest = f"SSL, pool {pools[-1]:,}"
    assert probe["1.0"][largest] > 0.3  # 10 classes: chance is about 0.1
    real = metrics["real"]
    if SHARED.exists():
        assert real["dataset"]["name"] == "eolearn-slovenia" and len(real["gains"]) == 9
    else:
        assert "skipped" in real
