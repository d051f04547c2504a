"""Sweeps: grid expansion and run ids, resumable papermill runs with retries, failure summaries, executors."""

import json
from pathlib import Path

import pytest
import yaml

from sitsbench.cli import main
from sitsbench.records import read_run_record
from sitsbench.sweep import SweepConfigError, load_sweep, run_sweep
from sitsbench.sweep.config import parse_sweep

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny_sweep.ipynb"


def write_config(tmp_path, name="tiny", parameters=None, grid=None):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "notebook": str(TINY), "parameters": parameters or {},
                                    "grid": grid or {}}))
    return path


def executions(count_file):
    return Path(count_file).read_text().splitlines() if Path(count_file).exists() else []


def test_grid_expands_to_every_combination_with_stable_readable_ids(tmp_path):
    config = parse_sweep({"name": "s", "notebook": str(TINY), "parameters": {"profile": "quick"},
                          "grid": {"method": ["a", "b"], "seed": [0, 1, 2]}})
    runs = config.runs()
    assert [(r.parameters["method"], r.parameters["seed"]) for r in runs] == [
        ("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert all(r.parameters["profile"] == "quick" for r in runs)
    assert runs[4].run_id.startswith("method-b_seed-1__") and len(runs[4].run_id.split("__")[1]) == 8
    assert len({r.run_id for r in runs}) == 6
    # the same point gives the same id whatever the key order; another fixed parameter gives another id
    reordered = parse_sweep({"name": "s", "notebook": str(TINY), "parameters": {"profile": "quick"},
                             "grid": {"seed": [1], "method": ["b"]}}).runs()[0]
    assert reordered.run_id.split("__")[1] == runs[4].run_id.split("__")[1]
    other = parse_sweep({"name": "s", "notebook": str(TINY), "parameters": {"profile": "full"},
                         "grid": {"method": ["b"], "seed": [1]}}).runs()[0]
    assert other.run_id.split("__")[0] == runs[4].run_id.split("__")[0] and other.run_id != runs[4].run_id


@pytest.mark.parametrize("change, message", [
    ({"notebook": "missing.ipynb"}, r"field 'notebook' names .*missing.ipynb, which does not exist"),
    ({"name": "a/b"}, r"field 'name' must be a folder-safe name"),
    ({"grid": {"seed": []}}, r"field 'grid.seed' must be a non-empty list"),
    ({"grid": {"seed": 3}}, r"field 'grid.seed' must be a non-empty list"),
    ({"parameters": {"output_dir": "x"}}, r"field 'output_dir' is set by the runner"),
    ({"parameters": {"seed": 0}, "grid": {"seed": [1]}}, r"field 'grid.seed' is also a fixed parameter"),
    ({"grids": {}}, r"field 'grids' is not a sweep field"),
    ({"parameters": {"profile": "fast"}}, r"field 'parameters.profile' must be one of \('quick', 'full'\), got 'fast'"),
    ({"grid": {"profile": ["quick", "ful"]}}, r"field 'grid.profile' must be one of \('quick', 'full'\), got 'ful'"),
])
def test_invalid_configs_name_the_field(tmp_path, change, message):
    data = {"name": "s", "notebook": str(TINY), "parameters": {}, "grid": {"seed": [0]}, **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SweepConfigError, match=message):
        load_sweep(path, root=tmp_path)


def test_example_sweep_is_valid():
    config = load_sweep(REPO / "sweeps" / "example.yaml", root=REPO)
    assert config.notebook.name == "02_supervised_baselines.ipynb" and len(config.runs()) == 3


def test_sweep_runs_in_parallel_and_resumes_only_missing_runs(tmp_path):
    count = tmp_path / "count.txt"
    config = write_config(tmp_path, parameters={"count_file": str(count)},
                          grid={"method": ["a", "b"], "seed": [0, 1]})
    summary = run_sweep(config, runs_dir=tmp_path / "runs", jobs=2, root=REPO, progress=False)
    assert summary.ok and len(summary.completed) == 4 and summary.skipped == []
    assert sorted(executions(count)) == ["a 1.0 0", "a 1.0 1", "b 1.0 0", "b 1.0 1"]
    folder = tmp_path / "runs" / "tiny"
    records = sorted(folder.glob("*.json"))
    assert len(records) == 4 and len(list(folder.glob("*.ipynb"))) == 4
    record = read_run_record(folder / f"{summary.completed[0]}.json")
    assert record["status"] == "ok" and record["duration_s"] > 0 and record["sweep"]["attempt"] == 1
    method, seed = record["parameters"]["method"], record["seed"]
    assert record["metrics"][method]["oa"] == pytest.approx({"a": 0.5, "b": 0.7}[method] + 0.01 * seed)
    assert record["reproduce"]["parameters"]["seed"] == seed
    assert record["reproduce"]["command"].startswith("sitsbench sweep ")
    assert not list(folder.glob("*/record.json")), "the notebook's own record is replaced by <run_id>.json"

    # nothing is redone when everything is complete
    again = run_sweep(config, runs_dir=tmp_path / "runs", jobs=1, root=REPO, progress=False)
    assert len(again.skipped) == 4 and again.completed == [] and len(executions(count)) == 4

    # deleting one record (or corrupting it) redoes exactly that run
    mtimes = {p.name: p.stat().st_mtime_ns for p in records}
    records[1].unlink()
    records[2].write_text("{ truncated")
    resumed = run_sweep(config, runs_dir=tmp_path / "runs", jobs=1, root=REPO, progress=False)
    assert sorted(resumed.completed) == sorted([records[1].stem, records[2].stem]) and len(resumed.skipped) == 2
    assert len(executions(count)) == 6
    for path in (records[0], records[3]):
        assert path.stat().st_mtime_ns == mtimes[path.name]
    assert read_run_record(records[2])["status"] == "ok"


def test_interrupted_run_is_retried(tmp_path):
    marker, count = tmp_path / "marker", tmp_path / "count.txt"
    config = write_config(tmp_path, parameters={"fail_once_marker": str(marker), "count_file": str(count)},
                          grid={"seed": [3]})
    summary = run_sweep(config, runs_dir=tmp_path / "runs", retries=1, root=REPO, progress=False)
    assert summary.ok and len(summary.completed) == 1 and marker.exists()
    assert len(executions(count)) == 2
    assert list(summary.retried.values()) == [1]
    record = read_run_record(tmp_path / "runs" / "tiny" / f"{summary.completed[0]}.json")
    assert record["sweep"]["attempt"] == 2


def test_failing_notebook_is_reported_with_its_cell(tmp_path):
    config = write_config(tmp_path, parameters={"fail": True}, grid={"seed": [0]})
    summary = run_sweep(config, runs_dir=tmp_path / "runs", retries=0, root=REPO, progress=False)
    assert not summary.ok and summary.completed == []
    (failure,) = summary.failures
    assert failure.notebook == "tests/data/tiny_sweep.ipynb"
    # execution count in the executed copy: parameters, papermill's injected parameters, imports, then the failure
    assert failure.cell == 4 and failure.ename == "ValueError" and failure.evalue == "this run always fails"
    assert failure.attempts == 1
    assert f"tests/data/tiny_sweep.ipynb run {failure.run_id}: cell 4: ValueError: this run always fails" in \
        summary.report()
    assert not (tmp_path / "runs" / "tiny" / f"{failure.run_id}.json").exists()
    assert (tmp_path / "runs" / "tiny" / f"{failure.run_id}.ipynb").exists()  # the traceback is kept


def test_cli_exit_code_and_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    config = write_config(tmp_path, parameters={"fail": True}, grid={"seed": [0]})
    code = main(["sweep", str(config), "--runs-dir", str(tmp_path / "runs"), "--retries", "0", "--no-progress"])
    assert code == 1
    assert "cell 4: ValueError: this run always fails" in capsys.readouterr().err


def test_dask_executor_runs_the_sweep(tmp_path):
    distributed = pytest.importorskip("distributed")
    config = write_config(tmp_path, grid={"seed": [0, 1]})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        summary = run_sweep(config, runs_dir=tmp_path / "runs", scheduler=cluster.scheduler_address, root=REPO,
                            progress=False)
    assert summary.ok and len(summary.completed) == 2, summary.report()
    seeds = sorted(json.loads(p.read_text())["seed"] for p in (tmp_path / "runs" / "tiny").glob("*.json"))
    assert seeds == [0, 1]
