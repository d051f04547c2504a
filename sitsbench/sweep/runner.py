"""Run a sweep: every point of the grid executed with papermill, in parallel, resumable, with retries.

For a sweep named ``S`` and a run ``R`` (see :mod:`sitsbench.sweep.config`), the runner writes

* ``<runs_dir>/S/R.ipynb``: the executed notebook (with the traceback when a cell failed);
* ``<runs_dir>/S/R/``: the run's ``output_dir`` (figures, checkpoints... and the notebook's ``record.json``);
* ``<runs_dir>/S/R.json``: the notebook's run record, completed by the runner with ``status``, the execution
  time and a ``sweep`` block (sweep name, run id, attempt) and a ``reproduce`` block (the exact commands), written
  atomically once the notebook has succeeded.

A run whose ``R.json`` is a valid record with ``status: ok`` is complete and is skipped when the sweep is run
again: an interrupted sweep resumes where it stopped, and deleting one record re-runs only that run. A failed
attempt (cell error, dead kernel or worker) is retried up to ``retries`` times; runs that still fail are listed in
the summary with their cell number and error.

Each run is executed under an exclusive claim on its record (:func:`sitsbench.atomic.exclusive`): two sweeps started
on the same runs folder share the work instead of running it twice (a run held by the other one is reported, not
repeated). Pool workers end with the sweep process, with the notebook kernels they started, even when the sweep is
killed.

Executors: one run at a time in this process (``jobs=1``), a pool of ``jobs`` local processes, or a
``dask.distributed`` scheduler (``scheduler="tcp://host:8786"``; e.g. a dask-jobqueue cluster on Slurm or PBS,
whose workers must see the same file system).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import multiprocessing
import os
import shlex
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import papermill
from tqdm import tqdm

from sitsbench.atomic import OutputBusyError, exclusive, remove_stale_temporaries
from sitsbench.records import read_run_record, update_run_record
from sitsbench.sweep.config import SweepConfig, load_sweep

NOTEBOOK_RECORD = "record.json"
"""The file each notebook writes into its ``output_dir`` (see ``sitsbench.records.write_run_record``)."""


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to execute one run (plain data: it travels to other processes)."""

    sweep: str
    run_id: str
    notebook: str
    runs_dir: str
    parameters: dict[str, Any]
    cwd: str
    command: str
    kernel_name: str = "python3"

    @property
    def folder(self) -> Path:
        return Path(self.runs_dir) / self.sweep

    @property
    def record_path(self) -> Path:
        return self.folder / f"{self.run_id}.json"

    @property
    def output_notebook(self) -> Path:
        return self.folder / f"{self.run_id}.ipynb"

    @property
    def output_dir(self) -> Path:
        return self.folder / self.run_id


@dataclass(frozen=True)
class RunFailure:
    notebook: str
    run_id: str
    cell: int | None
    ename: str
    evalue: str
    attempts: int
    output_notebook: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "outside any cell"
        return (f"{self.notebook} run {self.run_id}: {where}: {self.ename}: {self.evalue} "
                f"(after {self.attempts} attempt{'s' if self.attempts > 1 else ''}; see {self.output_notebook})")


@dataclass
class SweepSummary:
    name: str
    total: int
    skipped: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)
    retried: dict[str, int] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        lines = [f"sweep {self.name}: {self.total} runs, {len(self.skipped)} already complete, "
                 f"{len(self.completed)} completed now, {len(self.failures)} failed"]
        lines += [f"  retried: {run} ({n} extra attempt{'s' if n > 1 else ''})" for run, n in self.retried.items()]
        lines += [f"  running in another process, left to it: {run}" for run in self.elsewhere]
        lines += [f"  FAILED {failure}" for failure in self.failures]
        return "\n".join(lines)


def papermill_command(notebook: str, output: str, parameters: dict[str, Any], output_dir: str) -> str:
    """The shell command that runs one notebook with exactly these parameters (``-y`` takes them as YAML)."""
    yaml_parameters = json.dumps(parameters, sort_keys=True)
    return shlex.join(["papermill", notebook, output, "-y", yaml_parameters, "-p", "output_dir", output_dir])


def is_complete(record_path: Path) -> bool:
    """A run is complete when its record exists, is a valid run record and says ``status: ok``."""
    try:
        return read_run_record(record_path).get("status") == "ok"
    except (OSError, ValueError):
        return False


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def run_task(task: Task, attempt: int) -> dict[str, Any]:
    """Execute one run once (in a worker) under an exclusive claim on its record, so that a second sweep on the same
    runs folder neither runs it twice nor mixes two attempts; on success write its completed record. Returns a plain
    outcome dict (``elsewhere`` when another process holds the run)."""
    try:
        with exclusive(task.record_path, "sweep run"):
            if is_complete(task.record_path):  # completed by another sweep since this one looked
                return {"ok": True, "seconds": 0.0}
            return _execute(task, attempt)
    except OutputBusyError as error:
        return {"ok": False, "elsewhere": True, "cell": None, "ename": "OutputBusyError", "evalue": str(error)}


def _execute(task: Task, attempt: int) -> dict[str, Any]:
    remove_stale_temporaries(task.record_path)  # a record write cut by a kill of an earlier sweep
    task.output_dir.mkdir(parents=True, exist_ok=True)
    notebook_record = task.output_dir / NOTEBOOK_RECORD
    notebook_record.unlink(missing_ok=True)  # never mistake an earlier attempt's record for this one's
    start = time.perf_counter()
    try:
        # nbclient keeps its event loop in a context variable; dask worker threads inherit a copied context and
        # would share one loop ("This event loop is already running"): each run starts from an empty context
        contextvars.Context().run(
            papermill.execute_notebook, task.notebook, str(task.output_notebook),
            parameters={**task.parameters, "output_dir": str(task.output_dir)},
            kernel_name=task.kernel_name, cwd=task.cwd, progress_bar=False,
        )
    except papermill.PapermillExecutionError as error:
        notebook_record.unlink(missing_ok=True)  # a failed run leaves no record behind, even a partial one
        return {"ok": False, "cell": error.exec_count, "ename": error.ename, "evalue": error.evalue}
    except Exception as error:  # a dead kernel, a missing kernel spec...: reported like a cell error
        notebook_record.unlink(missing_ok=True)
        return {"ok": False, "cell": None, "ename": type(error).__name__, "evalue": str(error)}
    seconds = time.perf_counter() - start
    if not notebook_record.is_file():
        return {"ok": False, "cell": None, "ename": "MissingRecord",
                "evalue": f"the notebook ran but wrote no run record at {notebook_record}"}
    root = Path(task.cwd)
    notebook = _relative(Path(task.notebook), root)
    record = read_run_record(notebook_record)
    update_run_record(
        notebook_record, task.record_path,
        status="ok",
        execution_s=seconds,
        duration_s=record.get("duration_s") if record.get("duration_s") is not None else seconds,
        sweep={"name": task.sweep, "run_id": task.run_id, "attempt": attempt},
        reproduce={
            "notebook": notebook,
            "parameters": task.parameters,
            "command": task.command,
            "papermill": papermill_command(notebook, f"{task.run_id}.ipynb", task.parameters, task.run_id),
        },
    )
    notebook_record.unlink()  # the completed record R.json replaces it (collect would count it twice)
    return {"ok": True, "seconds": seconds}


class _InlineExecutor:
    """Runs each task at once in this process (``jobs=1``): simplest to debug."""

    def submit(self, fn, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    def wait(self, pending):
        return set(pending), set()

    def close(self) -> None:
        pass


def _end_with_parent(parent: int) -> None:
    """Pool worker initializer: lead a process group (the notebook kernels it starts join it) and kill the whole
    group as soon as the sweep process is gone, even when it was killed with SIGKILL and could not clean up."""
    os.setpgrp()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


class _ProcessExecutor:
    """A pool of local processes (spawned, so that no kernel or thread state is inherited)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=_end_with_parent, initargs=(os.getpid(),))

    def submit(self, fn, *args):
        try:
            return self.pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (out of memory...): its runs are retried in a fresh pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            return self.pool.submit(fn, *args)

    def wait(self, pending):
        return concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)  # after Ctrl-C: queued runs are dropped, completed ones are saved


class _DaskExecutor:
    """Tasks submitted to a running ``dask.distributed`` scheduler."""

    def __init__(self, address: str):
        from distributed import Client

        self.client = Client(address)

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait(self, pending):
        from distributed import wait

        result = wait(list(pending), return_when="FIRST_COMPLETED")
        return result.done, result.not_done

    def close(self) -> None:
        self.client.close()


def _make_executor(jobs: int, scheduler: str | None):
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if scheduler:
        return _DaskExecutor(scheduler)
    return _ProcessExecutor(jobs) if jobs > 1 else _InlineExecutor()


def _outcome(future) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as error:  # the worker itself died or could not run the task
        return {"ok": False, "cell": None, "ename": type(error).__name__, "evalue": str(error)}


def run_sweep(config: SweepConfig | str | Path, runs_dir: str | Path = "runs", jobs: int = 1,
              scheduler: str | None = None, retries: int = 1, root: str | Path | None = None,
              kernel_name: str = "python3", progress: bool = True) -> SweepSummary:
    """Execute every run of a sweep that is not complete yet; see the module docstring.

    ``root`` is the folder notebooks run in and relative notebook paths start from (default: the current folder).
    Returns the summary; failed runs are in ``summary.failures`` (nothing is raised for them).
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    root = Path(root or Path.cwd()).resolve()
    if not isinstance(config, SweepConfig):
        config = load_sweep(config, root)
    runs_dir = Path(runs_dir)
    if not runs_dir.is_absolute():
        runs_dir = root / runs_dir
    command = shlex.join(["sitsbench", "sweep", _relative(config.source, root) if config.source else "CONFIG.yaml",
                          "--runs-dir", _relative(runs_dir, root)])
    runs = config.runs()
    tasks = [Task(config.name, run.run_id, str(config.notebook.resolve()), str(runs_dir), run.parameters, str(root),
                  command, kernel_name) for run in runs]
    summary = SweepSummary(config.name, len(tasks))
    summary.skipped = [task.run_id for task in tasks if is_complete(task.record_path)]
    todo = [task for task in tasks if task.run_id not in summary.skipped]
    bar = tqdm(total=len(tasks), initial=len(summary.skipped), desc=f"sweep {config.name}", unit="run",
               disable=not progress)
    executor = _make_executor(jobs, scheduler)
    try:
        pending = {executor.submit(run_task, task, 1): (task, 1) for task in todo}
        while pending:
            done, _ = executor.wait(set(pending))
            for future in done:
                task, attempt = pending.pop(future)
                outcome = _outcome(future)
                if outcome.get("elsewhere"):
                    summary.elsewhere.append(task.run_id)
                elif outcome["ok"]:
                    summary.completed.append(task.run_id)
                elif attempt <= retries:
                    summary.retried[task.run_id] = attempt
                    pending[executor.submit(run_task, task, attempt + 1)] = (task, attempt + 1)
                    continue
                else:
                    summary.failures.append(RunFailure(
                        _relative(Path(task.notebook), root), task.run_id, outcome["cell"], outcome["ename"],
                        outcome["evalue"], attempt, _relative(task.output_notebook, root)))
                bar.update(1)
                bar.set_postfix(failed=len(summary.failures))
    finally:
        executor.close()
        bar.close()
    return summary
