"""The measurement helpers of :mod:`sitsbench.perf` that do not time anything (timings are compared in
``benchmarks/``)."""

from sitsbench.perf import scaling_table


def test_scaling_table_prints_each_cube_with_its_ratios_to_the_smallest():
    rows = [{"side": 64, "pixels": 4096, "cube_mib": 3.0, "seconds": 2.0, "pixels_per_s": 2048.0, "peak_mib": 10.0},
            {"side": 128, "pixels": 16384, "cube_mib": 12.0, "seconds": 6.0, "pixels_per_s": 2730.7, "peak_mib": 12.5}]
    header, first, second = scaling_table(rows).splitlines()
    assert header.split()[:3] == ["side", "pixels", "cube"] and header.endswith("memory ratio")
    assert first.split() == ["64", "4096", "3.0", "2.00", "2048", "10.0", "1.00", "1", "1.00"]
    assert second.split() == ["128", "16384", "12.0", "6.00", "2731", "12.5", "3.00", "4", "1.25"]
