"""The chapter notebooks: stored without outputs, listed in the book, and runnable headless (quick profile)."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from sitsbench.book import BookBuildError, execute_notebook, notebooks_in_toc

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_toc_lists_exactly_the_notebooks():
    assert sorted(notebooks_in_toc(REPO / "book")) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean_with_one_parameters_cell(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip outputs before committing"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    for knob in ("profile", "seed", "output_dir"):
        assert f"{knob} =" in tagged[0].source
    cell_ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]  # nbformat 4.5: ids required
    assert None not in cell_ids and len(set(cell_ids)) == len(cell_ids), "every cell needs its own id"


@pytest.mark.slow
def test_chapter_one_runs_in_quick_mode_and_writes_its_record(tmp_path):
    out = tmp_path / "runs"
    execute_notebook(REPO / "notebooks" / "01_sits_data.ipynb", tmp_path / "out.ipynb",
                     {"profile": "quick", "output_dir": str(out)}, cwd=REPO)
    record = json.loads((out / "record.json").read_text())
    metrics = record["metrics"]
    assert record["parameters"]["profile"] == "quick"
    assert metrics["majority_class_accuracy"] + 0.3 < metrics["rf_overall_accuracy"] < 0.95


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


@pytest.mark.slow
def test_chapter_two_baselines_beat_the_majority_class(tmp_path):
    out = tmp_path / "runs"
    execute_notebook(REPO / "notebooks" / "02_supervised_baselines.ipynb", tmp_path / "out.ipynb",
                     {"profile": "quick", "output_dir": str(out)}, cwd=REPO)
    metrics = json.loads((out / "record.json").read_text())["metrics"]
    expected = {"majority class", "Random Forest", "TempCNN", "LSTM", "GRU", "Transformer", "L-TAE", "PSE-TAE", "U-TAE"}
    assert set(metrics) == expected
    floor = metrics["majority class"]["macro_f1"]
    for name in ("Random Forest", "TempCNN", "L-TAE", "Transformer"):
        assert metrics[name]["macro_f1"] > floor + 0.4, name
        assert metrics[name]["train_time_s"] > 0


@pytest.mark.slow
def test_performance_chapter_shows_linear_cost_and_flat_memory(tmp_path):
    out = tmp_path / "runs"
    execute_notebook(REPO / "notebooks" / "07_performance.ipynb", tmp_path / "out.ipynb",
                     {"profile": "quick", "output_dir": str(out)}, cwd=REPO)
    metrics = json.loads((out / "record.json").read_text())["metrics"]
    assert metrics["map_pixel_ratio_last"] == 16
    assert metrics["map_time_ratio_last"] > 3  # cost grows with the pixels...
    assert metrics["map_memory_ratio_last"] < 3  # ...while memory does not follow the x16 cube
    assert metrics["data_path_cube_over_memmap_time"] > 1
    assert metrics["train_samples_per_s_ltae"] > 0
    assert metrics["ssl_epoch_time_vs_supervised_simclr"] > 1  # augmenting and encoding 2 views costs more
    assert metrics["ssl_epoch_time_vs_supervised_dino"] > metrics["ssl_epoch_time_vs_supervised_simclr"]
    assert metrics["str_extraction_speed_up_random_walk"] > 2  # vectorised STRs beat the per-pixel loop
