"""From model to map: `sitsbench train` / `predict-map` / `evaluate`, the model folder, the date policy, and the
guards that turn every silently wrong map of the issue into a correct map or a clear error."""

import json
import shutil

import numpy as np
import pytest

from sitsbench import cli
from sitsbench.data import cube as cube_format
from sitsbench.data import georef
from sitsbench.data.io import save_cube
from sitsbench.data.samples import samples_from_cube
from sitsbench.inference.dates import DatePolicyError, DateReference, plan_dates
from sitsbench.inference.map import open_map, predict_map
from sitsbench.inference.model_folder import MapModel, ModelFolderError
from sitsbench.training.map_training import MapTrainingConfig, evaluate_map_model, train_map_model


@pytest.fixture(scope="module")
def placed(toy_cube):
    from affine import Affine

    return georef.georeference(toy_cube.drop_dims([cube_format.TIME_S1]), "EPSG:32631",
                               Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, placed):
    folder = tmp_path_factory.mktemp("model_to_map")
    save_cube(placed, folder / "cube.zarr")
    return folder


@pytest.fixture(scope="module")
def forest(workdir):
    """`sitsbench train` on the toy cube: a Random Forest model folder."""
    assert cli.main(["train", str(workdir / "cube.zarr"), "--model", "rf", "--trees", "20", "--output",
                     str(workdir / "rf"), "--quiet"]) == 0
    return workdir / "rf"


@pytest.fixture(scope="module")
def reference_map(workdir, forest):
    assert cli.main(["predict-map", str(workdir / "cube.zarr"), "--model", str(forest), "--output",
                     str(workdir / "map.tif"), "--chunk", "32", "--quiet"]) == 0
    return open_map(workdir / "map.tif")["class"].values


def _predict(cube_path, model_folder, output, *extra):
    return cli.main(["predict-map", str(cube_path), "--model", str(model_folder), "--output", str(output),
                     "--chunk", "32", "--quiet", *extra])


def test_train_predict_map_evaluate_on_the_command_line(workdir, forest, reference_map, placed, capsys):
    import rasterio

    meta = json.loads((forest / "model.json").read_text())
    assert meta["bands"] == list(cube_format.S2_BANDS) and meta["date_policy"] == "resample"
    assert meta["class_names"] == cube_format.class_names(placed) and len(meta["normalisation"]["mean"]) == 10
    record = json.loads((forest / "train_record.json").read_text())
    assert record["metrics"]["test"]["oa"] > 0.5 and record["dataset"]["checksum"]
    with rasterio.open(workdir / "map.tif") as src:
        assert src.crs.to_epsg() == 32631 and src.transform == georef.transform_of(placed)
    agreement = (reference_map == placed["class"].values)[placed["class"].values >= 0].mean()
    assert agreement > 0.6, agreement
    capsys.readouterr()
    assert cli.main(["evaluate", str(forest), str(workdir / "cube.zarr")]) == 0
    out = capsys.readouterr().out
    assert "[test," in out and f"OA {record['metrics']['test']['oa']:.3f}" in out
    written = json.loads((forest / "evaluations" / "cube-test.json").read_text())
    assert written["metrics"]["oa"] == record["metrics"]["test"]["oa"] and written["parameters"]["subset"] == "test"
    assert MapModel.load(forest).fingerprint(), "the evaluation record beside the weights leaves the folder readable"


def test_a_band_reversed_cube_gives_the_same_map(workdir, forest, reference_map, placed):
    reversed_cube = placed.isel({cube_format.BAND: slice(None, None, -1)})
    save_cube(reversed_cube, workdir / "reversed.zarr")
    assert _predict(workdir / "reversed.zarr", forest, workdir / "reversed_map.tif") == 0
    np.testing.assert_array_equal(open_map(workdir / "reversed_map.tif")["class"].values, reference_map)


def test_a_cube_missing_a_band_is_refused_naming_it(workdir, forest, placed, capsys):
    save_cube(placed.sel({cube_format.BAND: [b for b in cube_format.S2_BANDS if b != "B8A"]}), workdir / "no_b8a.zarr")
    assert _predict(workdir / "no_b8a.zarr", forest, workdir / "no_b8a.tif") == 2
    assert "missing ['B8A']" in capsys.readouterr().err
    assert not (workdir / "no_b8a.tif").exists()


def test_digital_numbers_are_refused(workdir, forest, placed, capsys):
    save_cube(placed.assign({cube_format.REFLECTANCE: placed[cube_format.REFLECTANCE] * 10_000}), workdir / "dn.zarr")
    assert _predict(workdir / "dn.zarr", forest, workdir / "dn.tif") == 2
    err = capsys.readouterr().err
    assert "far outside the range" in err and "window rows 0:32 cols 0:32" in err and "digital numbers" in err


def test_nan_under_a_clear_mask_is_refused_naming_the_window(workdir, forest, placed, capsys):
    values = placed[cube_format.REFLECTANCE].values.copy()
    valid = placed[cube_format.VALID].values
    t, y, x = np.argwhere(valid[:, 40:, 40:])[0] + (0, 40, 40)
    values[t, 2, y, x] = np.nan
    save_cube(placed.assign({cube_format.REFLECTANCE: (placed[cube_format.REFLECTANCE].dims, values)}), workdir / "nan.zarr")
    assert _predict(workdir / "nan.zarr", forest, workdir / "nan.tif") == 2
    assert f"NaN/inf observations where 'valid' is True (first at time index {t}, y index {y}, x index {x})" in \
        capsys.readouterr().err
    # an in-memory cube is checked window by window as it is read
    bad = placed.assign({cube_format.REFLECTANCE: (placed[cube_format.REFLECTANCE].dims, values)})
    with pytest.raises(ValueError, match="window rows 32:64 cols 32:64: 1 observation"):
        predict_map(bad, MapModel.load(forest), workdir / "nan_memory.zarr", chunk=32, progress=False)


def test_a_deleted_zarr_chunk_is_detected(workdir, forest, placed, capsys):
    save_cube(placed.chunk({cube_format.Y: 32, cube_format.X: 32}), workdir / "holed.zarr")
    chunk = next(p for p in (workdir / "holed.zarr" / cube_format.VALID).iterdir() if not p.name.startswith("."))
    chunk.unlink()
    assert _predict(workdir / "holed.zarr", forest, workdir / "holed.tif") == 2
    assert "chunks missing" in capsys.readouterr().err


def test_swapped_x_and_y_are_refused(workdir, forest, placed, capsys):
    swapped = placed.transpose(cube_format.TIME, cube_format.BAND, cube_format.X, cube_format.Y, ...)
    save_cube(swapped, workdir / "swapped.zarr")
    assert _predict(workdir / "swapped.zarr", forest, workdir / "swapped.tif") == 2
    assert "has dims ('time', 'band', 'x', 'y'), expected ('time', 'band', 'y', 'x')" in capsys.readouterr().err
    assert not (workdir / "swapped.tif").exists()


def test_an_output_of_another_model_is_refused_then_replaced_with_overwrite(workdir, forest, placed, capsys):
    assert cli.main(["train", str(workdir / "cube.zarr"), "--model", "rf", "--trees", "5", "--seed", "1",
                     "--output", str(workdir / "rf_other"), "--quiet"]) == 0
    output = workdir / "other_map.tif"
    shutil.copy(workdir / "map.tif", output)
    shutil.copy(workdir / "map.confidence.tif", workdir / "other_map.confidence.tif")
    before = output.read_bytes()
    capsys.readouterr()
    assert _predict(workdir / "cube.zarr", workdir / "rf_other", output) == 2
    assert "another cube, model or options" in capsys.readouterr().err
    assert output.read_bytes() == before, "a refusing run leaves the existing map untouched"
    assert _predict(workdir / "cube.zarr", workdir / "rf_other", output, "--overwrite") == 0
    other = MapModel.load(workdir / "rf_other")
    expected = predict_map(workdir / "cube.zarr", other, workdir / "other_expected.zarr", chunk=32, progress=False)
    np.testing.assert_array_equal(open_map(output)["class"].values, expected["class"].values)
    assert open_map(output).attrs["fingerprint"] == expected.attrs["fingerprint"]
    # the same run again returns the finished map without recomputing it
    stamp = output.stat().st_mtime_ns
    assert _predict(workdir / "cube.zarr", workdir / "rf_other", output) == 0
    assert output.stat().st_mtime_ns == stamp


def test_a_foreign_or_damaged_model_folder_is_named(workdir, forest, tmp_path):
    with pytest.raises(ModelFolderError, match="no model.json"):
        MapModel.load(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(forest, broken)
    (broken / "model.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        MapModel.load(broken)
    (broken / "model.json").write_text(json.dumps({"format": "other-tool/3"}))
    with pytest.raises(ModelFolderError, match="other-tool/3"):
        MapModel.load(broken)
    shutil.copy(forest / "model.json", broken / "model.json")
    with open(broken / "estimator.pkl", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelFolderError, match="checksum differs"):
        MapModel.load(broken)
    (broken / "estimator.pkl").unlink()
    with pytest.raises(ModelFolderError, match="estimator.pkl is missing"):
        MapModel.load(broken)
    with pytest.raises(FileExistsError):
        MapModel.load(forest).save(forest)


def test_date_policy_resample_maps_another_year_and_refuses_a_short_season(workdir, forest, reference_map, placed):
    model = MapModel.load(forest)
    next_year = placed.assign_coords({cube_format.TIME: placed[cube_format.TIME].values + np.timedelta64(364, "D")})
    assert (next_year[cube_format.TIME].values.astype("datetime64[Y]") != placed[cube_format.TIME].values.astype("datetime64[Y]")).all()
    result = predict_map(next_year, model, workdir / "next_year.zarr", chunk=32, progress=False)
    agreement = (result["class"].values == reference_map).mean()
    assert agreement > 0.95, agreement  # one day earlier in the season: nearly the same interpolated series
    half = placed.isel({cube_format.TIME: slice(0, placed.sizes[cube_format.TIME] // 2)})
    with pytest.raises(DatePolicyError, match="do not cover the model's season"):
        predict_map(half, model, workdir / "half.zarr", chunk=32, progress=False)
    assert not (workdir / "half.zarr").exists() and not (workdir / "half.zarr.partial.zarr").exists()


def test_date_policies_on_plans():
    dates = np.array(["2021-01-05", "2021-03-01", "2021-06-01", "2021-09-01", "2021-12-20"], dtype="datetime64[D]")
    reference = DateReference.from_dates(dates[None])
    assert reference.start_doy == 5 and reference.doy[-1] == 354
    identity = plan_dates(dates, reference, "resample")
    np.testing.assert_array_equal(identity.target_days, identity.source_days)
    shifted = dates + np.timedelta64(3, "D")
    with pytest.raises(DatePolicyError, match="'exact'"):
        plan_dates(dates[1:], reference, "exact", "cube X")
    exact = plan_dates(shifted, reference, "exact")
    np.testing.assert_array_equal(exact.doy, reference.doy)
    doy = plan_dates(dates[::2], reference, "doy")
    np.testing.assert_array_equal(doy.doy, [5, 152, 354])
    # a season that straddles a new year is placed by day of year, whatever the year
    winter = np.array(["2020-10-01", "2020-12-15", "2021-03-01", "2021-06-01"], dtype="datetime64[D]")
    later = winter + np.timedelta64(2 * 365, "D")
    plan = plan_dates(later, DateReference.from_dates(winter[None]), "resample")
    np.testing.assert_allclose(plan.target_days, plan.source_days, atol=1.0)
    # "days": days since the season start (day of year 275: 2022-10-02), increasing across the new year
    days = plan_dates(later[1:], DateReference.from_dates(winter[None]), "days")
    start = np.datetime64("2022-10-02")
    np.testing.assert_array_equal(days.doy, (later[1:] - start).astype(int))
    assert days.doy.tolist() == [74, 150, 242]
    np.testing.assert_array_equal(days.target_days, days.source_days)
    values = np.arange(4, dtype=np.float32)[None, :, None] * np.ones((2, 4, 1), np.float32)
    valid = np.array([[True, False, True, True], [True, True, True, True]])
    x, mask = plan.apply(values, valid)
    assert x.shape == (2, 4, 1) and mask[0].tolist() == [True, False, True, True]
    assert abs(x[0, 1, 0] - 1.0) < 0.05, "a cloudy date is interpolated from its clear neighbours"


@pytest.mark.parametrize("name", ["tempcnn_tiny", "ltae_small", "transformer_tiny"])
def test_network_model_folders_round_trip_and_follow_their_date_policy(name, toy_cube, tmp_path):
    samples = samples_from_cube(toy_cube)
    config = MapTrainingConfig(model=name, epochs=2, max_train_samples=800, seed=0, device="cpu", progress=False)
    model, summary = train_map_model(samples, config)
    assert summary["date_policy"] == ("resample" if name.startswith("tempcnn") else "doy")
    assert summary["history"]["train_loss"][-1] < summary["history"]["train_loss"][0]
    model.save(tmp_path / name)
    loaded = MapModel.load(tmp_path / name, device="cpu")
    test = np.zeros(samples.sizes["sample"], dtype=bool)
    test[::7] = True
    first, second = evaluate_map_model(model, samples, test), evaluate_map_model(loaded, samples, test)
    assert first == second and first["oa"] > 1.5 / len(model.class_names)
    assert loaded.fingerprint() == model.fingerprint()
    if name != "tempcnn_tiny":  # any dates: every other date of the cube is accepted, as the day of year says
        fewer = toy_cube.isel({cube_format.TIME: slice(None, None, 2)})
        result = predict_map(fewer, loaded, tmp_path / "fewer.zarr", chunk=64, progress=False)
        assert (result["class"].values >= 0).mean() > 0.9
    with pytest.raises(ValueError, match="date policy 'doy' cannot feed 'rf', whose date encoding is 'position'"):
        train_map_model(samples, MapTrainingConfig(model="rf", date_policy="doy", progress=False))


def test_models_that_cannot_map_pixels_are_refused_before_training(toy_cube):
    samples = samples_from_cube(toy_cube)
    with pytest.raises(ValueError, match="is a patch classifier"):
        train_map_model(samples, MapTrainingConfig(model="utae_tiny", progress=False))
    with pytest.raises(ValueError, match="unknown model 'tempcn'; did you mean"):
        train_map_model(samples, MapTrainingConfig(model="tempcn", progress=False))


def test_train_refuses_an_existing_output_before_any_work(workdir, forest, capsys):
    stamp = (forest / "model.json").stat().st_mtime_ns
    assert cli.main(["train", str(workdir / "cube.zarr"), "--output", str(forest), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (forest / "model.json").stat().st_mtime_ns == stamp


def test_map_assessment_on_the_command_line(workdir, reference_map, placed, capsys):
    """Reference points drawn at random per map class, labelled with the cube's true classes, go through
    `sitsbench evaluate --map --reference`; the estimated areas' intervals hold the true areas."""
    import pandas as pd
    from pyproj import Transformer

    rng = np.random.default_rng(0)
    truth = placed["class"].values
    names = cube_format.class_names(placed)
    rows, cols = [], []
    for k in np.unique(reference_map[reference_map >= 0]):
        where = np.argwhere(reference_map == k)
        chosen = where[rng.choice(len(where), min(len(where), 30), replace=False)]
        rows += chosen[:, 0].tolist()
        cols += chosen[:, 1].tolist()
    rows, cols = np.array(rows), np.array(cols)
    keep = truth[rows, cols] >= 0
    rows, cols = rows[keep], cols[keep]
    x, y = placed.x.values[cols], placed.y.values[rows]
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(x, y)
    table = pd.DataFrame({"longitude": lon, "latitude": lat, "label": [names[k] for k in truth[rows, cols]]})
    table.to_csv(workdir / "reference.csv", index=False)
    capsys.readouterr()
    code = cli.main(["evaluate", "--map", str(workdir / "map.tif"), "--reference", str(workdir / "reference.csv"),
                     "--record", str(workdir / "assessment.json")])
    out = capsys.readouterr().out
    assert code == 0 and "overall accuracy" in out and "areas in ha" in out
    record = json.loads((workdir / "assessment.json").read_text())
    table = pd.DataFrame(record["metrics"]["table"]).T
    true_area = pd.Series(np.bincount(truth[truth >= 0], minlength=len(names)) * 0.01, index=names)
    mapped = table["mapped_area"].astype(float)
    assert np.isclose(mapped.sum(), (reference_map >= 0).sum() * 0.01)
    inside = (table["area"].astype(float) - true_area[table.index]).abs() <= 3 * table["area_ci"].astype(float) + 1e-9
    assert inside.mean() >= 0.8, table[["area", "area_ci"]].assign(true=true_area)


def test_evaluate_refuses_mixed_arguments(forest, capsys):
    assert cli.main(["evaluate", str(forest), "--map", "m.tif", "--reference", "r.csv"]) == 2
    assert "no model or dataset" in capsys.readouterr().err

