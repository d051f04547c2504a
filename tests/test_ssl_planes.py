"""Plane views for SSL: random walks of the same parcel as positives, a ViT on STRs as backbone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.evaluation import parcel_probe
from sitsbench.models import create_model
from sitsbench.planes import PlaneDataset, extract_planes
from sitsbench.planes.extract import parcel_grids
from sitsbench.runtime import seed_everything
from sitsbench.ssl import PRETRAINING, GaussianNoise, PretrainConfig, SpectralJitter, pretrain
from sitsbench.ssl.augment import Compose
from sitsbench.ssl.planes import UnlabeledPlaneDataset

BANDS = ["B08", "B04", "B03"]


@pytest.fixture(scope="module")
def small_cube(toy_cube):
    return toy_cube.sel({cube_format.BAND: BANDS})


def test_plane_views_are_walks_through_one_parcel_with_the_requested_widths(small_cube):
    dataset = UnlabeledPlaneDataset(small_cube, width=12, local_width=5, n_local=3, height=10, seed=3)
    grids = parcel_grids(small_cube, height=10, stats=dataset_stats(small_cube))
    assert len(dataset) == len(grids)
    for index in (0, len(dataset) // 2, len(dataset) - 1):
        views = dataset[index]
        assert [tuple(v["x"].shape) for v in views] == [(3, 10, 12)] * 2 + [(3, 10, 5)] * 3
        assert all(v["doy"].shape == (10,) and bool(v["mask"].all()) for v in views)
        mask, grid = grids[int(dataset.parcels[index])]
        parcel_pixels = grid[:, :, mask].reshape(-1, int(mask.sum())).T  # (P, H*C) in (H, C) order
        for view in views:
            columns = view["x"].permute(2, 1, 0).reshape(view["x"].shape[-1], -1).numpy()  # (W, H*C)
            distance = np.abs(columns[:, None, :] - parcel_pixels[None]).max(axis=2).min(axis=1)
            np.testing.assert_allclose(distance, 0.0, atol=1e-6)  # every column is a pixel of that parcel


def dataset_stats(cube):
    return BandStats.from_cube(cube, np.asarray(cube[cube_format.PARCEL].values) > 0)


def test_plane_views_are_seeded_change_with_the_epoch_and_ignore_the_class_layer(small_cube):
    augment = Compose([SpectralJitter(0.1, 0.1), GaussianNoise(0.05)])
    unlabeled = small_cube.drop_vars(cube_format.CLASS)
    first = UnlabeledPlaneDataset(unlabeled, width=8, height=6, augment=augment, repeats=2, seed=1)
    second = UnlabeledPlaneDataset(small_cube, width=8, height=6, augment=augment, repeats=2, seed=1)
    assert len(first) == 2 * len(first.parcels)
    for a, b in zip(first[4], second[4], strict=True):
        torch.testing.assert_close(a["x"], b["x"])
    view_a, view_b = first[4]
    assert not torch.equal(view_a["x"], view_b["x"])  # two different walks (and augmentations)
    first.set_epoch(1)
    assert not torch.equal(first[4][0]["x"], second[4][0]["x"])


def test_plane_views_reject_bad_arguments(small_cube):
    with pytest.raises(ValueError, match="n_global and repeats"):
        UnlabeledPlaneDataset(small_cube, n_global=0)
    no_parcels = small_cube.assign({cube_format.PARCEL: small_cube[cube_format.PARCEL] * 0})
    with pytest.raises(ValueError, match="no parcel"):
        UnlabeledPlaneDataset(no_parcels, stats=dataset_stats(small_cube))


def test_pretraining_refuses_backbones_without_a_view_dataset(small_cube):
    with pytest.raises(ValueError, match="reads 'patch' inputs"):
        pretrain(small_cube, "simclr", "utae_tiny", PretrainConfig(train=replace(PRETRAINING, epochs=1, progress=False)))


def test_dino_on_plane_views_runs_a_vit_with_shorter_local_walks(small_cube, tmp_path):
    kwargs = dict(img_size=(16, 16), depth=1, dynamic_img_size=True)
    config = PretrainConfig(n_local=2, plane_width=16, plane_local_width=8, plane_height=16, plane_repeats=1, backbone_kwargs=kwargs, train=replace(PRETRAINING, epochs=2, batch_size=16, progress=False))
    encoder, history = pretrain(small_cube, "dino", "plane_vit_tiny", config, output_dir=tmp_path)
    assert len(history.train_loss) == 2 and np.isfinite(history.train_loss).all()
    planes = torch.randn(4, 3, 16, 8)  # a local-view size: the ViT takes fewer patch tokens
    assert encoder.forward_features(planes).shape == (4, encoder.num_features)
    assert (tmp_path / "encoder.pt").is_file()


@pytest.mark.slow
def test_simclr_on_plane_views_beats_a_random_vit_in_a_parcel_probe(default_cube):
    cube = default_cube.sel({cube_format.BAND: BANDS})
    split = split_parcels(cube, seed=0)
    stats = dataset_stats(cube)
    parcel_map = np.asarray(cube[cube_format.PARCEL].values)
    data = {}
    for name in ("train", "test"):
        ids = np.unique(parcel_map[split_mask(split, name)])
        planes = extract_planes(cube, ids, "random_walk", width=32, height=32, stats=stats, walk_fraction=0.2)
        data[name] = PlaneDataset.from_cube(cube, planes)
    kwargs = dict(img_size=(32, 32), depth=2, dynamic_img_size=True)
    seed_everything(0)
    random_scores = parcel_probe(create_model("plane_vit_tiny", 3, 0, **kwargs), data["train"], data["test"])
    config = PretrainConfig(temperature=0.2, backbone_kwargs=kwargs, train=replace(PRETRAINING, epochs=10, batch_size=64, progress=False))
    encoder, history = pretrain(cube, "simclr", "plane_vit_tiny", config)
    scores = parcel_probe(encoder, data["train"], data["test"])
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]
    assert scores["macro_f1"] > random_scores["macro_f1"] + 0.1
    assert scores["oa"] > random_scores["oa"] + 0.05
