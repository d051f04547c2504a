"""Auto-encoders for SITS (issue 6): masked loss, brief training of every AE, gap filling, streaming, probes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from sitsbench.autoencoders import AE_TRAINING, AETrainConfig, EncoderClassifier, fit_autoencoder, masked_mse
from sitsbench.autoencoders.gapfill import gap_filling_scores, hold_out_dates, rmse_per_band
from sitsbench.autoencoders.multisensor import MultiSensorPixelDataset
from sitsbench.autoencoders.streaming import StreamingPixelDataset, encode_cube, encode_series
from sitsbench.autoencoders.training import reconstruction_loss
from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PatchDataset, PixelSeriesDataset, pixel_series
from sitsbench.data.io import save_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation import probe_scores
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.models import create_model, list_models
from sitsbench.records import check_scores

SERIES_AES = ("ae_tempconv", "ae_gru", "ae_mae")


@pytest.fixture(scope="module")
def toy():
    cube = generate_cube("toy", seed=0)
    split = split_parcels(cube, seed=0)
    stats = BandStats.from_cube(cube, split_mask(split, "train"))
    train = PixelSeriesDataset(cube, split, "train", stats, fill="none", max_pixels=768, seed=0)
    test = PixelSeriesDataset(cube, split, "test", stats, fill="none", max_pixels=768, seed=0)
    return cube, split, stats, train, test


def _model(name: str, in_channels: int):
    torch.manual_seed(0)
    return create_model(name, in_channels=in_channels, num_classes=0)


def test_masked_mse_ignores_masked_entries_in_value_and_gradient():
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 5, 4, generator=generator, requires_grad=True)
    target = torch.randn(3, 5, 4, generator=generator)
    mask = torch.rand(3, 5, generator=generator) > 0.4
    target_with_nan = torch.where(mask[..., None], target, torch.full_like(target, float("nan")))
    loss = masked_mse(pred, target_with_nan, mask)
    entries = mask[..., None].expand_as(pred)
    reference = ((pred.detach() - target)[entries] ** 2).mean()
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    loss.backward()
    assert torch.all(pred.grad[~entries] == 0) and torch.all(pred.grad[entries] != 0)
    # changing masked predictions does not change the loss
    changed = pred.detach().clone()
    changed[~entries] += 100.0
    assert masked_mse(changed, target_with_nan, mask).item() == pytest.approx(loss.item(), rel=1e-6)
    assert masked_mse(pred, target, torch.zeros(3, 5, dtype=torch.bool)).item() == 0.0


def test_autoencoders_are_registered_apart_from_classifiers():
    names = list_models(role="autoencoder")
    assert names == ["ae_gru", "ae_mae", "ae_multisensor", "ae_spatiotemporal", "ae_tempconv"]
    assert not set(names) & set(list_models(role="classifier"))
    assert [_model(name, 4).input_kind for name in names] == ["series", "series", "multisensor", "patch", "series"]


@pytest.mark.parametrize("name", SERIES_AES)
def test_series_autoencoder_shapes_and_mask_use(name):
    model = _model(name, 4).eval()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 12, 4, generator=generator)
    doy = torch.arange(0, 360, 30).expand(6, -1)
    mask = torch.rand(6, 12, generator=generator) > 0.3
    assert model(x, doy, mask).shape == (6, 12, 4)
    code = model.encode(x, doy, mask)
    assert code.shape == (6, model.num_features)
    cloudy = x.clone()
    cloudy[~mask] = 1e3  # values under the mask are never read
    torch.testing.assert_close(model.encode(cloudy, doy, mask), code)
    assert not torch.allclose(model.encode(x, doy + 40, mask), code)  # the day of year matters


def _loss_before_after(model, train, val, config):
    before = reconstruction_loss(model, val, config)
    history = fit_autoencoder(model, train, val, config)
    return before, history


@pytest.mark.parametrize("name", SERIES_AES)
def test_series_autoencoders_reduce_reconstruction_error(toy, name):
    _, _, _, train, test = toy
    config = AETrainConfig(train=replace(AE_TRAINING, epochs=6, batch_size=64, lr=3e-3, device="cpu"))
    before, history = _loss_before_after(_model(name, train.x.shape[-1]), train, Subset(test, range(256)), config)
    assert len(history.train_loss) == 6
    assert history.val_loss[-1] < 0.6 * before, (before, history.val_loss)


def test_patch_autoencoder_reduces_reconstruction_error(toy):
    cube, split, stats, _, _ = toy
    patches = PatchDataset(cube, split, "train", stats, patch_size=16, fill="none")
    config = AETrainConfig(train=replace(AE_TRAINING, epochs=8, batch_size=4, lr=3e-3, device="cpu"))
    model = _model("ae_spatiotemporal", len(cube_format.S2_BANDS))
    before, history = _loss_before_after(model, patches, patches, config)
    assert model.encode(patches[0]["x"][None]).shape == (1, model.num_features, 16, 16)
    assert history.val_loss[-1] < 0.7 * before, (before, history.val_loss)


def test_multisensor_autoencoder_reduces_reconstruction_error(toy):
    cube, _, _, train, test = toy
    train_ms = MultiSensorPixelDataset(train, cube)
    test_ms = MultiSensorPixelDataset(test, cube, train_ms.s1_stats)
    item = train_ms[0]
    assert item["x_s1"].shape == (cube.sizes[cube_format.TIME_S1], 2) and item["x"].shape == train[0]["x"].shape
    config = AETrainConfig(train=replace(AE_TRAINING, epochs=4, batch_size=64, lr=3e-3, device="cpu"))
    model = _model("ae_multisensor", len(cube_format.S2_BANDS))
    before, history = _loss_before_after(model, train_ms, Subset(test_ms, range(256)), config)
    assert history.val_loss[-1] < 0.7 * before, (before, history.val_loss)
    with pytest.raises(ValueError, match="backscatter"):
        MultiSensorPixelDataset(test, generate_cube("toy", seed=0, with_s1=False))


def test_training_is_deterministic(toy):
    _, _, _, train, _ = toy
    config = AETrainConfig(train=replace(AE_TRAINING, epochs=2, batch_size=128, device="cpu", seed=3))
    first = fit_autoencoder(_model("ae_tempconv", train.x.shape[-1]), train, config=config).train_loss
    second = fit_autoencoder(_model("ae_tempconv", train.x.shape[-1]), train, config=config).train_loss
    assert first == second


def test_hold_out_dates_hides_clear_dates_only():
    rng = np.random.default_rng(0)
    mask = rng.random((200, 20)) > 0.3
    mask[0] = [True, True] + [False] * 18  # too few clear dates: nothing hidden
    held = hold_out_dates(mask, 0.25, seed=1)
    assert not (held & ~mask).any()
    assert not held[0].any()
    expected = np.minimum(np.round(0.25 * mask.sum(1)), np.maximum(mask.sum(1) - 2, 0))
    np.testing.assert_array_equal(held.sum(1), expected)
    with pytest.raises(ValueError, match="fraction"):
        hold_out_dates(mask, 1.5)
    with pytest.raises(ValueError, match="entries must have shape"):
        rmse_per_band(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.ones((3, 2), dtype=bool))


def test_rmse_per_band_matches_the_formula():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(10, 6, 3)), rng.normal(size=(10, 6, 3))
    entries = rng.random((10, 6)) > 0.5
    expected = [np.sqrt(np.mean([(pred[n, t, b] - target[n, t, b]) ** 2 for n, t in zip(*np.nonzero(entries))]))
                for b in range(3)]
    np.testing.assert_allclose(rmse_per_band(pred, target, entries), expected, rtol=1e-10)


def test_gap_filling_beats_the_constant_baseline(toy):
    _, _, _, train, test = toy
    model = _model("ae_tempconv", train.x.shape[-1])
    fit_autoencoder(model, train, config=AETrainConfig(train=replace(AE_TRAINING, epochs=10, batch_size=64, lr=3e-3, device="cpu")))
    scores = gap_filling_scores(model, test.x, test.doy, test.mask, fraction=0.3, seed=0, device="cpu")
    assert set(scores) == {"autoencoder", "linear", "constant"}
    assert all(s.shape == (train.x.shape[-1],) for s in scores.values())
    assert scores["autoencoder"].mean() < 0.8 * scores["constant"].mean(), scores
    assert scores["linear"].mean() < scores["constant"].mean(), scores


@pytest.mark.parametrize("name", ["ae_tempconv", "ae_spatiotemporal"])
def test_streaming_encode_equals_in_memory_encode(toy, tmp_path, name):
    cube, _, stats, _, _ = toy
    path = save_cube(cube, tmp_path / "cube.zarr")
    model = _model(name, len(cube_format.S2_BANDS))
    streamed = encode_cube(model, path, stats, chunk=16, output=tmp_path / "codes.zarr", device="cpu")
    assert streamed.shape == (cube.sizes[cube_format.Y], cube.sizes[cube_format.X], model.num_features)
    if name == "ae_tempconv":  # the whole cube in memory, in one pass
        rows, cols = np.divmod(np.arange(cube.sizes[cube_format.Y] * cube.sizes[cube_format.X]), cube.sizes[cube_format.X])
        x, mask = pixel_series(cube, rows, cols, stats, fill="none")
        expected = encode_series(model, x, PixelSeriesDataset(cube, split_parcels(cube), "train").doy, mask,
                                 device="cpu").reshape(streamed.shape)
    else:  # each 16 x 16 window as one in-memory patch
        window = cube.isel({cube_format.Y: slice(16, 32), cube_format.X: slice(32, 48)})
        rows, cols = np.divmod(np.arange(256), 16)
        x, mask = pixel_series(window, rows, cols, stats, fill="none")
        patch = torch.from_numpy(x.reshape(16, 16, *x.shape[1:])).permute(2, 3, 0, 1)[None]
        patch_mask = torch.from_numpy(mask.reshape(16, 16, -1)).permute(2, 0, 1)[None]
        doy = torch.from_numpy(PixelSeriesDataset(cube, split_parcels(cube), "train").doy)[None]
        with torch.no_grad():
            expected = model.eval().encode(patch, doy, patch_mask)[0].permute(1, 2, 0).numpy()
        streamed = streamed[16:32, 32:48]
    np.testing.assert_allclose(np.asarray(streamed), expected, atol=1e-5)
    in_memory = encode_cube(model, cube, stats, chunk=16, device="cpu")
    np.testing.assert_allclose(in_memory, np.asarray(encode_cube(model, path, stats, chunk=16, device="cpu")))


def test_streaming_dataset_covers_each_pixel_once_per_pass(toy, tmp_path):
    cube, _, stats, _, _ = toy
    path = save_cube(cube, tmp_path / "cube.zarr")
    dataset = StreamingPixelDataset(path, stats, chunk=32, seed=0)
    first = torch.stack([item["x"] for item in dataset])
    second = torch.stack([item["x"] for item in dataset])
    assert len(first) == len(dataset) == cube.sizes[cube_format.Y] * cube.sizes[cube_format.X]
    assert not torch.equal(first, second)  # a new order each pass...
    key = lambda rows: torch.sort(rows.sum(dim=(1, 2))).values  # noqa: E731
    torch.testing.assert_close(key(first), key(second))  # ...of the same pixels
    history = fit_autoencoder(_model("ae_tempconv", len(cube_format.S2_BANDS)), dataset,
                              config=AETrainConfig(train=replace(AE_TRAINING, epochs=2, batch_size=256, device="cpu")))
    assert history.train_loss[1] < history.train_loss[0]
    with pytest.raises(ValueError, match="input_kind"):
        encode_cube(_model("ae_multisensor", len(cube_format.S2_BANDS)), path, stats)


def test_probe_on_codes_beats_chance_and_encoder_classifier_wraps_the_encoder(toy):
    _, _, _, train, test = toy
    model = _model("ae_tempconv", train.x.shape[-1])
    fit_autoencoder(model, train, config=AETrainConfig(train=replace(AE_TRAINING, epochs=4, batch_size=64, device="cpu")))
    codes = {name: encode_series(model, d.x, d.doy, d.mask, device="cpu") for name, d in (("train", train),
                                                                                            ("test", test))}
    rows, predicted = probe_scores({"ae": (codes["train"], codes["test"])}, train.y, test.y, "synthetic/toy",
                                   unit="sample", fractions=(0.1, 1.0), probes=("linear",))
    chance = np.bincount(test.y).max() / test.y.size
    assert check_scores(rows) == rows  # score rows of the records' schema, straight from the protocol
    assert [(row["label_fraction"], row["metric"]) for row in rows] == [(0.1, "oa"), (0.1, "macro_f1"),
                                                                         (1.0, "oa"), (1.0, "macro_f1")]
    assert {(row["method"], row["encoder"], row["unit"]) for row in rows} == {("linear probe", "ae", "sample")}
    assert [row["n_labels"] for row in rows[::2]] == [stratified_fraction(train.y, f, 0).size for f in (0.1, 1.0)]
    oa = rows[2]["value"]
    assert oa > chance + 0.15, (rows, chance)
    assert sorted(predicted) == [("ae", "linear probe", 0.1), ("ae", "linear probe", 1.0)]
    assert predicted["ae", "linear probe", 1.0].shape == test.y.shape
    assert np.mean(predicted["ae", "linear probe", 1.0] == test.y) == pytest.approx(oa)
    with pytest.raises(ValueError, match="probe must be one of"):
        probe_scores({"ae": (codes["train"], codes["test"])}, train.y, test.y, "synthetic/toy", probes=("lasso",))
    classifier = EncoderClassifier(model, num_classes=5)
    batch = torch.from_numpy(train.x[:3])
    assert classifier(batch).shape == (3, 5)
    torch.testing.assert_close(classifier.forward_features(batch), model.encode(batch))
    assert not any(p.requires_grad for p in classifier.encoder.parameters())
    with pytest.raises(ValueError, match="series or patch"):
        EncoderClassifier(_model("ae_multisensor", 4), num_classes=3)
