"""The measurement helpers of :mod:`sitsbench.perf` that do not time anything (timings are compared in
``benchmarks/``)."""

from sitsbench.perf import scaling_table, training_step_throughput


def test_scaling_table_prints_each_cube_with_its_ratios_to_the_smallest():
    rows = [{"side": 64, "pixels": 4096, "cube_mib": 3.0, "seconds": 2.0, "pixels_per_s": 2048.0, "peak_mib": 10.0},
            {"side": 128, "pixels": 16384, "cube_mib": 12.0, "seconds": 6.0, "pixels_per_s": 2730.7, "peak_mib": 12.5}]
    header, first, second = scaling_table(rows).splitlines()
    assert header.split()[:3] == ["side", "pixels", "cube"] and header.endswith("memory ratio")
    assert first.split() == ["64", "4096", "3.0", "2.00", "2048", "10.0", "1.00", "1", "1.00"]
    assert second.split() == ["128", "16384", "12.0", "6.00", "2731", "12.5", "3.00", "4", "1.25"]


def test_training_throughput_builds_fixed_length_models_for_the_dates_it_feeds():
    """The official L-TAE normalises over a fixed number of dates (24 by default): measured on 36-date batches it
    must be built for 36, as training builds it, or its first step fails."""
    rows = training_step_throughput(("tempcnn_tiny", "ltae"), batch_size=4, n_dates=36, steps=1, device="cpu")
    assert [row["model"] for row in rows] == ["tempcnn_tiny", "ltae"]
    assert all(row["samples_per_s"] > 0 and row["parameters"] > 0 for row in rows)
    assert rows[0]["speed_vs_tempcnn_tiny"] == 1
