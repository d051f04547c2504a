import json

import numpy as np
import pytest
import xarray as xr

from sitsbench.cli import main
from sitsbench.data.io import open_cube, save_cube
from sitsbench.records import read_run_record, write_run_record


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_save_and_open_round_trip(toy_cube, tmp_path, suffix):
    path = save_cube(toy_cube, tmp_path / f"cube{suffix}")
    lazy = open_cube(path)
    assert lazy.reflectance.chunks is not None
    xr.testing.assert_equal(lazy.compute(), toy_cube)
    assert lazy.attrs["class_names"] == toy_cube.attrs["class_names"]


def test_open_reports_missing_and_corrupted_files(toy_cube, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_cube(tmp_path / "absent.zarr")
    path = save_cube(toy_cube, tmp_path / "cube.nc")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="cannot read cube .*cube.nc"):
        open_cube(path)
    (tmp_path / "cube.csv").touch()
    with pytest.raises(ValueError, match="unknown cube format"):
        open_cube(tmp_path / "cube.csv")
    (tmp_path / "cube.tif").touch()  # a raster stack needs its dates
    with pytest.raises(ValueError, match=r"cube\.dates\.txt"):
        open_cube(tmp_path / "cube.tif")
    (tmp_path / "cube.dates.txt").write_text("2020-01-01\n")  # ... and then readable bytes
    with pytest.raises(ValueError, match=r"cube\.tif: cannot read the raster"):
        open_cube(tmp_path / "cube.tif")


def test_run_record_is_complete_and_readable(tmp_path):
    path = write_run_record(
        tmp_path / "run" / "record.json", name="demo", parameters={"epochs": 2}, metrics={"oa": np.float32(0.5)},
        seed=3, device="cpu", duration_s=1.5,
    )
    record = read_run_record(path)
    assert record["metrics"]["oa"] == 0.5 and record["seed"] == 3 and record["parameters"] == {"epochs": 2}
    assert {"torch", "numpy", "python"} <= set(record["versions"]) and record["git_sha"]
    assert not list(path.parent.glob(".*.tmp"))
    path.write_text("{not json")
    with pytest.raises(ValueError, match="record.json is not valid JSON"):
        read_run_record(path)
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="lacks the fields"):
        read_run_record(path)


def test_cli_generates_a_cube(tmp_path, capsys):
    assert main(["synthetic", str(tmp_path / "toy.zarr"), "--preset", "toy", "--seed", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    cube = open_cube(tmp_path / "toy.zarr", chunks=None)
    assert cube.sizes["y"] == 64 and cube.attrs["origin"] == "sitsbench synthetic (seed=2)"
    assert cube.attrs["source"] == str(tmp_path / "toy.zarr"), "errors about the cube name its file"


def test_profiles_take_the_knobs_set_in_the_parameters_and_refuse_a_list_given_as_text():
    from sitsbench.notebook import resolve_profile

    quick, full = {"epochs": 2, "seeds": [0, 1, 2]}, {"epochs": 50, "seeds": [0, 1, 2, 3, 4]}
    unset = {"epochs": None, "seeds": None, "profile": "quick", "np": np}  # a chapter's namespace holds more names
    assert resolve_profile("quick", quick, full, unset) == quick
    assert resolve_profile("full", quick, full, {**unset, "epochs": 7, "seeds": [3]}) == {"epochs": 7, "seeds": [3]}
    with pytest.raises(TypeError, match=r"'seeds' must be a list .* got str '\[0, 1\]'.*-y 'seeds: \[0, 1, 2\]'"):
        resolve_profile("quick", quick, full, {**unset, "seeds": "[0, 1]"})  # what papermill -p seeds "[0, 1]" passes
    with pytest.raises(ValueError, match=r"knobs \['seeds'\] of the profiles are not parameters"):
        resolve_profile("quick", quick, full, {"epochs": None})
    with pytest.raises(ValueError, match="profile must be"):
        resolve_profile("fast", quick, full, unset)
