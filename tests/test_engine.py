"""The training engine: determinism, early stopping, class weights, segmentation, checkpoints, records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset

from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.metrics import classification_metrics
from sitsbench.models import create_model
from sitsbench.models.checkpoint import load_checkpoint, save_checkpoint
from sitsbench.records import read_run_record
from sitsbench.training import TrainConfig, class_weights, evaluate, fit, predict, write_record


class TinySeries(Dataset):
    """Separable toy series: class k has a bump at date 3k in channel 0."""

    def __init__(self, n: int, seed: int, n_classes: int = 3, n_time: int = 12, noise: float = 0.5):
        rng = np.random.default_rng(seed)
        self.y = rng.integers(0, n_classes, n)
        x = rng.normal(scale=noise, size=(n, n_time, 2)).astype(np.float32)
        x[np.arange(n), 3 * self.y, 0] += 2.0
        self.x = x
        self.doy = np.arange(n_time) * 10

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "x": torch.from_numpy(self.x[i]),
            "doy": torch.from_numpy(self.doy),
            "mask": torch.ones(len(self.doy), dtype=torch.bool),
            "y": torch.tensor(self.y[i]),
        }


class TinyPatches(Dataset):
    """Patches whose pixel class is the sign of channel 0; a border of unlabelled (-1) pixels."""

    def __init__(self, n: int, seed: int):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(n, 4, 2, 8, 8)).astype(np.float32)
        y = (self.x[:, :, 0].mean(axis=1) > 0).astype(np.int64)
        y[:, 0, :] = -1
        self.labels = y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "x": torch.from_numpy(self.x[i]),
            "doy": torch.arange(4) * 30,
            "mask": torch.ones(4, 8, 8, dtype=torch.bool),
            "y": torch.from_numpy(self.labels[i]),
        }


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 4, "lr": 3e-3, "batch_size": 16, "progress": False, "device": "cpu", **kw})


def _ltae() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("ltae_small", in_channels=2, num_classes=3, d_model=16, num_heads=4, d_k=4, out_dim=16)


def test_same_seed_gives_identical_losses_on_cpu():
    train, val = TinySeries(96, 0), TinySeries(48, 1)
    first = fit(_ltae(), train, val, _config(seed=3))
    second = fit(_ltae(), train, val, _config(seed=3))
    assert first.train_loss == second.train_loss
    assert first.val_loss == second.val_loss
    third = fit(_ltae(), train, val, _config(seed=4))  # another data order
    assert third.train_loss != first.train_loss


def test_fit_learns_and_restores_the_best_weights():
    train, val = TinySeries(192, 0), TinySeries(64, 1)
    model = _ltae()
    history = fit(model, train, val, _config(epochs=12, patience=3))
    assert history.train_loss[-1] < history.train_loss[0] / 2
    assert len(history.val_loss) == len(history.epoch_time_s) <= 12
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert history.stopped_early == (len(history.val_loss) < 12)
    result = evaluate(model, val, device="cpu")
    assert result["loss"] == pytest.approx(min(history.val_loss), rel=1e-5)
    assert result["oa"] > 0.9


def test_early_stopping_on_macro_f1_stops_after_patience():
    train, val = TinySeries(64, 0), TinySeries(32, 1)
    torch.manual_seed(0)
    model = create_model("transformer_tiny", in_channels=2, num_classes=3)  # no BatchNorm statistics to update
    history = fit(model, train, val, _config(epochs=30, patience=2, monitor="val_macro_f1", lr=0.0))
    # lr = 0: nothing improves after the first epoch, so training stops after 1 + patience epochs
    assert history.stopped_early and len(history.val_macro_f1) == 3 and history.best_epoch == 0


def test_class_weights_are_inverse_frequency():
    weights = class_weights(np.array([0, 0, 0, 1, -1, -1]), num_classes=3)
    # 4 labelled samples, 2 classes present: 4 / (2 * 3) and 4 / (2 * 1); class 2 absent
    torch.testing.assert_close(weights, torch.tensor([2 / 3, 2.0, 0.0]))


def test_class_weighted_fit_on_a_subset_uses_its_labels():
    subset = Subset(TinySeries(64, 0), range(40))
    history = fit(_ltae(), subset, None, _config(class_weighted=True, epochs=2))
    assert len(history.train_loss) == 2 and history.best_epoch is None
    assert np.isfinite(history.train_loss).all()


def test_segmentation_ignores_unlabelled_pixels():
    torch.manual_seed(0)
    model = create_model("utae_tiny", in_channels=2, num_classes=2)
    train = TinyPatches(12, 0)
    history = fit(model, train, TinyPatches(4, 1), _config(epochs=6, batch_size=4, class_weighted=True))
    assert history.train_loss[-1] < history.train_loss[0]
    y_true, y_pred, proba = predict(model, TinyPatches(4, 1), device="cpu")
    assert y_true.shape == y_pred.shape == (4, 8, 8) and proba.shape == (4, 2, 8, 8)
    assert (y_true[:, 0] == -1).all()
    assert classification_metrics(y_true, y_pred, 2)["n"] == 4 * 7 * 8


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path):
    train = TinySeries(64, 0)
    model = _ltae()
    config = _config(epochs=2)
    fit(model, train, None, config)
    model.reset_classifier(3)  # a new head must survive the round trip too
    path = save_checkpoint(tmp_path / "ckpt" / "ltae.pt", model, config, epoch=2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ltae.pt"]  # no temporary file left
    loaded, payload = load_checkpoint(path)
    assert payload["model_name"] == "ltae_small" and payload["config"]["epochs"] == 2 and payload["extra"]["epoch"] == 2
    _, pred, proba = predict(model, train, device="cpu")
    _, pred_loaded, proba_loaded = predict(loaded, train, device="cpu")
    np.testing.assert_array_equal(pred, pred_loaded)
    np.testing.assert_allclose(proba, proba_loaded, rtol=1e-6)


def test_write_record(tmp_path):
    config = _config(epochs=1)
    history = fit(_ltae(), TinySeries(32, 0), TinySeries(16, 1), config)
    path = write_record(tmp_path / "record.json", "ltae-toy", config, history, {"oa": 0.5}, parameters={"k": 1})
    record = read_run_record(path)
    assert record["metrics"]["oa"] == 0.5 and record["parameters"]["k"] == 1 and record["parameters"]["lr"] == 3e-3
    assert record["metrics"]["history"]["train_loss"] == json.loads(json.dumps(history.train_loss))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tempcnn_tiny", "ltae_small"])
def test_beats_the_majority_class_on_the_synthetic_cube(name):
    cube = generate_cube("default", seed=0)
    split = split_parcels(cube, seed=0)
    stats = BandStats.from_cube(cube, split_mask(split, "train"))
    train = PixelSeriesDataset(cube, split, "train", stats, max_pixels=1500, seed=0)
    val = PixelSeriesDataset(cube, split, "val", stats, max_pixels=500, seed=1)
    test = PixelSeriesDataset(cube, split, "test", stats, max_pixels=1500, seed=2)
    torch.manual_seed(0)
    model = create_model(name, in_channels=cube.sizes["band"], num_classes=len(test.class_names),
                         **({"seq_len": cube.sizes["time"]} if name.startswith("tempcnn") else {}))
    fit(model, train, val, TrainConfig(epochs=8, lr=3e-3, batch_size=64, progress=False, device="cpu"))
    y_true, y_pred, _ = predict(model, test, device="cpu")
    majority = np.bincount(y_true).max() / y_true.size
    oa = classification_metrics(y_true, y_pred, len(test.class_names))["oa"]
    assert oa > majority + 0.20, f"{name}: OA {oa:.3f} vs majority share {majority:.3f}"


def test_in_batches_runs_a_dataset_and_arrays_alike_in_order_and_returns_the_labels():
    from sitsbench.runtime import in_batches

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(11, 5, 3)).astype(np.float32), rng.integers(0, 4, 11)

    class Items(Dataset):
        def __len__(self):
            return len(y)

        def __getitem__(self, index):
            return {"x": torch.from_numpy(x[index]), "y": torch.tensor(y[index])}

    seen = []

    def call(batch):
        seen.append(len(batch["x"]))
        assert not torch.is_grad_enabled()
        return batch["x"].double().sum(dim=(1, 2))

    from_dataset, labels = in_batches(call, Items(), 4, "cpu")
    from_arrays, no_labels = in_batches(call, {"x": x}, 4, "cpu")
    assert seen == [4, 4, 3, 4, 4, 3] and from_dataset.dtype == np.float32 and no_labels is None
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_array_equal(from_dataset, from_arrays)
    np.testing.assert_allclose(from_dataset, x.sum(axis=(1, 2)), rtol=1e-5)
    integers, _ = in_batches(lambda batch: batch["x"].argmax(dim=-1), {"x": x}, 5, "cpu")
    assert integers.dtype == np.int64 and np.array_equal(integers, x.argmax(axis=-1))  # not cast to float


def test_recipe_knobs_left_unset_are_filled_by_a_recipe_and_refused_by_fit():
    config = TrainConfig(lr=None, schedule=None, weight_decay=0.5, progress=False, device="cpu")
    filled = config.with_recipe({"lr": 0.01, "schedule": "warmup_cosine", "weight_decay": 0.1})
    assert (filled.lr, filled.schedule, filled.weight_decay) == (0.01, "warmup_cosine", 0.5)  # set knobs are kept
    with pytest.raises(ValueError, match="a recipe sets"):
        config.with_recipe({"epochs": 3})
    with pytest.raises(ValueError, match=r"\['lr', 'schedule'\] are unset"):
        fit(create_model("mlp", in_channels=2, num_classes=3, seq_len=12), TinySeries(16, 0), config=config)


def test_series_in_batches_equals_one_call_and_takes_shared_or_per_series_days():
    from sitsbench.runtime import series_in_batches

    rng = np.random.default_rng(1)
    x, mask = rng.normal(size=(10, 6, 3)).astype(np.float32), rng.random((10, 6)) < 0.7
    doy = np.arange(1, 61, 10)
    seen = []

    def call(xb, db, mb):
        seen.append(len(xb))
        return xb.sum(dim=(1, 2)) + db.sum(dim=1) + mb.sum(dim=1)

    out = series_in_batches(call, x, doy, mask, batch_size=4, device="cpu")
    assert seen == [4, 4, 2] and out.dtype == np.float32
    np.testing.assert_allclose(out, x.sum(axis=(1, 2)) + doy.sum() + mask.sum(axis=1), rtol=1e-6)
    per_series = np.tile(doy, (10, 1)) + np.arange(10)[:, None]
    np.testing.assert_allclose(series_in_batches(call, x, per_series, mask, 3, "cpu"),
                               x.sum(axis=(1, 2)) + per_series.sum(axis=1) + mask.sum(axis=1), rtol=1e-6)
