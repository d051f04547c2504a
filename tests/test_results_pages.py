"""The generated results pages as a reviewer reads them: reproduce lines that re-run their row, no build path, no
missing or raw cell, a Findings box that states exactly the differences whose intervals exclude 0, ``hard`` apart.

The fixture ``tests/data/results/06_downstream_victoria.json`` is a trimmed chapter-6 run record of the book build on
the Victoria samples (quick profile): its dataset, parameters, its macro-F1 score rows (and the OA of its protocols),
its intervals and paired differences (:mod:`sitsbench.records`).
"""

import copy
import json
import re
from pathlib import Path

import pytest

from sitsbench.records import score_row, write_run_record
from sitsbench.results.collect import data_argument, number, reproduce_command, seeds_text
from sitsbench.results.leaderboard import leaderboard_page
from sitsbench.results.real_data import families_summary, findings_box, hard_landscape_page, real_data_page

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "data" / "results" / "06_downstream_victoria.json"
DATA_ROOT = REPO.parent / "shared" / "data"
BUILD_PATH = re.compile(r"\.\./|shared/data|_build/|/tmp/|/work/")


def victoria() -> dict:
    return json.loads(FIXTURE.read_text())


def hard(record: dict) -> dict:
    """The fixture turned into a chapter-6 record on the ``hard`` preset, with a method trained on parcels."""
    record = copy.deepcopy(record)
    record["parameters"]["dataset"] = "hard"
    record["dataset"] = {"name": "hard", "layout": "synthetic", "classes": ["a", "b", "c"], "checksum": "sha256:1",
                         "cube_sizes": {"y": 192, "x": 192, "time": 30}, "train_pixels": 2000, "test_pixels": 2000,
                         "test_groups": 41, "split": "spatial blocks"}
    for row in record["scores"] + record["intervals"] + record["differences"]:
        row["dataset"], row["unit"] = "synthetic/hard", "pixel"
    record["scores"] += [score_row("synthetic/hard", "Deep-STaR", "macro_f1", 0.5, label_fraction=fraction, seed=seed,
                                   n_labels=parcels, label_unit="parcel")
                         for fraction, parcels in ((0.01, 10), (0.1, 13), (1.0, 133)) for seed in (0, 1, 2)]
    record["intervals"] += [{"dataset": "synthetic/hard", "method": "Deep-STaR", "encoder": None, "unit": "pixel",
                             "label_fraction": fraction, "metric": "macro_f1", "estimate": 0.5, "low": 0.4,
                             "high": 0.6, "level": 0.95} for fraction in (0.01, 1.0)]  # none at 10 %
    return record


def write(results: Path, run: str, record: dict) -> None:
    folder = results / "real" / run
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path):
    write(tmp_path, "06_downstream--igarss2019_victoria_s2", victoria())
    write(tmp_path, "06_downstream--hard", hard(victoria()))
    return tmp_path


def section(page: str, title: str) -> str:
    return page.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_data_is_named_by_placeholder_preset_or_manifest_never_by_a_build_path():
    assert data_argument("../shared/data/igarss2019_victoria_s2", DATA_ROOT) == "DATA_ROOT/igarss2019_victoria_s2"
    assert data_argument(str(DATA_ROOT / "sits_samples" / "cerrado_2classes.rda"), DATA_ROOT) == \
        "DATA_ROOT/sits_samples/cerrado_2classes.rda"
    assert data_argument("/elsewhere/cerrado_2classes.rda") == "DATA_ROOT/cerrado_2classes.rda"
    assert data_argument("victoria-s2:/mnt/copies/victoria") == "victoria-s2:DATA_ROOT/victoria"
    assert [data_argument(v) for v in ("hard", "victoria-s2", "tests/data/tiny.csv", None)] == [
        "hard", "victoria-s2", "tests/data/tiny.csv", None]  # a path in the repository: every clone has it
    assert seeds_text([0]) == "seed 0" and seeds_text([0, 1, 2]) == "seeds 0, 1, 2"
    assert [number(float("nan")), number(None), number(0.926829), number(0.0784, signed=True)] == [
        "–", "–", "0.927", "+0.078"]


def test_each_leaderboard_row_is_reproduced_by_a_command_naming_its_dataset_profile_and_seeds(results, tmp_path):
    record = victoria()
    assert reproduce_command(record, DATA_ROOT) == (
        "papermill notebooks/06_downstream.ipynb out.ipynb -p profile quick -p dataset "
        "DATA_ROOT/igarss2019_victoria_s2 -p seed 0 -y 'seeds: [0, 1, 2]'")
    write_run_record(results / "02" / "record.json", name="02_supervised_baselines", seed=0,
                     parameters={"profile": "quick", "dataset": "default", "output_dir": "_build/runs/02"},
                     metrics={}, scores=[score_row("synthetic/default", "TempCNN", "f1", float("nan")),
                                         score_row("synthetic/default", "TempCNN", "oa", 0.926829),
                                         score_row("synthetic/default", "RF", "f1", 0.5)])
    write_run_record(results / "01" / "record.json", name="01_sits_data", seed=0, metrics={},
                     parameters={"profile": "quick", "dataset": "default", "real_data": "../shared/data/sits_sinop_modis"},
                     scores=[score_row("sits-sinop-modis", "random forest", "oa", 0.8, unit="point")])
    page = leaderboard_page(results, DATA_ROOT)
    # a chapter whose last section reads real data: the command names it (the default would be a build path)
    assert "-p dataset default -p real_data DATA_ROOT/sits_sinop_modis -p seed 0`" in \
        section(page, "01_sits_data on sits-sinop-modis")
    commands = {title: section(page, title) for title in ("06_downstream on victoria-s2",
                                                          "06_downstream on synthetic/hard",
                                                          "02_supervised_baselines on synthetic/default")}
    assert "-p dataset DATA_ROOT/igarss2019_victoria_s2 -p seed 0 -y 'seeds: [0, 1, 2]'`" in \
        commands["06_downstream on victoria-s2"]
    assert "-p profile quick -p dataset hard -p seed 0 -y 'seeds: [0, 1, 2]'`" in \
        commands["06_downstream on synthetic/hard"]
    assert "`papermill notebooks/02_supervised_baselines.ipynb out.ipynb -p profile quick -p dataset default -p seed 0`" \
        in commands["02_supervised_baselines on synthetic/default"]
    rows = [line for line in commands["06_downstream on victoria-s2"].splitlines() if line.startswith("| linear")]
    assert rows and all(line.endswith("| seeds 0, 1, 2 | R1 |") for line in rows)
    # label fractions with the number of labels the record counts (Deep-STaR: parcels)
    # (the trimmed fixture keeps the OA of the protocols only: a dash for the curves)
    assert "| linear probe | SimCLR | sample | 1% (8) | – | 0.475 ± 0.083 | seeds 0, 1, 2 | R1 |" in page
    assert "| k-NN probe | SimCLR | sample | 100% (472) | 0.730 | 0.675 | seed 0 | R1 |" in page
    assert "| Deep-STaR | – | pixel | 100% (133 parcels) | – | 0.500 ± 0.000 | seeds 0, 1, 2 | R1 |" in page
    # the NaN F1 is a dash with a note saying why, the raw float has 3 decimals
    assert "| TempCNN | – | pixel | 100% | 0.927 | – | seed 0 | R1 |" in page
    assert "– : the run records hold no OA / F1 score for this row" in page  # RF has no OA
    assert "nan" not in page.lower().replace("nanosecond", "") and "0.926829" not in page
    assert not BUILD_PATH.search(page) and str(tmp_path) not in page


def test_the_findings_box_states_exactly_the_differences_whose_interval_excludes_0():
    record = victoria()
    box = "\n".join(findings_box(record))
    assert box.startswith(":::{admonition} Findings\n:class: findings\n") and box.endswith(":::\n")
    established = box.split("**What the intervals establish**", 1)[1].split("**Not distinguishable:**", 1)[0]
    excluded = {(r["encoder"], r["versus_method"], r["versus_encoder"], r["label_fraction"])
                for r in record["differences"] if r["low"] > 0 or r["high"] < 0}
    assert excluded == {("SimCLR", "linear probe", "random init", 0.01), ("DINO", "supervised", None, 1.0)}
    assert established.count("\n* ") == 2
    assert "* linear probe / SimCLR above linear probe / random init: +0.078 [+0.005, +0.196] at 1% (8 labels)." \
        in established
    assert "* linear probe / DINO below supervised: -0.112 [-0.202, -0.011] at 100% (472 labels)." in established
    for row in record["differences"]:
        interval = f"[{row['low']:+.3f}, {row['high']:+.3f}]"
        key = (row["encoder"], row["versus_method"], row["versus_encoder"], row["label_fraction"])
        assert (interval in established) == (key in excluded)
    # the reversed repeat (supervised − linear probe / SimCLR) is not counted twice
    assert "(2 of the 21 paired differences" in box and "the other 19 differences" in box
    assert "supervised − linear probe / SimCLR" not in box
    assert "148 test series" in box and "3 seeds (0, 1, 2)" in box and "pretrained once (seed 0)" in box

    nothing = copy.deepcopy(record)
    for row in nothing["differences"]:
        row["low"], row["high"] = min(row["low"], -0.01), max(row["high"], 0.01)
    assert "none of the 21 paired differences of macro-F1 has a 95 % interval that excludes 0" in \
        "\n".join(findings_box(nothing))


def test_the_real_data_page_marks_the_intervals_that_exclude_0_and_counts_the_labels(results):
    page = real_data_page(results, DATA_ROOT)
    victoria_section = section(page, "victoria-s2")
    assert victoria_section.index(":::{admonition} Findings") < victoria_section.index("**Chapter 6")
    assert "| comparison | 1% (8 labels) | 10% (47 labels) | 100% (472 labels) |" in victoria_section
    bold = re.findall(r"\*\*([+-]\d\.\d{3} \[[^]]+\])\*\*", victoria_section)
    assert bold == ["+0.078 [+0.005, +0.196]", "-0.112 [-0.202, -0.011]"]
    assert "| linear probe / SimCLR | 0.475 [0.350, 0.696] |" in victoria_section
    assert "| SimCLR | 0.685 (0.743) | 0.675 (0.730) | 0.655 (0.723) | 0.653 (0.716) |" in victoria_section
    assert "data `DATA_ROOT/igarss2019_victoria_s2`" in victoria_section
    assert not BUILD_PATH.search(page) and not re.search(r"\d\.\d{4,}|\bnan\b|None", page)


def test_the_hard_landscape_has_its_own_page_and_is_not_on_the_real_data_page(results):
    real, hard_page = real_data_page(results, DATA_ROOT), hard_landscape_page(results, DATA_ROOT)
    assert "## victoria-s2" in real and "## The `hard` landscape" not in real and "synthetic/hard" not in real
    assert "2000 test pixels" not in real and "Deep-STaR" not in real
    assert real.count(":::{admonition} Findings") == 1 and "-p dataset hard" not in real
    assert "on its own page, [A harder synthetic landscape](hard_landscape.md)" in real
    assert hard_page.startswith("# A harder synthetic landscape\n")
    assert "## The `hard` landscape" in hard_page and "victoria" not in hard_page.lower()
    assert hard_page.count(":::{admonition} Findings") == 1 and "2000 test pixels from 41 parcels" in hard_page
    assert "-p dataset hard -p seed 0" in hard_page and "**+0.078 [+0.005, +0.196]**" in hard_page
    # Deep-STaR counts parcels, not the pixels of the column titles; it has no interval at 10 %: a dash, explained
    assert "Deep-STaR is trained on parcels: 10 labelled parcels at 1%, 13 labelled parcels at 10%, 133 labelled " \
           "parcels at 100% (the column titles count labelled pixels)." in hard_page
    assert "| Deep-STaR | 0.500 [0.400, 0.600] | – | 0.500 [0.400, 0.600] |" in hard_page
    assert "– : this method was not run at this fraction." in hard_page
    assert "3 sowing practices per crop" in hard_page  # read from the preset, not typed


def test_the_book_lists_the_hard_page_and_writes_it(tmp_path, results):
    from sitsbench import book

    assert "hard_landscape" in book.toc_files(REPO / "book" / "_toc.yml")
    written = book.write_generated_pages(tmp_path, results, DATA_ROOT)
    assert {path.name for path in written} >= {"hard_landscape.md", "real_data.md", "leaderboard.md"}
    assert (tmp_path / "hard_landscape.md").read_text() == hard_landscape_page(results, DATA_ROOT)


def test_each_dataset_says_which_family_beats_random_init_from_the_paired_intervals(tmp_path):
    record = victoria()
    text = "\n".join(families_summary(record))
    at_one = next(line for line in text.splitlines() if line.startswith("* 1%"))
    assert at_one.startswith("* 1% (8 labels): SimCLR 0.475 [0.350, 0.696]; ")
    assert at_one.index("SimCLR ") < at_one.index("DINO ") and "linear probe / random init" not in at_one
    assert at_one.endswith("Above random init: SimCLR; below it: none; the other 2 not distinguishable from it.")
    # a comparison recorded the other way round (random init − AE) that excludes 0 puts the AE below
    reversed_row = next(r for r in record["differences"] if r["encoder"] == "AE" and r["label_fraction"] == 1.0)
    reversed_row.update(encoder="random init", versus_method="linear probe", versus_encoder="AE", difference=0.1,
                        low=0.02, high=0.2)
    at_full = next(line for line in families_summary(record) if line.startswith("* 100%"))
    assert at_full.endswith("Above random init: none; below it: AE; the other 2 not distinguishable from it.")
    write(tmp_path, "06_downstream--igarss2019_victoria_s2", record)
    assert "**Every family against the same backbone" in section(real_data_page(tmp_path, DATA_ROOT), "victoria-s2")
    without = copy.deepcopy(record)
    without["intervals"] = []
    assert families_summary(without) == []

