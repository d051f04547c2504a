"""Results: scores found in records, the collected tables, corrupted records reported, plots, leaderboard values."""

import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from sitsbench.cli import main
from sitsbench.evaluation.efficiency import plot_label_efficiency
from sitsbench.records import (
    SCORE_FIELDS,
    check_differences,
    check_intervals,
    check_scores,
    read_run_record,
    score_row,
    update_run_record,
    write_run_record,
)
from sitsbench.results import collect, write_table
from sitsbench.results.leaderboard import format_mean_std, leaderboard_page, leaderboard_table
from sitsbench.results.plots import efficiency_table, plot_accuracy_vs_time, standard_plots
from sitsbench.sweep import run_sweep

REPO = Path(__file__).resolve().parent.parent


def test_score_rows_follow_one_schema_and_bad_rows_name_the_field():
    timed = score_row("synthetic/hard", "linear probe", "oa", 0.6, encoder="SimCLR", unit="parcel",
                      label_fraction=0.1, seed=1, train_time_s=2.0)
    assert timed == {"dataset": "synthetic/hard", "method": "linear probe", "encoder": "SimCLR", "unit": "parcel",
                     "label_fraction": 0.1, "seed": 1, "metric": "oa", "value": 0.6, "train_time_s": 2.0}
    assert list(timed)[:8] == list(SCORE_FIELDS)
    good = score_row("d", "RF", "oa", 0.5)
    assert good == {"dataset": "d", "method": "RF", "encoder": None, "unit": "pixel", "label_fraction": 1.0,
                    "seed": 0, "metric": "oa", "value": 0.5}
    for change, message in [({"unit": "tile"}, r"scores\[0\]\.unit must be one of"),
                            ({"label_fraction": 0.0}, r"label_fraction must be a number in \(0, 1\]"),
                            ({"seed": 1.5}, "seed must be an integer"),
                            ({"value": float("inf")}, "value must be a finite number"),
                            ({"method": ""}, "method must be a non-empty string"),
                            ({"extra": 1}, r"unknown fields \['extra'\]")]:
        with pytest.raises(ValueError, match=message):
            check_scores([{**good, **change}])
    assert np.isnan(check_scores([{**good, "value": float("nan")}])[0]["value"])  # an undefined score is allowed
    counted = score_row("d", "Deep-STaR", "oa", 0.5, n_labels=10, label_unit="parcel")
    assert (counted["n_labels"], counted["label_unit"]) == (10, "parcel")
    for change, message in [({"n_labels": -1}, "n_labels must be a non-negative integer"),
                            ({"n_labels": 2.5}, "n_labels must be a non-negative integer"),
                            ({"label_unit": "tile"}, "label_unit must be one of")]:
        with pytest.raises(ValueError, match=message):
            check_scores([{**counted, **change}])
    with pytest.raises(ValueError, match="come with n_labels"):
        check_scores([{**good, "label_unit": "parcel"}])


def test_intervals_and_differences_follow_their_schemas_and_bad_rows_name_the_field():
    interval = {"dataset": "d", "method": "linear probe", "encoder": "SimCLR", "unit": "pixel", "label_fraction": 0.1,
                "metric": "macro_f1", "estimate": 0.5, "low": 0.4, "high": 0.6, "level": 0.95, "n_units": 31}
    assert check_intervals([interval]) == [interval]
    assert check_intervals([{**interval, "low": None, "high": None}])[0]["low"] is None  # no interval: one fold
    for change, message in [({"low": 0.7}, r"intervals\[0\] has low 0.7 above high 0.6"),
                            ({"level": 95}, r"intervals\[0\]\.level must be a number in \(0, 1\)"),
                            ({"n_units": 0}, "n_units must be a positive integer"),
                            ({"high": None}, "high must be a finite number"),
                            ({"seed": 0}, r"unknown fields \['seed'\]")]:
        with pytest.raises(ValueError, match=message):
            check_intervals([{**interval, **change}])
    difference = {"dataset": "d", "method": "linear probe", "encoder": "SimCLR", "versus_method": "supervised",
                  "versus_encoder": None, "unit": "pixel", "label_fraction": 1.0, "metric": "macro_f1",
                  "difference": 0.1, "low": -0.02, "high": 0.2, "level": 0.95}
    assert check_differences([difference]) == [difference]
    for change, message in [({"versus_method": ""}, "versus_method must be a non-empty string"),
                            ({"difference": float("inf")}, "difference must be a finite number")]:
        with pytest.raises(ValueError, match=message):
            check_differences([{**difference, **change}])
    with pytest.raises(ValueError, match=r"lacks the fields \['versus_encoder'\]"):
        check_differences([{k: v for k, v in difference.items() if k != "versus_encoder"}])


def test_a_record_of_version_1_reads_with_empty_intervals_and_broken_rows_are_refused(tmp_path):
    path = write_record(tmp_path, scores=[score_row("d", "RF", "oa", 0.5)])
    record = json.loads(path.read_text())
    assert record["record_version"] == 2 and record["intervals"] == [] and record["differences"] == []
    for key in ("intervals", "differences"):
        del record[key]
    path.write_text(json.dumps({**record, "record_version": 1}))
    assert read_run_record(path)["intervals"] == [] and read_run_record(path)["differences"] == []
    path.write_text(json.dumps({**record, "intervals": [{"metric": "oa"}]}))
    with pytest.raises(ValueError, match=r"record\.json: intervals\[0\] lacks the fields"):
        read_run_record(path)


def test_a_record_with_broken_scores_is_refused_on_reading(tmp_path):
    path = write_record(tmp_path, scores=[score_row("d", "RF", "oa", 0.5)])
    record = json.loads(path.read_text())
    record["scores"][0]["label_fraction"] = 2
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"run record .*record\.json: scores\[0\]\.label_fraction"):
        read_run_record(path)
    assert "label_fraction" in collect(tmp_path).errors[0]


def write_record(folder, name="chapter", seed=0, metrics=None, parameters=None, scores=None, **extra):
    path = write_run_record(folder / f"seed{seed}" / "record.json", name=name, seed=seed,
                            parameters=parameters or {"profile": "quick"}, metrics=metrics or {}, scores=scores,
                            dataset={"name": "synthetic", "landscape": "toy"}, duration_s=1.5)
    if extra:
        record = read_run_record(path)
        record.update(extra)
        path.write_text(json.dumps(record))
    return path


def test_collect_builds_one_row_per_run_and_reports_corrupted_records(tmp_path, capsys):
    for seed, f1 in enumerate([0.6, 0.7]):
        write_record(tmp_path, seed=seed, metrics={"L-TAE": {"macro_f1": f1, "oa": f1 + 0.1, "train_time_s": 2.0}},
                     scores=[score_row("synthetic/toy", "L-TAE", "macro_f1", f1, seed=seed, train_time_s=2.0),
                             score_row("synthetic/toy", "L-TAE", "oa", f1 + 0.1, seed=seed, train_time_s=2.0)],
                     reproduce={"parameters": {"profile": "quick", "seed": seed}, "command": "sitsbench sweep s.yaml"})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "record.json").write_text('{"name": "x", "metrics": {')
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "run1.json").write_text('{"name": "x"}')  # a sweep record (beside its notebook)...
    (tmp_path / "sweep" / "run1.ipynb").write_text("{}")
    (tmp_path / "sweep" / "notes.json").write_text("[]")  # ...while other JSON files are not records
    collection = collect(tmp_path)
    assert list(collection.runs["seed"]) == [0, 1]
    assert list(collection.runs["metric.L-TAE.macro_f1"]) == [0.6, 0.7]
    assert collection.runs["param.profile"].tolist() == ["quick", "quick"]
    assert collection.runs["dataset"].tolist() == ["synthetic/toy"] * 2
    assert set(collection.runs["configuration"]) == {'{"profile":"quick"}'}
    assert collection.scores.shape[0] == 4 and set(collection.scores["method"]) == {"L-TAE"}
    assert len(collection.errors) == 2
    assert collection.errors[0].startswith(f"{tmp_path / 'broken' / 'record.json'}: ") and "not valid JSON" in \
        collection.errors[0]
    assert collection.errors[1].startswith(f"{tmp_path / 'sweep' / 'run1.json'}: ") and "lacks the fields" in \
        collection.errors[1]

    out = tmp_path / "table.csv"
    assert main(["results", "collect", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "broken" / "record.json") in err and str(tmp_path / "sweep" / "run1.json") in err
    assert not out.exists(), "a refused collection writes nothing"
    assert main(["results", "collect", str(tmp_path), "--out", str(out), "--allow-corrupt"]) == 0
    assert out.read_text().count("\n") == 3  # header + 2 runs


def test_parquet_falls_back_to_csv_without_pyarrow(tmp_path):
    import pandas as pd

    written = write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert written == tmp_path / "t.csv" and written.read_text() == "a\n1\n2\n"
    else:
        assert pd.read_parquet(written)["a"].tolist() == [1, 2]


def test_dataset_provenance_pins_the_manifest(tmp_path):
    path = write_run_record(tmp_path / "r.json", name="n", parameters={}, metrics={}, seed=0,
                            dataset={"name": "pastis"})
    dataset = read_run_record(path)["dataset"]
    manifest = REPO / "data_manifests" / "pastis.yaml"
    assert dataset["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    synthetic = write_run_record(tmp_path / "s.json", name="n", parameters={}, metrics={}, seed=0,
                                 dataset={"name": "synthetic"})
    assert "manifest_sha256" not in read_run_record(synthetic)["dataset"]


def label_efficiency_records(tmp_path):
    values = {0.1: [0.5, 0.6, 0.7], 1.0: [0.8, 0.82, 0.9]}
    for seed in range(3):
        scores = [score_row("synthetic/toy", "linear probe", "macro_f1", v[seed], encoder="simclr", label_fraction=f,
                            seed=seed) for f, v in values.items()]
        scores += [score_row("synthetic/toy", "TempCNN", metric, value, seed=seed, train_time_s=10.0 + seed)
                   for metric, value in (("oa", 0.9 - 0.1 * seed), ("macro_f1", 0.8))]
        write_record(tmp_path, name="05_ssl", seed=seed, scores=scores)
    return values


def test_leaderboard_reports_mean_and_std_over_seeds(tmp_path):
    values = label_efficiency_records(tmp_path)
    table = leaderboard_table(collect(tmp_path).scores).set_index(["method", "label_fraction"])
    assert table.loc[("linear probe", 0.1), "encoder"] == "simclr" and set(table["unit"]) == {"pixel"}
    for fraction, runs in values.items():
        row = table.loc[("linear probe", fraction)]
        assert row["macro_f1_mean"] == pytest.approx(statistics.mean(runs))
        assert row["macro_f1_std"] == pytest.approx(statistics.stdev(runs))
        assert row["macro_f1_n"] == 3 and row["seeds"] == [0, 1, 2]
    assert table.loc[("TempCNN", 1.0), "oa_std"] == pytest.approx(0.1)
    page = leaderboard_page(tmp_path)
    assert "## 05_ssl on synthetic/toy" in page
    assert "| linear probe | simclr | pixel | 10% | – | 0.600 ± 0.100 | seeds 0, 1, 2 | R1, R2, R3 |" in page
    assert "| TempCNN | – | pixel | 100% | 0.800 ± 0.100 | 0.800 ± 0.000 | seeds 0, 1, 2 | R1, R2, R3 |" in page
    assert "– : the run records hold no OA score for this row" in page  # the linear probe has no OA
    # records without a reproduce block: the papermill command with each run's profile and seed
    assert "* **R2**: `papermill notebooks/05_ssl.ipynb out.ipynb -p profile quick -p seed 1`" in page
    assert format_mean_std(0.5, 0.1, 1) == "0.500"
    out = tmp_path / "leaderboard.md"
    assert main(["results", "leaderboard", str(tmp_path), "--out", str(out)]) == 0 and out.read_text() == page


def test_the_leaderboard_shows_every_metric_it_receives(tmp_path):
    """A metric the leaderboard has no title for is a column under its raw name, after the known ones: never
    dropped (chapter 6's ``date_mae_days`` once was)."""
    scores = [score_row("synthetic/toy", "change dating", metric, value, unit="parcel")
              for metric, value in (("date_mae_days", 12.5), ("oa", 0.75), ("kappa", 0.5))]
    write_record(tmp_path, name="06_downstream", scores=scores)
    table = leaderboard_table(collect(tmp_path).scores)
    assert {"oa_mean", "kappa_mean", "date_mae_days_mean"} <= set(table.columns)
    page = leaderboard_page(tmp_path)
    assert "| method | encoder | unit | labels | OA | kappa | date_mae_days | seeds | reproduce |" in page
    assert "| change dating | – | parcel | 100% | 0.750 | 0.500 | 12.500 | seed 0 | R1 |" in page


def test_leaderboard_without_results_and_with_corrupted_records(tmp_path):
    assert "No scores yet" in leaderboard_page(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "record.json").write_text("not json")
    page = leaderboard_page(tmp_path)
    assert "No scores yet" in page and "1 run record(s) could not be read" in page
    assert "* x/record.json: run record x/record.json is not valid JSON" in page and str(tmp_path) not in page


def test_standard_plots_draw_mean_curves_and_bands(tmp_path):
    label_efficiency_records(tmp_path)
    scores = collect(tmp_path).scores
    table = efficiency_table(scores, "macro_f1")
    assert set(table["method"]) == {"linear probe / simclr"}, "TempCNN has one fraction only: no curve"
    axes = plot_label_efficiency(table, "macro_f1")
    (line,) = axes.lines
    assert list(line.get_xdata()) == [10.0, 100.0]  # percent of the training labels
    assert list(line.get_ydata()) == pytest.approx([0.6, statistics.mean([0.8, 0.82, 0.9])])
    band = axes.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.5) and band.max() == pytest.approx(
        statistics.mean([0.8, 0.82, 0.9]) + statistics.stdev([0.8, 0.82, 0.9]))
    figure = plot_accuracy_vs_time(scores, "oa")
    (points,) = [c for c in figure.axes[0].containers]
    x, y = points.lines[0].get_data()
    assert list(x) == pytest.approx([11.0]) and list(y) == pytest.approx([0.8])
    written = standard_plots(scores, tmp_path / "plots")
    assert sorted(p.name for p in written) == ["accuracy_vs_time_05_ssl_synthetic-toy.png",
                                               "label_efficiency_05_ssl_synthetic-toy.png"]
    assert all(p.stat().st_size > 5000 for p in written)


def test_a_collected_sweep_has_one_row_per_run(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"name": "tiny", "notebook": "tests/data/tiny_sweep.ipynb",
                                      "grid": {"label_fraction": [0.1, 1.0], "seed": [0, 1]}}))
    assert run_sweep(config, runs_dir=tmp_path / "runs", jobs=2, root=REPO, progress=False).ok
    collection = collect(tmp_path / "runs")
    assert collection.errors == []
    runs = collection.runs.sort_values(["param.label_fraction", "seed"])
    assert runs[["param.label_fraction", "seed"]].values.tolist() == [[0.1, 0], [0.1, 1], [1.0, 0], [1.0, 1]]
    assert runs["metric.a.oa"].tolist() == pytest.approx([0.05, 0.06, 0.5, 0.51])
    assert set(runs["sweep"]) == {"tiny"} and runs["command"].str.startswith("sitsbench sweep").all()
    assert collection.scores.groupby("label_fraction")["value"].count().tolist() == [4, 4]
    assert set(collection.scores["setting"]) == {""}  # runs differ only by seed and label fraction


def test_book_build_writes_the_leaderboard_after_the_notebooks_ran(tmp_path, monkeypatch):
    from sitsbench import book

    def fake_execute(notebook, output, parameters, cwd):  # stands for papermill: the chapter writes its record
        write_run_record(Path(parameters["output_dir"]) / "record.json", name=notebook.stem, seed=0,
                         parameters={"profile": parameters["profile"]}, metrics={"RF": {"oa": 0.75}},
                         scores=[score_row("unknown", "RF", "oa", 0.75)])
        output.write_text("{}")
        return 0.0

    monkeypatch.setattr(book, "execute_notebook", fake_execute)
    source = book.build("quick", tmp_path / "_build", only=["01"], html=False)
    page = (source / "leaderboard.md").read_text()
    assert "## 01_sits_data on unknown" in page and "| RF | – | pixel | 100% | 0.750 | seed 0 | R1 |" in page
    assert "`papermill notebooks/01_sits_data.ipynb out.ipynb -p profile quick -p seed 0`" in page
    assert (source / "datasets.md").read_text().startswith("#")
    assert "leaderboard" in book.toc_files(REPO / "book" / "_toc.yml")


def test_seeds_repeated_inside_one_run_are_averaged_like_runs(tmp_path):
    scores = [score_row("synthetic/toy", "linear probe", "macro_f1", value, encoder="simclr", label_fraction=0.1,
                        seed=seed) for seed, value in [(0, 0.4), (1, 0.5), (2, 0.9)]]
    write_record(tmp_path, name="06_downstream", seed=7, scores=scores)
    table = leaderboard_table(collect(tmp_path).scores)
    (row,) = table.to_dict("records")
    assert row["seeds"] == [0, 1, 2] and row["macro_f1_n"] == 3
    assert row["macro_f1_mean"] == pytest.approx(0.6) and row["macro_f1_std"] == pytest.approx(
        statistics.stdev([0.4, 0.5, 0.9]))


def test_real_data_page_reads_the_real_runs_and_lists_skipped_ones(tmp_path):
    from sitsbench.book import real_data_executions
    from sitsbench.results.real_data import real_data_page

    executions, skipped = real_data_executions("quick", tmp_path, tmp_path / "executed", tmp_path / "nowhere")
    assert executions == []
    assert len(skipped) == 4 and all("is not on this machine" in line for line in skipped)
    page = real_data_page(tmp_path)
    assert "No real-data run in this build" in page and "## Skipped runs" in page
    run = tmp_path / "real" / "02_supervised_baselines--v"
    write_run_record(
        run / "record.json", name="02_supervised_baselines", seed=0,
        parameters={"profile": "quick", "dataset": "/data/v"}, metrics={"free-form": "never read"},
        dataset={"name": "victoria-s2", "n_samples": 800, "classes": ["a", "b"], "split": "group (reason)",
                 "source": "/data/v", "checksum": "sha256:" + "0" * 64, "skipped": {"U-TAE": "no patches"},
                 "test_pixels": 100},
        scores=[score_row("victoria-s2", name, metric, value, unit="sample", train_time_s=time_s)
                for name, time_s, values in (("majority class", 0.0, (0.5, 0.33, 0.0)),
                                             ("TempCNN", 1.0, (0.8, 0.75, 0.6)))
                for metric, value in zip(("oa", "macro_f1", "kappa"), values)])
    page = real_data_page(tmp_path)
    assert "## victoria-s2" in page and "| TempCNN | 0.800 | 0.750 | 0.600 | 1.0 |" in page
    assert "(100 test series; at OA 0.80 the binomial standard error is ±0.040" in page
    assert "U-TAE: no patches" in page and "-p dataset DATA_ROOT/v" in page and "/data/v" not in page


def test_real_data_page_shows_intervals_and_paired_differences_of_chapter_6(tmp_path):
    from sitsbench.results.real_data import real_data_page

    identity = {"dataset": "cerrado", "unit": "sample", "metric": "macro_f1", "level": 0.95}
    run = tmp_path / "real" / "06_downstream--cerrado"
    write_run_record(
        run / "record.json", name="06_downstream", seed=0, parameters={"profile": "quick", "dataset": "cerrado"},
        dataset={"name": "cerrado", "n_samples": 746, "classes": ["Cerrado", "Pasture"], "split": "group",
                 "source": "/data/c", "checksum": "sha256:" + "1" * 64},
        metrics={"label_efficiency": "free-form: never read"},
        scores=[score_row("cerrado", "linear probe", metric, value, encoder="SimCLR", unit="sample",
                          label_fraction=fraction, n_labels=n)
                for fraction, n, values in ((0.1, 30, (0.8, 0.82)), (1.0, 300, (0.9, 0.91)))
                for metric, value in zip(("macro_f1", "oa"), values)],
        intervals=[{**identity, "method": "linear probe", "encoder": "SimCLR", "label_fraction": fraction,
                    "estimate": estimate, "low": low, "high": high}
                   for fraction, estimate, low, high in ((0.1, 0.8, 0.75, 0.84), (1.0, 0.9, 0.86, 0.93))],
        differences=[{**identity, "method": "linear probe", "encoder": "SimCLR", "versus_method": "linear probe",
                      "versus_encoder": "random init", "label_fraction": fraction, "difference": difference,
                      "low": low, "high": high}
                     for fraction, difference, low, high in ((0.1, 0.05, 0.01, 0.09), (1.0, -0.01, -0.04, 0.02))])
    page = real_data_page(tmp_path)
    assert "| linear probe / SimCLR | 0.800 [0.750, 0.840] | 0.900 [0.860, 0.930] |" in page
    assert "| linear probe / SimCLR − linear probe / random init | **+0.050 [+0.010, +0.090]** | -0.010 [-0.040, " \
           "+0.020] |" in page
    assert "| comparison | 10% (30 labels) | 100% (300 labels) |" in page
    assert "| SimCLR | – | – | 0.900 (0.910) | – |" not in page  # a protocol table holds only the protocols run
    assert "| SimCLR | 0.900 (0.910) |" in page
    # a chapter-6 record written before the intervals were recorded is refused, naming it
    update_run_record(run / "record.json", intervals=[], record_version=1)
    with pytest.raises(ValueError, match=r"06_downstream--cerrado/record\.json \(version 1\) has no intervals"):
        real_data_page(tmp_path)
