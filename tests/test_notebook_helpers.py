"""What the chapters share (``sitsbench.notebook``): the run record every chapter ends with and the guard of the
sections that read real data."""

import json
import time

import pytest

from sitsbench.data import georef
from sitsbench.notebook import (
    CHAPTER_PARAMETERS,
    load_real_data,
    resolve_profile,
    start_chapter,
    write_chapter_record,
)
from sitsbench.records import DIFFERENCE_FIELDS, INTERVAL_FIELDS, read_run_record, score_row


def chapter_namespace(tmp_path, **more):
    """A chapter's ``globals()`` after its parameters cell and its imports: parameters, and names that are not."""
    return {"profile": "quick", "seed": 3, "dataset": "default", "output_dir": str(tmp_path / "run"),
            "epochs": None, "json": json, "knobs_seen": 1, **more}


def test_the_record_lands_in_the_run_folder_with_the_chapter_parameters_and_knobs(tmp_path, capsys):
    namespace = chapter_namespace(tmp_path, device="cpu")
    knobs = resolve_profile("quick", {"epochs": 2}, {"epochs": 50}, namespace)
    (tmp_path / "run").mkdir()
    started = time.perf_counter()
    rows = [score_row("synthetic/default", "random forest", "oa", 0.8, seed=3)]
    path = write_chapter_record("01_x", namespace, knobs, metrics={"oa": 0.8}, scores=rows, started=started,
                                dataset={"name": "default"}, extra={"split_seed": 4})
    assert path == tmp_path / "run" / "record.json"
    assert capsys.readouterr().out == f"run record: {path}\n"
    record = read_run_record(path)
    # the parameters of CHAPTER_PARAMETERS the chapter has, extra and the resolved knobs; not the run folder,
    # imports or other names of the namespace
    assert record["parameters"] == {"profile": "quick", "seed": 3, "device": "cpu", "dataset": "default",
                                    "split_seed": 4, "epochs": 2}
    assert record["name"] == "01_x" and record["seed"] == 3 and record["metrics"] == {"oa": 0.8}
    assert record["scores"] == rows and record["dataset"]["name"] == "default" and record["device"] == "cpu"
    assert 0 <= record["duration_s"] < time.perf_counter() - started + 1


def test_the_record_keeps_the_interval_and_difference_rows_it_is_given(tmp_path):
    namespace = chapter_namespace(tmp_path)
    (tmp_path / "run").mkdir()
    about = {"dataset": "synthetic/default", "method": "linear probe", "encoder": "SimCLR", "unit": "pixel",
             "label_fraction": 0.1, "metric": "macro_f1", "low": 0.5, "high": 0.7, "level": 0.95}
    interval = {**about, "estimate": 0.6}
    difference = {**about, "versus_method": "random forest", "versus_encoder": "raw series", "difference": 0.1}
    path = write_chapter_record("06_x", namespace, {}, metrics={}, intervals=[interval], differences=[difference])
    record = read_run_record(path)
    assert record["intervals"] == [{key: interval[key] for key in INTERVAL_FIELDS}]
    assert record["differences"] == [{key: difference[key] for key in DIFFERENCE_FIELDS}]
    with pytest.raises(ValueError, match=r"intervals\[0\]\.low"):
        write_chapter_record("06_x", namespace, {}, metrics={}, intervals=[{**interval, "low": "low"}])


def test_a_chapter_starts_with_its_run_folder_its_device_and_its_clock(tmp_path):
    import torch

    before = time.perf_counter()
    output, device, started = start_chapter(chapter_namespace(tmp_path, device="cpu"))
    assert output == tmp_path / "run" and output.is_dir() and device == torch.device("cpu")
    assert before <= started <= time.perf_counter()
    path = write_chapter_record("x", chapter_namespace(tmp_path, device="cpu"), {}, metrics={}, started=started)
    assert read_run_record(path)["duration_s"] >= 0
    if not torch.cuda.is_available():  # a device the machine lacks is refused before anything trains
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            start_chapter(chapter_namespace(tmp_path, device="cuda"))


def test_the_record_device_is_where_the_chapter_ran(tmp_path):
    (tmp_path / "run").mkdir()
    without = write_chapter_record("x", chapter_namespace(tmp_path), {}, metrics={})  # no device parameter
    assert read_run_record(without)["device"] == "cpu" and read_run_record(without)["duration_s"] is None
    resolved = write_chapter_record("x", chapter_namespace(tmp_path, device="auto"), {}, metrics={})
    import torch

    assert read_run_record(resolved)["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert read_run_record(resolved)["parameters"]["device"] == "auto", "the parameter as the reader set it"
    given = write_chapter_record("x", chapter_namespace(tmp_path, device="auto"), {}, metrics={}, device="meta")
    assert read_run_record(given)["device"] == "meta"


def test_every_chapter_parameter_is_one_a_chapter_declares():
    """CHAPTER_PARAMETERS names parameters of the chapters' parameters cells, not values they compute."""
    from pathlib import Path

    from sitsbench.notebook import notebook_parameters

    declared = set()
    for notebook in (Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"):
        declared |= set(notebook_parameters(notebook))
    assert set(CHAPTER_PARAMETERS) <= declared


def test_absent_real_data_skips_the_section_and_says_why(tmp_path):
    loaded, reason = load_real_data(str(tmp_path / "sinop"))
    assert loaded is None and str(tmp_path / "sinop") in reason


def test_real_data_without_what_the_section_needs_skips_it():
    loaded, reason = load_real_data("toy")  # a synthetic cube: no CRS, no labelled points
    assert reason is None and loaded.cube is not None and not georef.has_crs(loaded.cube)
    assert load_real_data("toy", needs=("cube", "samples")) == (
        None, "'toy' is cube: this section needs a cube and labelled points")
    assert load_real_data("toy", georeferenced=True) == (None, "'toy' is cube: this section needs a georeferenced cube")
    assert load_real_data("toy", needs=("samples",))[1] == "'toy' is cube: this section needs labelled points"
    with pytest.raises(ValueError, match="needs must name 'cube' and/or 'samples', got \\['points'\\]"):
        load_real_data("toy", needs=("points",))
