"""Faults: a map run and a sweep killed with SIGKILL at random points lose no completed result, resume to the same
final outputs, and leave no worker process behind; two runs on one output share it instead of racing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from sitsbench.data import cube as cube_format
from sitsbench.data.io import save_cube

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny_sweep.ipynb"


def _sitsbench(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sitsbench.cli", *map(str, argv)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _done_windows(store: Path) -> int:
    import zarr

    try:
        return int(np.asarray(zarr.open_group(str(store), mode="r")["done"][:]).sum())
    except Exception:  # not created yet
        return 0


@pytest.mark.slow
def test_a_map_run_killed_three_times_resumes_to_the_uninterrupted_map(toy_cube, tmp_path):
    from sitsbench.inference.map import open_map

    cube = save_cube(toy_cube.drop_dims([cube_format.TIME_S1]), tmp_path / "cube.zarr")
    assert subprocess.run([sys.executable, "-m", "sitsbench.cli", "train", str(cube), "--trees", "10", "--output",
                           str(tmp_path / "model"), "--quiet"], cwd=REPO).returncode == 0
    reference = tmp_path / "reference.zarr"
    args = ("predict-map", cube, "--model", tmp_path / "model", "--chunk", "8", "--quiet", "--output")
    assert _sitsbench(*args, reference).wait() == 0
    output = tmp_path / "map.zarr"
    store = output.with_name("map.zarr.partial.zarr")
    rng = np.random.default_rng(0)
    seen, kills = 0, 0
    while kills < 3:
        process = _sitsbench(*args, output)
        target = seen + int(rng.integers(1, 12))
        while process.poll() is None and _done_windows(store) < target:
            time.sleep(0.02)
        if process.poll() is not None:
            break
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        done = _done_windows(store)
        assert done >= seen, f"completed windows were lost: {seen} before the kill, {done} after"
        seen = done
    assert kills == 3 and 0 < seen < 64
    print(f"map: killed {kills} times, {seen} of 64 windows done before the last resume")
    assert _sitsbench(*args, output).wait() == 0
    assert not store.exists()
    for name in ("class", "confidence"):
        np.testing.assert_array_equal(open_map(output)[name].values, open_map(reference)[name].values)


@pytest.mark.slow
def test_a_sweep_killed_at_random_loses_nothing_and_leaves_no_worker(tmp_path):
    count = tmp_path / "count.txt"
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"name": "faults", "notebook": str(TINY), "parameters": {"count_file": str(count)},
                                      "grid": {"seed": list(range(6))}}))
    runs = tmp_path / "runs"
    rng = np.random.default_rng(1)
    completed_before: dict[str, bytes] = {}
    kills, killed_workers = 0, []
    for attempt in range(2):
        process = _sitsbench("sweep", config, "--runs-dir", runs, "--jobs", "2", "--no-progress")
        deadline = time.time() + 120
        while process.poll() is None and len(list((runs / "faults").glob("*.json"))) < 1 + attempt * 2:
            assert time.time() < deadline, "the sweep made no progress"
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.0, 1.5)))
        if process.poll() is not None:
            break
        workers = psutil.Process(process.pid).children(recursive=True)
        for record in (runs / "faults").glob("*.json"):
            completed_before.setdefault(record.name, record.read_bytes())
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        killed_workers += workers
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers outlived the killed sweep: {[p.pid for p in alive]}"
    assert kills >= 1 and killed_workers, "the sweep was killed while its workers ran"
    assert _sitsbench("sweep", config, "--runs-dir", runs, "--jobs", "2", "--no-progress").wait() == 0
    records = {p.name: p.read_bytes() for p in (runs / "faults").glob("*.json") if not p.name.startswith(".")}
    assert len(records) == 6
    leftovers = [p.name for p in (runs / "faults").iterdir() if ".tmp" in p.name]
    assert not leftovers, f"temporary files of records cut by a kill were left behind: {leftovers}"
    for name, content in completed_before.items():
        assert records[name] == content, f"{name} was completed before a kill and then rewritten"
    seeds = sorted(json.loads(content)["seed"] for content in records.values())
    assert seeds == list(range(6))
    executions = count.read_text().splitlines()
    print(f"sweep: killed {kills} times with {len(completed_before)} runs complete, 6 records in the end, "
          f"{len(executions)} notebook executions for 6 runs")
    assert len(executions) <= 6 + 2 * 2, "only the runs in flight at a kill may run again"


def test_two_sweeps_on_one_runs_folder_share_the_work(tmp_path):
    from sitsbench.atomic import exclusive
    from sitsbench.sweep import run_sweep
    from sitsbench.sweep.config import parse_sweep, run_id

    count = tmp_path / "count.txt"
    config = parse_sweep({"name": "shared", "notebook": str(TINY), "parameters": {"count_file": str(count)},
                          "grid": {"seed": [0, 1]}})
    held = config.runs()[0]
    record = tmp_path / "runs" / "shared" / f"{held.run_id}.json"
    assert held.run_id == run_id(TINY.name, held.parameters, held.grid_values)
    with exclusive(record, "sweep run"):  # the other sweep is running this one
        summary = run_sweep(config, runs_dir=tmp_path / "runs", root=REPO, progress=False)
    assert summary.elsewhere == [held.run_id] and summary.completed == [config.runs()[1].run_id]
    assert "running in another process, left to it" in summary.report()
    assert len(count.read_text().splitlines()) == 1


def test_temporaries_of_a_killed_writer_are_removed_and_nothing_else(tmp_path):
    from sitsbench.atomic import remove_stale_temporaries, written

    record = tmp_path / "seed-1__abc.json"
    record.write_text("{}")
    keep = [tmp_path / "seed-1__abc.ipynb", tmp_path / ".seed-2__abc.json.x1.tmp.json", tmp_path / "seed-1__abc.json.lock"]
    for path in keep:
        path.write_text("other")
    with pytest.raises(KeyboardInterrupt), written(record) as tmp:  # an error: written() removes its temporary
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([record.name, *(p.name for p in keep)])
    # SIGKILL runs no cleanup: what a killed writer leaves (a temporary file, and a temporary folder of a folder)
    stale = [tmp_path / ".seed-1__abc.json.k2j3.tmp.json", tmp_path / ".seed-1__abc.json.9x.tmp"]
    stale[0].write_text("half")
    stale[1].mkdir()
    assert sorted(remove_stale_temporaries(record)) == sorted(stale)
    assert not any(p.exists() for p in stale) and record.read_text() == "{}"
    assert all(p.read_text() == "other" for p in keep)
