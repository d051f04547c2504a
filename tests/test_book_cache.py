"""The incremental book build: a chapter is executed again only when its notebook, the library code it imports,
its parameters, its data or its packages changed (or with --force)."""

import json
import time
from pathlib import Path

import nbformat
import pytest

from sitsbench import book
from sitsbench.records import write_run_record


def _notebook(path: Path, code: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)
    return path


def test_library_closure_follows_imports_and_lazy_imports():
    files = {str(p.relative_to(book.REPO_ROOT)) for p in book.library_closure("from sitsbench.data import samples")}
    assert {"sitsbench/__init__.py", "sitsbench/data/__init__.py", "sitsbench/data/samples.py",
            "sitsbench/data/cube.py"} <= files
    assert "sitsbench/data/readers/base.py" in files, "imported inside a function of samples.py"
    assert "sitsbench/models/tempcnn.py" not in files
    assert book.library_closure("import numpy") == []


def test_a_chapter_is_reused_until_something_it_depends_on_changes(tmp_path, monkeypatch):
    calls = []

    def fake_execute(notebook, output, parameters, cwd):
        calls.append(notebook.name)
        write_run_record(Path(parameters["output_dir"]) / "record.json", name=notebook.stem, seed=0,
                         parameters={}, metrics={})
        output.write_text(notebook.read_text())
        return 12.0

    monkeypatch.setattr(book, "execute_notebook", fake_execute)
    notebook = _notebook(tmp_path / "ch.ipynb", "from sitsbench.data import cube\nx = 1")
    parameters = {"profile": "quick", "output_dir": str(tmp_path / "runs" / "ch")}
    cache = tmp_path / "executed"

    def run(**kw):
        return book.execute_cached(notebook, tmp_path / "out" / "ch.ipynb", {**parameters, **kw.pop("p", {})},
                                   tmp_path, cache, "ch", **kw)

    assert run() == (12.0, False)
    assert run() == (12.0, True) and len(calls) == 1, "unchanged: reused"
    assert json.loads((tmp_path / "out" / "ch.ipynb").read_text()) == json.loads(notebook.read_text())
    assert run(p={"seed": 1}) == (12.0, False), "other parameters"
    assert run() == (12.0, False), "back to the first parameters: the cache holds the last execution only"
    _notebook(notebook, "from sitsbench.data import cube\nx = 2")
    assert run()[1] is False and run()[1] is True
    assert run(force=True)[1] is False
    (tmp_path / "runs" / "ch" / "record.json").unlink()
    assert run()[1] is False, "its run record is gone: executed again"
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    assert run(data=data)[1] is False and run(data=data)[1] is True
    data.write_text("a\n2\n")
    assert run(data=data)[1] is False, "the data changed"
    page = book.execution_page([("ch", 12.0, True), ("other", 30.0, False)], wall_s=31.0, jobs=2)
    assert "| ch | 12 | reused |" in page and "| other | 30 | executed |" in page and "executed in this build: 30 s" in page
    assert "31 s of wall time, 2 notebooks at a time" in page


def test_executions_run_in_parallel_longest_first_with_one_thread_each(tmp_path, monkeypatch):
    import os
    import threading

    running, peak, started, threads, lock = [0], [0], [], {}, threading.Lock()

    def fake_execute(notebook, output, parameters, cwd):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            started.append(notebook.stem)
            threads[notebook.stem] = os.environ.get("OMP_NUM_THREADS")
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        if notebook.stem == "bad":
            raise book.BookBuildError("notebook bad.ipynb failed in cell 1")
        write_run_record(Path(parameters["output_dir"]) / "record.json", name=notebook.stem, seed=0,
                         parameters={}, metrics={})
        output.write_text(notebook.read_text())
        return {"a": 5.0, "b": 50.0, "c": 20.0}.get(notebook.stem, 1.0)

    monkeypatch.setattr(book, "execute_notebook", fake_execute)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cache = tmp_path / "executed"

    def executions(*names):
        return [book.Execution(n, _notebook(tmp_path / f"{n}.ipynb", f"x = '{n}'"), tmp_path / "out" / f"{n}.ipynb",
                               {"profile": "quick", "output_dir": str(tmp_path / "runs" / n)}) for n in names]

    stats = book.run_executions(executions("a", "b", "c"), cache, jobs=2)
    assert [row[0] for row in stats] == ["a", "b", "c"] and peak[0] == 2
    assert set(threads.values()) == {"1"} and "OMP_NUM_THREADS" not in os.environ, "one thread each, restored"
    started.clear()
    book.run_executions(executions("a", "b", "c"), cache, force=True, jobs=1)
    assert started == ["b", "c", "a"], "the longest of the last build first"
    started.clear()
    fresh = executions("small", "big")
    _notebook(tmp_path / "big.ipynb", "x = 'big'\n" + "y = 1\n" * 500)
    book.run_executions(fresh, tmp_path / "fresh-cache", jobs=1)
    assert started == ["big", "small"], "never run: the larger notebook first"
    assert threads["a"] is None, "a single job keeps the machine's threads"
    with pytest.raises(book.BookBuildError, match="bad.ipynb"):
        book.run_executions(executions("bad", "a", "b", "c"), tmp_path / "other-cache", force=True, jobs=1)
    assert started[-1] == "bad", "after the failure nothing else starts"


def test_data_named_by_a_parameter_or_its_default_is_in_the_key(tmp_path):
    folder = tmp_path / "rasters"
    folder.mkdir()
    (folder / "a.tif").write_bytes(b"1")
    notebook = _notebook(tmp_path / "ch.ipynb", "")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [nbformat.v4.new_code_cell(f"real_data = {str(folder)!r}\ndataset = 'default'",
                                          metadata={"tags": ["parameters"]})]
    nbformat.write(nb, notebook)
    key = book.chapter_key(notebook, {"profile": "quick"})
    (folder / "a.tif").write_bytes(b"2")
    assert book.chapter_key(notebook, {"profile": "quick"}) != key, "the default real_data folder changed"
    other = tmp_path / "other.csv"
    other.write_text("x")
    given = book.chapter_key(notebook, {"profile": "quick", "dataset": str(other)})
    other.write_text("y")
    assert book.chapter_key(notebook, {"profile": "quick", "dataset": str(other)}) != given, "a dataset given by path"


def test_chapter_tests_and_the_book_share_executions(tmp_path, monkeypatch):
    """``run_chapter`` (the chapter tests) executes a chapter as the build does, into the build's cache: the book
    reuses it, and the other way round; runs with other parameters go to their own folder and cache."""
    calls = []

    def fake_execute(notebook, output, parameters, cwd):
        calls.append(parameters)
        write_run_record(Path(parameters["output_dir"]) / "record.json", name=notebook.stem, seed=0,
                         parameters=parameters, metrics={})
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(notebook.read_text())
        return 3.0

    monkeypatch.setattr(book, "execute_notebook", fake_execute)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    stem = "07_performance"
    folder, reused = book.run_chapter(stem, build_dir=tmp_path)
    assert folder == tmp_path / "runs" / stem and (folder / "record.json").is_file() and not reused
    assert calls[-1] == {"profile": "quick", "output_dir": str(tmp_path / "runs" / stem)}
    build_execution = book.chapter_execution(stem, tmp_path / "runs", tmp_path / "book_src" / "notebooks")
    assert book.run_executions([build_execution], tmp_path / "executed") == [(stem, 3.0, True)], "the book reuses it"
    assert book.run_chapter(stem, build_dir=tmp_path) == (folder, True) and len(calls) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert book.run_chapter(stem, build_dir=tmp_path) == (folder, False), "other thread settings: other bits"
    data = tmp_path / "samples.csv"
    data.write_text("a\n1\n")
    other, reused = book.run_chapter(stem, {"dataset": str(data), "seed": 1}, "07--mine", build_dir=tmp_path)
    assert other == tmp_path / book.OTHER_RUNS / "07--mine" and not reused
    assert calls[-1]["dataset"] == str(data) and calls[-1]["profile"] == "quick"
    assert book.run_chapter(stem, {"dataset": str(data), "seed": 1}, "07--mine", build_dir=tmp_path)[1]
    data.write_text("a\n2\n")
    assert not book.run_chapter(stem, {"dataset": str(data), "seed": 1}, "07--mine", build_dir=tmp_path)[1]
    assert not (tmp_path / "runs" / "07--mine").exists(), "the book's pages never read other runs"
    with pytest.raises(ValueError, match="needs a name"):
        book.run_chapter(stem, {"seed": 1}, build_dir=tmp_path)


def test_paths_handed_to_chapters_hold_no_path_of_the_build_machine():
    assert book.portable(book.REPO_ROOT / "_build" / "runs" / "01") == "_build/runs/01"
    assert book.portable(book.REPO_ROOT.parent / "shared" / "data" / "x") == "../shared/data/x"
    outside = Path("/") / "elsewhere-than-the-repository" / "x"
    assert book.portable(outside) == str(outside)


def test_paths_through_a_symbolic_link_stay_relative(tmp_path):
    """``../shared`` is often a link to a disk elsewhere: the chapter must still get ``../shared/...``."""
    repo, target = tmp_path / "work" / "repo", tmp_path / "disk" / "shared"
    (target / "data" / "x").mkdir(parents=True)
    repo.mkdir(parents=True)
    (tmp_path / "work" / "shared").symlink_to(target, target_is_directory=True)
    assert book.portable(repo.parent / "shared" / "data" / "x", cwd=repo) == "../shared/data/x"
    assert book.portable(repo / ".." / "shared" / "data", cwd=repo) == "../shared/data"
    linked_repo = tmp_path / "repo-link"  # the repository itself reached through a link
    linked_repo.symlink_to(repo, target_is_directory=True)
    assert book.portable(repo / "_build", cwd=linked_repo) == "_build"
    assert book.portable(target / "data", cwd=repo) == str(target / "data")


def test_sphinx_warnings_fail_the_build_by_name():
    log = ("reading sources... [100%] notebooks/02\n"
           "/b/src/notebooks/02.ipynb:40002: WARNING: could not find bibtex key \"nope\" [bibtex.key_not_found]\n"
           "/b/src/notebooks/05.ipynb:10: WARNING: Retrieval error: 'ch5_x' not found [mystnb.glue]\n"
           "build succeeded, 2 warnings.\n")
    assert [line.split(": WARNING: ")[1][:12] for line in book.sphinx_warnings(log)] == [
        "could not fi", "Retrieval er"]
