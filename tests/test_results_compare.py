"""``sitsbench results compare``: two builds' records paired score by score."""

import math

from sitsbench.cli import main
from sitsbench.records import score_row, write_run_record
from sitsbench.results.compare import compare_runs


def _record(folder, chapter, values, parameters=None):
    scores = [score_row("victoria-s2", method, "macro_f1", value, seed=seed)
              for (method, seed), value in values.items()]
    write_run_record(folder / chapter / "record.json", name=chapter, parameters=parameters or {"seed": 0},
                     metrics={}, seed=0, scores=scores)


def test_compare_pairs_records_and_scores_and_names_every_difference(tmp_path, capsys):
    before, after = tmp_path / "before", tmp_path / "after"
    _record(before, "02_supervised", {("rf", 0): 0.8, ("tempcnn", 0): 0.7})
    _record(after, "02_supervised", {("rf", 0): 0.8, ("tempcnn", 0): 0.75, ("mlp", 0): 0.6})
    _record(before, "03_autoencoders", {("ae", 1): 0.5}, parameters={"seed": 0, "output_dir": "/a"})
    _record(after, "03_autoencoders", {("ae", 1): 0.5}, parameters={"seed": 0, "output_dir": "/b"})
    _record(before, "04_planes", {("cnn", 0): 0.4})
    _record(after, "06_downstream", {("simclr", 0): 0.9}, parameters={"seed": 1})

    comparison = compare_runs(before, after)
    status = {(r.record.split("/")[0], r.method): r.status for r in comparison.scores.itertuples()}
    assert status == {("02_supervised", "rf"): "equal", ("02_supervised", "tempcnn"): "changed",
                      ("02_supervised", "mlp"): "only after", ("03_autoencoders", "ae"): "equal"}
    changed = comparison.scores.set_index("method").loc["tempcnn"]
    assert math.isclose(changed["difference"], 0.05)
    records = comparison.records.set_index("record")
    assert records.loc["04_planes/record.json", "present"] == "only before"
    assert records.loc["06_downstream/record.json", "present"] == "only after"
    assert records.loc["03_autoencoders/record.json", "same_parameters"]  # the output folder does not count

    assert compare_runs(before, after, tolerance=0.1).scores.set_index("method").loc["tempcnn", "status"] == "equal"
    assert main(["results", "compare", str(before), str(after)]) == 1
    out = capsys.readouterr().out
    assert "02_supervised/record.json: 1 equal, 1 changed, 1 only after" in out
    assert "tempcnn" in out and "0.7 -> 0.75 (+0.05)" in out
    assert "04_planes/record.json: only before" in out
    assert main(["results", "compare", str(before), str(before)]) == 0


def test_compare_flags_records_launched_with_other_parameters(tmp_path):
    _record(tmp_path / "a", "ch", {("rf", 0): 0.8}, parameters={"seed": 0})
    _record(tmp_path / "b", "ch", {("rf", 0): 0.8}, parameters={"seed": 1})
    comparison = compare_runs(tmp_path / "a", tmp_path / "b")
    assert not comparison.records["same_parameters"].iloc[0]
    assert "(the launch parameters differ)" in comparison.summary()[0]
