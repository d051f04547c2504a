"""Chapter 4 (Deep-STaR planes) runs headless in quick mode and its record shows what the chapter claims."""

import json

import pytest


@pytest.mark.slow
def test_deepstar_chapter_trains_str_models_and_tempcnn_on_the_same_parcels(chapter_run):
    out = chapter_run("04_deepstar_planes")
    record = json.loads((out / "record.json").read_text())
    metrics = record["metrics"]
    assert record["dataset"]["pretrained_weights"] is None  # trained from scratch
    floor = metrics["majority_oa"]
    runs = {name: value for name, value in metrics.items() if isinstance(value, dict)}
    assert {"MS-STR (random walks)", "G-STR (hilbert, augmented)", "TempCNN (pixels, parcel mean)"} <= set(runs)
    assert len({run["n_test_parcels"] for run in runs.values()}) == 1  # the same test parcels for every model
    for name in ("MS-STR (random walks)", "G-STR (hilbert, augmented)", "TempCNN (pixels, parcel mean)"):
        assert runs[name]["oa"] > floor + 0.4, name  # ten classes, majority about 0.25
        assert runs[name]["macro_f1"] > 0.6, name
    assert runs["MS-STR (random walks)"]["n_train_str"] > runs["G-STR (hilbert, augmented)"]["n_train_str"] > 0
