"""Deep-STaR planar representations: curves, extraction values, parcel averaging, timm classifiers, saliency."""

import numpy as np
import pytest
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.synthetic import generate_cube
from sitsbench.models import create_model
from sitsbench.planes import (
    PlaneDataset,
    curves,
    extract_planes,
    grad_cam,
    parcel_average,
    parcel_boxes,
    predict_parcels,
    random_walk_planes,
    spatial_map,
    temporal_profile,
)
from sitsbench.training.engine import TrainConfig, fit

RNG = np.random.default_rng


@pytest.fixture(scope="module")
def clear_cube():
    """The toy cube without clouds, so that the planes can be compared with the raw cube value by value."""
    return generate_cube("toy", seed=1, cloud_cover=0.0)


@pytest.fixture(scope="module")
def blob():
    """An irregular, non-convex object: a disc with a notch and a hole."""
    rows, cols = np.mgrid[:13, :11]
    mask = (rows - 6) ** 2 + (cols - 5) ** 2 <= 30
    mask[5:7, 0:6] = False
    mask[9, 7] = False
    return mask


@pytest.mark.parametrize("kind", curves.GLOBAL_CURVES)
@pytest.mark.parametrize("transform", [0, 3, 5])
def test_space_filling_curves_visit_every_object_pixel_exactly_once(blob, kind, transform):
    curve = curves.global_curve(blob, kind, transform)
    assert blob[curve[:, 0], curve[:, 1]].all()
    visits = np.zeros(blob.shape, dtype=int)
    np.add.at(visits, (curve[:, 0], curve[:, 1]), 1)
    np.testing.assert_array_equal(visits, blob.astype(int))


@pytest.mark.parametrize("side", [1, 2, 8, 16])
def test_hilbert_neighbours_are_4_adjacent_and_cover_the_square(side):
    order = curves.hilbert_order(side)
    assert len({tuple(p) for p in order.tolist()}) == side * side
    assert np.all(np.abs(np.diff(order, axis=0)).sum(axis=1) == 1)


def test_snake_spiral_and_zorder_follow_their_definitions():
    np.testing.assert_array_equal(curves.snake_order(3)[:6], [[0, 0], [0, 1], [0, 2], [1, 2], [1, 1], [1, 0]])
    np.testing.assert_array_equal(curves.spiral_order(3), [[0, 0], [0, 1], [0, 2], [1, 2], [2, 2], [2, 1], [2, 0], [1, 0], [1, 1]])
    np.testing.assert_array_equal(curves.zorder_order(4)[:8], [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3]])
    for side in (5, 8):
        assert np.all(np.abs(np.diff(curves.spiral_order(side), axis=0)).sum(axis=1) == 1)
    with pytest.raises(ValueError, match="power-of-two"):
        curves.hilbert_order(6)


def test_random_walks_stay_inside_and_move_to_8_neighbours(blob):
    walks = curves.random_walks(blob, 50, 40, RNG(0))
    assert walks.shape == (50, 40, 2)
    assert blob[walks[..., 0], walks[..., 1]].all()
    steps = np.abs(np.diff(walks, axis=1)).max(axis=2)
    assert np.all(steps == 1)  # the blob has no isolated pixel: a walker always moves to a touching pixel
    assert len(np.unique(walks[:, 0], axis=0)) > 20  # random starts
    np.testing.assert_array_equal(walks, curves.random_walks(blob, 50, 40, RNG(0)))
    sequences = curves.random_sequences(blob, 5, 30, RNG(1))
    assert blob[sequences[..., 0], sequences[..., 1]].all()
    assert all(len(np.unique(s, axis=0)) == 30 for s in sequences)  # no repeat when the object is big enough


def test_fit_width_chunks_long_curves_and_repeats_short_ones():
    curve = np.stack([np.arange(10), np.zeros(10, int)], axis=1)
    chunks = curves.fit_width(curve, 4)
    np.testing.assert_array_equal(chunks[..., 0], [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]])
    np.testing.assert_array_equal(curves.fit_width(curve[:3], 7)[0, :, 0], [0, 1, 2, 0, 1, 2, 0])


@pytest.mark.parametrize("kind", ["random_walk", "hilbert", "snake"])
def test_plane_row_t_is_the_cube_at_date_t_along_the_curve(clear_cube, kind):
    planes = extract_planes(clear_cube, parcels=[3, 7], kind=kind, width=12, walk_fraction=0.2, seed=4)
    assert planes.values.shape[1:] == (clear_cube.sizes[cube_format.BAND], clear_cube.sizes[cube_format.TIME], 12)
    reflectance = clear_cube[cube_format.REFLECTANCE].values
    rows, cols = planes.coords[..., 0], planes.coords[..., 1]
    expected = reflectance[:, :, rows, cols].transpose(2, 1, 0, 3)  # (n, C, T, W)
    np.testing.assert_allclose(planes.values, expected, rtol=1e-6)
    parcel_map = clear_cube[cube_format.PARCEL].values
    np.testing.assert_array_equal(parcel_map[rows, cols], np.repeat(planes.parcel[:, None], 12, axis=1))


def test_cloudy_dates_are_filled_and_time_resampled_linearly(clear_cube):
    cube = clear_cube.copy(deep=True)
    cube[cube_format.VALID].values[4] = False
    cube[cube_format.REFLECTANCE].values[4] = 99.0  # a cloud: must not leak into the plane
    planes = extract_planes(cube, parcels=[5], kind="snake", width=8, bands=["B04", "B08"])
    days = (cube[cube_format.TIME].values - cube[cube_format.TIME].values[0]).astype("timedelta64[D]").astype(float)
    r, c = planes.coords[0, 0]
    series = clear_cube[cube_format.REFLECTANCE].sel(band="B04").values[:, r, c]
    weight = (days[4] - days[3]) / (days[5] - days[3])
    assert planes.values[0, 0, 4, 0] == pytest.approx((1 - weight) * series[3] + weight * series[5], rel=1e-5)
    resampled = extract_planes(cube, parcels=[5], kind="snake", width=8, height=5, bands=["B04"])
    target = np.linspace(days[0], days[-1], 5)
    clear_days = np.delete(days, 4)
    np.testing.assert_allclose(resampled.values[0, 0, :, 0], np.interp(target, clear_days, np.delete(series, 4)), rtol=1e-5)


def test_extraction_is_seeded_and_per_parcel(toy_cube):
    a = extract_planes(toy_cube, kind="random_walk", width=10, height=16, seed=3)
    b = extract_planes(toy_cube, kind="random_walk", width=10, height=16, seed=3)
    c = extract_planes(toy_cube, kind="random_walk", width=10, height=16, seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not np.array_equal(a.coords, c.coords)
    one = extract_planes(toy_cube, parcels=[int(a.parcel[-1])], kind="random_walk", width=10, height=16, seed=3)
    np.testing.assert_array_equal(one.values, a.values[a.parcel == a.parcel[-1]])
    sizes = np.bincount(toy_cube[cube_format.PARCEL].values.ravel())
    n_per_parcel = np.bincount(a.parcel)
    ids = np.unique(a.parcel)
    np.testing.assert_array_equal(n_per_parcel[ids], np.maximum(1, np.round(0.3 * sizes[ids])))


def test_percentile_scaling_and_lazy_cube_give_the_same_planes(toy_cube):
    stats = BandStats.from_cube(toy_cube, toy_cube[cube_format.PARCEL].values > 0)
    eager = extract_planes(toy_cube, kind="hilbert", width=16, height=12, stats=stats, transforms=(0, 1))
    lazy = extract_planes(toy_cube.chunk({"y": 16, "x": 16}), kind="hilbert", width=16, height=12, stats=stats,
                          transforms=(0, 1))
    np.testing.assert_array_equal(eager.values, lazy.values)
    assert eager.values.min() >= 0.0 and eager.values.max() <= 1.0
    assert 0.05 < eager.values.mean() < 0.95


def test_parcel_boxes_and_ssl_view_function(toy_cube):
    parcel_map = toy_cube[cube_format.PARCEL].values
    boxes = parcel_boxes(parcel_map)
    rows, cols = np.nonzero(parcel_map == 7)
    assert boxes[7] == (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
    views = random_walk_planes(toy_cube, 7, n=6, length=9, seed=1, height=8)
    assert views.values.shape == (6, toy_cube.sizes[cube_format.BAND], 8, 9)
    assert (parcel_map[views.coords[..., 0], views.coords[..., 1]] == 7).all()
    with pytest.raises(ValueError, match="parcel id 9999"):
        random_walk_planes(toy_cube, 9999, n=2, length=4)


def test_parcel_average_is_the_mean_of_each_parcels_probabilities():
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.0, 1.0]])
    ids, mean = parcel_average(proba, np.array([5, 2, 5, 5, 2]))
    np.testing.assert_array_equal(ids, [2, 5])
    np.testing.assert_allclose(mean, [[0.15, 0.85], [1.7 / 3, 1.3 / 3]])


@pytest.mark.parametrize("name,kwargs", [("plane_resnet18", {}), ("plane_vit_tiny", {"img_size": (16, 24)})])
def test_timm_classifiers_forward_and_grad_cam(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, in_channels=4, num_classes=3, **kwargs)
    x = torch.randn(2, 4, 16, 24)
    assert model.input_kind == "plane"
    assert model(x).shape == (2, 3)
    assert model.forward_features(x).shape == (2, model.num_features)
    cams = grad_cam(model, x)
    assert cams.shape == (2, 16, 24) and cams.min() >= 0 and np.allclose(cams.max(axis=(1, 2)), 1.0)
    assert temporal_profile(cams).shape == (2, 16)


def test_spatial_map_averages_the_columns_reading_each_pixel():
    cams = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]])  # two STRs of 2 rows x 2 columns
    coords = np.array([[[0, 0], [1, 1]], [[0, 0], [0, 1]]])
    result = spatial_map(cams, coords, (2, 2))
    np.testing.assert_allclose(result, [[0.75, 0.5], [np.nan, 0.0]])


def _easy_cube(seed=0):
    """16 square parcels of 8x8 px, two classes: NIR peaks early (class 0) or late (class 1), plus noise."""
    rng = RNG(seed)
    n_time, side = 12, 8
    parcels = np.kron(np.arange(1, 17).reshape(4, 4), np.ones((side, side), int))
    labels = ((parcels - 1) % 2).astype(np.int16)
    t = np.linspace(0, 1, n_time)[:, None, None]
    peak = np.where(labels == 0, 0.3, 0.7)[None]
    nir = 0.2 + 0.5 * np.exp(-((t - peak) ** 2) / 0.02) + rng.normal(0, 0.05, (n_time, 4 * side, 4 * side))
    red = 0.1 + rng.normal(0, 0.05, nir.shape)
    times = np.datetime64("2021-01-01") + np.arange(n_time) * np.timedelta64(30, "D")
    return cube_format.make_cube(np.stack([nir, red], axis=1), times, ["B08", "B04"], labels=labels, parcels=parcels,
                       class_names=["early", "late"])


def test_short_training_on_planes_beats_chance_on_an_easy_case():
    cube = _easy_cube()
    train_ids, test_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]
    stats = BandStats.from_cube(cube, np.isin(cube[cube_format.PARCEL].values, train_ids))  # 2/98 % scaling, as Deep-STaR
    train = PlaneDataset.from_cube(cube, extract_planes(cube, train_ids, "random_walk", width=16, stats=stats))
    test = PlaneDataset.from_cube(
        cube, extract_planes(cube, test_ids, "hilbert", width=16, stats=stats, transforms=(0, 1, 2, 3))
    )
    model = create_model("plane_timm", in_channels=2, num_classes=2, timm_name="resnet10t")
    fit(model, train, config=TrainConfig(epochs=6, batch_size=32, device="cpu", progress=False, seed=0))
    ids, y_true, proba = predict_parcels(model, test, device="cpu")
    np.testing.assert_array_equal(ids, test_ids)
    np.testing.assert_array_equal(y_true, [0, 1, 0, 1, 0, 1])
    assert (proba.argmax(axis=1) == y_true).mean() >= 5 / 6


def test_local_checkpoint_loads_matching_weights_and_skips_the_rest(tmp_path):
    torch.manual_seed(0)
    donor = create_model("plane_resnet18", in_channels=3, num_classes=5)
    path = tmp_path / "resnet18.pth"
    torch.save(donor.backbone.state_dict(), path)
    torch.manual_seed(1)
    model = create_model("plane_resnet18", in_channels=4, num_classes=2, checkpoint_path=str(path))
    torch.testing.assert_close(model.backbone.layer4[1].conv2.weight, donor.backbone.layer4[1].conv2.weight)
    assert model.backbone.conv1.weight.shape[1] == 4  # 3-band stem skipped, not forced into a 4-band model
    with pytest.raises(FileNotFoundError, match="checkpoint_path"):
        create_model("plane_resnet18", in_channels=3, num_classes=2, checkpoint_path=str(tmp_path / "missing.pth"))


def test_multi_scale_walks_repeat_short_walks_and_cut_long_ones(toy_cube):
    planes = extract_planes(toy_cube, parcels=[7], kind="random_walk", width=12, walk_length=(5, 30), seed=2)
    n = max(1, round(0.3 * int((toy_cube[cube_format.PARCEL].values == 7).sum())))
    assert len(planes) == n + 3 * n  # n walks of 5 px (repeated), n walks of 30 px cut in 3 chunks of 12
    short = planes.coords[:n]
    np.testing.assert_array_equal(short[:, 5:10], short[:, :5])
    np.testing.assert_array_equal(planes.values[:n, :, :, 5:10], planes.values[:n, :, :, :5])
