"""Full-profile results: published with their hardware, run time and the digests of the files they ran; shown
beside the quick run of the build; marked stale when a file they ran has changed."""

import json

import pytest

from sitsbench import book
from sitsbench.records import score_row, write_run_record
from sitsbench.results import full_profile


def _record(path, profile, values, seeds=(0, 1)):
    scores = [score_row("synthetic/default", "linear probe", "macro_f1", value, encoder="simclr", seed=seed,
                        label_fraction=0.01) for value, seed in zip(values, seeds)]
    return write_run_record(path, name="06_downstream", parameters={"profile": profile, "dataset": "default"},
                            metrics={}, seed=0, scores=scores)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setattr(full_profile, "REPO_ROOT", tmp_path)
    (tmp_path / "notebooks").mkdir()
    chapter = tmp_path / "notebooks" / "06_downstream.ipynb"
    chapter.write_text("{}")
    return tmp_path, chapter


def test_a_published_run_is_shown_beside_the_quick_one_and_goes_stale_when_its_code_changes(repo):
    root, chapter = repo
    full = _record(root / "full_run" / "record.json", "full", [0.700, 0.720])
    ran = full_profile.digests([chapter])  # taken before the run
    published = full_profile.publish(full, "06_downstream", 3600.0, ran, root / "results" / "full")
    record = json.loads(published.read_text())
    assert record["published"]["run_time_s"] == 3600.0
    assert record["published"]["files"] == {"notebooks/06_downstream.ipynb": full_profile.file_digest(chapter)}
    assert record["published"]["hardware"]["cores"] >= 1 and "gpu" in record["published"]["hardware"]
    _record(root / "runs" / "06_downstream" / "record.json", "quick", [0.600])

    page = full_profile.full_results_page(root / "runs", published_dir=root / "results" / "full")
    assert "| 06_downstream | default |" in page and "60.0 min" in page and "| current |" in page
    assert "0.710 ± 0.014 (2 seeds)" in page and "| 0.600 |" in page and "1%" in page
    assert "Stale" not in page

    chapter.write_text('{"cells": []}')  # the chapter's code changed since the run was published
    stale = full_profile.full_results_page(root / "runs", published_dir=root / "results" / "full")
    assert "stale (1 files changed since)" in stale and "`notebooks/06_downstream.ipynb`" in stale


def test_quick_runs_are_not_published_and_an_empty_folder_says_so(repo, tmp_path):
    root, chapter = repo
    quick = _record(root / "quick" / "record.json", "quick", [0.6])
    with pytest.raises(ValueError, match="only full-profile runs are published"):
        full_profile.publish(quick, "06_downstream", 10.0, full_profile.digests([chapter]), root / "results" / "full")
    assert not (root / "results" / "full").exists()
    assert "No full-profile run is published yet" in full_profile.full_results_page(root / "runs",
                                                                                    published_dir=root / "none")


def test_a_full_build_publishes_the_runs_it_executed(repo, monkeypatch):
    root, chapter = repo
    monkeypatch.setattr(book, "REPO_ROOT", root)
    _record(root / "runs" / "06_downstream" / "record.json", "full", [0.7])
    execution = book.Execution("06_downstream", chapter, root / "out.ipynb", {"output_dir": "runs/06_downstream"})
    monkeypatch.setattr(book, "library_closure", lambda code: [])
    monkeypatch.setattr(book, "notebook_code", lambda path: "")
    ran = book.code_digests([execution])
    chapter.write_text('{"cells": [1]}')  # edited while the run executes: the published digest is the earlier one
    [path] = book.publish_full_runs([execution], [("06_downstream", 42.0, False)], ran, root / "results" / "full")
    published = json.loads(path.read_text())
    assert published["published"]["run_time_s"] == 42.0
    assert full_profile.changed_files(published) == ["notebooks/06_downstream.ipynb"]
