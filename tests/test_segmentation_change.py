"""Downstream evaluation (issue 9, part B): segmentation of patches and change detection."""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.cube import make_cube
from sitsbench.data.datasets import PatchDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation.change import (
    ChangeConfig,
    anomaly_dates,
    bitemporal_change,
    bitemporal_targets,
    candidate_days,
    change_score_rows,
    change_scores,
    change_targets,
    cosine_profile,
    detect_changes,
    ndvi_profile,
    plot_change_dates,
    run_change_detection,
    window_embeddings,
)
from sitsbench.evaluation.segmentation import (
    SEGMENTATION_TRAINING,
    DecoderOnly,
    EmbeddedPatches,
    PixelEncoderSegmenter,
    SegmentationConfig,
    SegmentationRun,
    build_segmenter,
    plot_segmentation,
    segment,
    segmentation_table,
    train_segmenter,
)
from sitsbench.metrics import classification_metrics
from sitsbench.models import create_model
from sitsbench.runtime import seed_everything


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a loaded 2-core machine two spinning threads make these runs ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def seg_cube():
    """The toy cube (64x64 px, 10 classes, 20 dates, clouds), without Sentinel-1."""
    return generate_cube("toy", seed=0, with_s1=False)


def _encoder(seed: int = 0):
    seed_everything(seed)
    return create_model("transformer_tiny", in_channels=10, num_classes=0)


# ---------------------------------------------------------------------------------------------- segmentation


def _reference_scores(y_true, y_pred, num_classes, ignore):
    """Straightforward per-class loops over the pixels that are not ignored."""
    keep = y_true != ignore
    t, p = y_true[keep], y_pred[keep]
    ious = []
    for k in range(num_classes):
        tp = np.sum((t == k) & (p == k))
        fp = np.sum((t != k) & (p == k))
        fn = np.sum((t == k) & (p != k))
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else np.nan)
    ious = np.array(ious)
    return np.nanmean(ious), np.mean(t == p), ious


@pytest.mark.parametrize("ignore", [-1, 0])
def test_segmentation_scores_match_a_numpy_reference_on_random_masks(ignore):
    rng = np.random.default_rng(3)
    num_classes = 6
    y_true = rng.integers(min(ignore, 0), 5, size=(4, 16, 16))  # class 5 never in the reference
    y_pred = rng.integers(0, num_classes - 1, size=(4, 16, 16))  # nor in the prediction: IoU undefined
    y_pred[0, :4] = y_true[0, :4].clip(0)  # some agreement
    scores = classification_metrics(y_true, y_pred, num_classes, ignore_index=ignore)
    miou, oa, ious = _reference_scores(y_true, y_pred, num_classes, ignore)
    assert scores["miou"] == pytest.approx(miou, abs=1e-12)
    assert scores["oa"] == pytest.approx(oa, abs=1e-12)
    assert scores["n"] == int((y_true != ignore).sum())
    got = np.array([np.nan if v is None else v for v in scores["iou_per_class"].values()])
    np.testing.assert_allclose(got, ious, equal_nan=True)
    assert scores["iou_per_class"]["5"] is None


def test_segmentation_scores_on_a_hand_computed_map():
    y_true = np.array([[0, 0, 1], [1, -1, 2]])
    y_pred = np.array([[0, 1, 1], [1, 2, 0]])
    scores = classification_metrics(y_true, y_pred, 3, class_names=["a", "b", "c"])
    # a: TP 1, FP 1 (pixel of c), FN 1 -> 1/3; b: TP 2, FP 1 -> 2/3; c: TP 0 -> 0. The ignored pixel counts nowhere.
    assert scores["iou_per_class"] == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 0.0})
    assert scores["miou"] == pytest.approx(1 / 3)
    assert scores["oa"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        classification_metrics(y_true, y_pred, 3, class_names=["a", "b"])


def test_pixel_encoder_segmenter_applies_the_encoder_to_every_pixel():
    encoder = _encoder().eval()
    model = PixelEncoderSegmenter(encoder, num_classes=4, decoder="linear", chunk=7).eval()
    x = torch.randn(2, 5, 10, 4, 6)
    doy = torch.tensor([[10, 40, 90, 150, 200]] * 2)
    mask = torch.rand(2, 5, 4, 6) > 0.3
    features = model.pixel_features(x, doy, mask)
    assert features.shape == (2, encoder.num_features, 4, 6)
    b, i, j = 1, 2, 5
    expected = encoder.forward_features(x[b, :, :, i, j][None], doy=doy[b][None], mask=mask[b, :, i, j][None])
    torch.testing.assert_close(features[b, :, i, j], expected[0])
    assert model(x, doy, mask).shape == (2, 4, 4, 6)
    conv = PixelEncoderSegmenter(encoder, num_classes=4, decoder="conv", hidden=8)
    assert conv(x, doy, mask).shape == (2, 4, 4, 6) and conv.num_features == 8
    with pytest.raises(ValueError, match="decoder must be one of"):
        PixelEncoderSegmenter(encoder, 4, decoder="mlp")
    with pytest.raises(ValueError, match="input_kind='patch'"):
        PixelEncoderSegmenter(create_model("utae_tiny", 10, 0), 4)


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


@pytest.mark.parametrize("method", ["frozen", "finetune"])
def test_frozen_encoder_stays_in_eval_mode_and_only_finetune_moves_it(seg_cube, method):
    encoder = _encoder()
    original = _weights(encoder)
    model = build_segmenter(method, 10, 10, encoder)
    assert model.encoder is not encoder  # a copy: the caller's encoder is never trained
    modes = []
    layers = model.encoder.encoder  # the transformer layers (with dropout) inside the pixel encoder
    layers.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    split = split_parcels(seg_cube, (0.7, 0.0, 0.3), by="block", block_size=16)
    train = PatchDataset(seg_cube, split, "train", BandStats.from_cube(seg_cube, split_mask(split, "train")), 16)
    before = _weights(model)
    train_segmenter(model, train, SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=1, batch_size=4)))
    moved = _changed(before, model)
    encoder_keys = {k for k in before if k.startswith("encoder.")}
    assert modes and all(mode == (method == "finetune") for mode in modes)
    assert moved - encoder_keys  # the decoder and head learn in both protocols
    if method == "frozen":
        assert not moved & encoder_keys
        assert all(not p.requires_grad for p in model.encoder.parameters())
        # training the decoder on embedding maps computed once gives the same weights
        cached = build_segmenter(method, 10, 10, encoder)
        cached.load_state_dict(before)
        train_segmenter(DecoderOnly(cached), EmbeddedPatches(cached, train), SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=1, batch_size=4)))
        for key, value in cached.state_dict().items():
            torch.testing.assert_close(value, model.state_dict()[key], rtol=1e-3, atol=2e-4)  # Adam amplifies float noise
    else:
        assert encoder_keys <= moved | {k for k in encoder_keys if "norm" in k and "running" in k}
        assert len(moved & encoder_keys) > len(encoder_keys) // 2
    assert not _changed(original, encoder)


def test_segmentation_end_to_end_learns_and_plots(seg_cube):
    config = SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=6, batch_size=2, lr=1e-2, device="cpu"))
    run = segment(seg_cube, "frozen", encoder=_encoder(), patch_size=16, config=config, seed=0)
    scores = run.scores
    assert scores["method"] == "frozen" and scores["n_test_patches"] == run.y_true.shape[0]
    assert run.y_true.shape == run.y_pred.shape == (scores["n_test_patches"], 16, 16)
    assert run.losses[-1] < 0.6 * run.losses[0]
    # majority-class baseline: the most frequent training class everywhere
    majority = np.bincount(run.test.labels[run.test.labels >= 0]).argmax()
    baseline = classification_metrics(run.y_true, np.full_like(run.y_true, majority), 10)
    assert scores["miou"] > baseline["miou"] + 0.15 and scores["oa"] > baseline["oa"] + 0.1
    assert scores["miou"] == pytest.approx(classification_metrics(run.y_true, run.y_pred, 10)["miou"])
    model = run.model
    assert model.feature_std.min() > 0 and not torch.equal(model.feature_mean, torch.zeros_like(model.feature_mean))
    fig = plot_segmentation(run, seg_cube, n_patches=3)
    assert len(fig.axes) == 3 * 4
    plt.close(fig)


def test_utae_from_scratch_on_a_fraction_of_the_patches(seg_cube):
    config = SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=2, batch_size=2, device="cpu"))
    few = segment(seg_cube, "utae", patch_size=16, label_fraction=0.3, seed=1, config=config)
    assert 0 < few.scores["n_train_patches"] < 11  # 11 training patches in all on this cube
    assert few.losses[-1] < few.losses[0]
    assert few.scores["miou"] == pytest.approx(classification_metrics(few.y_true, few.y_pred, 10)["miou"])


def test_segmentation_table_has_one_row_per_method_fraction_and_seed(seg_cube):
    config = SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=1, device="cpu"))
    table = segmentation_table(seg_cube, ["frozen", "finetune"], _encoder(), label_fractions=(0.3, 1.0), seeds=(0,),
                               config=config)
    assert len(table) == 4 and list(table["method"]) == ["frozen", "frozen", "finetune", "finetune"]
    assert {"miou", "oa", "n_train_patches", "iou_winter_wheat", "iou_bare_soil"} <= set(table.columns)
    assert table["miou"].between(0, 1).all()
    assert table.groupby("method")["n_train_patches"].apply(list).to_dict() == {"finetune": [5, 11], "frozen": [5, 11]}


def test_segmentation_errors_name_the_problem(seg_cube):
    with pytest.raises(ValueError, match="method must be one of"):
        build_segmenter("unet", 10, 10)
    with pytest.raises(ValueError, match="needs a pretrained pixel encoder"):
        build_segmenter("frozen", 10, 10)
    with pytest.raises(ValueError, match=r"no 64 x 64 patch of the 64 x 64 cube .* a smaller patch_size"):
        segment(seg_cube, "utae", patch_size=64)


# ---------------------------------------------------------------------------------------------- change detection


def test_change_scores_on_a_hand_built_example():
    changed = np.array([1, 1, 1, 0, 0, 0, 0, -1])
    predicted = np.array([1, 1, 0, 1, 0, 0, 0, 1])
    day = np.array([100, 150, 200, np.nan, np.nan, np.nan, np.nan, 120])
    predicted_day = np.array([110, 120, 260, 50, 60, 70, 80, 90])
    scores = change_scores(changed, predicted, day, predicted_day)
    # TP 2, FP 1, FN 1 (the ambiguous last item is not scored): precision = recall = F1 = 2/3
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    # change rate 3/7: answering "changed" everywhere gives F1 = 2p / (1 + p) = 0.6
    assert scores["change_rate"] == pytest.approx(3 / 7) and scores["all_changed_f1"] == pytest.approx(0.6)
    assert scores["n"] == 7
    assert scores["date_mae_days"] == pytest.approx((10 + 30 + 60) / 3)  # over the three true changes
    assert scores["date_mae_detected_days"] == pytest.approx((10 + 30) / 2)  # over the two detected ones
    with pytest.raises(ValueError, match="differ in size"):
        change_scores(changed, predicted[:3])


def test_ndvi_break_profile_and_anomaly_date_by_hand():
    days = np.arange(10) * 10.0
    step = np.where(np.arange(10) < 6, 0.8, 0.1)  # drops between day 50 and day 60
    profile = ndvi_profile(np.stack([np.full(10, 0.6), step]), window=2)
    np.testing.assert_allclose(candidate_days(days, 2), [15, 25, 35, 45, 55, 65, 75])
    np.testing.assert_allclose(profile[0], 0.0)
    # k = 5: |0.8 - (0.8 + 0.1) / 2| = 0.35; k = 6: |0.8 - 0.1| = 0.7; k = 7: |(0.8 + 0.1) / 2 - 0.1| = 0.35
    np.testing.assert_allclose(profile[1], [0, 0, 0, 0.35, 0.7, 0.35, 0], atol=1e-12)
    reference = np.random.default_rng(0).normal(0.05, 0.01, size=(20, 7))
    assert anomaly_dates(profile[1:], candidate_days(days, 2), reference) == pytest.approx([55.0])
    # a break where unchanged pixels also move a lot (green-up) is less anomalous than a smaller one elsewhere
    seasonal = np.tile([0.0, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0], (20, 1)) + reference
    assert anomaly_dates(np.array([[0, 0.3, 0, 0, 0.7, 0, 0]]), candidate_days(days, 2), seasonal) == [25.0]
    with pytest.raises(ValueError, match="window must be between 1 and 5"):
        candidate_days(days, 6)


def test_window_embeddings_and_cosine_profile():
    embeddings = np.array([[[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]]])  # (N=1, S=4, D=2)
    np.testing.assert_allclose(cosine_profile(embeddings, window=1), [[0.0, 1.0, 0.0]], atol=1e-12)
    encoder = _encoder().train()  # handed in training mode: dropout must be switched off
    series = np.random.default_rng(1).normal(size=(3, 8, 10)).astype(np.float32)
    doy = np.arange(8) * 20 + 5
    runs = window_embeddings(encoder, series, doy, window=3, device="cpu")
    assert runs.shape == (3, 6, encoder.num_features) and not encoder.training
    with torch.no_grad():
        expected = encoder.forward_features(torch.from_numpy(series[2:3, 4:7]), doy=torch.as_tensor(doy[None, 4:7]))
    np.testing.assert_allclose(runs[2, 4], expected[0].numpy(), rtol=1e-5, atol=1e-6)


def test_bitemporal_targets_by_hand():
    times = np.datetime64("2021-01-01") + np.array([0, 10, 20, 30, 40, 50]).astype("timedelta64[D]")
    cube = make_cube(np.full((6, 10, 1, 4), 0.1), times, cube_format.S2_BANDS, labels=np.zeros((1, 4), int))
    cube[cube_format.CHANGE] = ((cube_format.Y, cube_format.X), np.array([[0, 1, 1, 1]], dtype=np.int8))
    change_day = np.datetime64("2021-01-01") + np.array([0, 25, 5, 45]).astype("timedelta64[D]")
    cube["change_date"] = ((cube_format.Y, cube_format.X), np.where([False, True, True, True], change_day, np.datetime64("NaT"))[None])
    # before = dates 0-1 (days 0, 10), after = dates 3-4 (days 30, 40): a change on day 25 lies between them,
    # day 5 inside 'before' (ambiguous), day 45 after the last date considered (no change between the windows)
    np.testing.assert_array_equal(bitemporal_targets(cube, [0, 1], [3, 4]), [[0, 1, -1, 0]])
    with pytest.raises(ValueError, match="must all precede"):
        bitemporal_targets(cube, [2, 3], [3, 4])
    with pytest.raises(ValueError, match="change_fraction"):
        bitemporal_targets(cube.drop_vars(cube_format.CHANGE), [0], [5])


@pytest.fixture(scope="module")
def change_cube():
    """A 96x96 px cube where ~30 % of the parcels change (to bare soil or buildings) on a day between 60 and 300."""
    return generate_cube("toy", seed=0, with_s1=False, change_fraction=0.3, height=96, width=96)


def test_change_detection_end_to_end_beats_the_trivial_answers(change_cube):
    config = ChangeConfig(n_estimators=50, device="cpu")
    run = detect_changes(change_cube, "series", "regression", seed=0, config=config)
    s = run.scores
    assert 0.2 < s["pixel_change_rate"] < 0.6
    # answering "changed" everywhere is the best answer that ignores the data (a random answer with rate q scores
    # 2pq / (p + q) <= 2p / (1 + p)); the forest must clearly beat it, on pixels and on parcels
    assert s["pixel_f1"] > s["pixel_all_changed_f1"] + 0.15
    assert s["parcel_f1"] > s["parcel_all_changed_f1"] + 0.1
    # change days are uniform on [60, 300): guessing the middle would miss by ~60 days on average
    assert s["pixel_date_mae_days"] < 40 and s["parcel_date_mae_days"] < 40
    changed, day = change_targets(change_cube)
    np.testing.assert_array_equal(run.pixels["changed"], changed[run.pixels["row"], run.pixels["col"]])
    assert set(run.parcels["parcel"]) == set(run.pixels["parcel"])
    fig = plot_change_dates(run, change_cube, n_parcels=3)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3
    plt.close(fig)
    bands = bitemporal_change(change_cube, "bands", config=config)
    cva = bitemporal_change(change_cube, "cva", config=ChangeConfig(device="cpu"))
    for scores in (bands, cva):
        assert scores["pixel_f1"] > scores["pixel_all_changed_f1"] + 0.05
    assert bands["pixel_f1"] > cva["pixel_f1"]


def test_change_detection_with_a_frozen_encoder_runs_on_few_labels(change_cube):
    small = change_cube.isel({cube_format.Y: slice(0, 48), cube_format.X: slice(0, 96)})
    encoder = _encoder()
    before = _weights(encoder)
    config = ChangeConfig(n_estimators=20, max_train_pixels=600, device="cpu")
    s = run_change_detection(small, "embedding", "argmax", encoder=encoder, label_fraction=0.3, config=config)
    assert s["n_train_pixels"] == pytest.approx(0.3 * 600, abs=2)
    assert 0 <= s["pixel_f1"] <= 1 and 0 <= s["pixel_date_mae_days"] <= 365
    bi = bitemporal_change(small, "embedding", encoder=encoder, config=config)
    assert 0 <= bi["pixel_f1"] <= 1
    assert not _changed(before, encoder)
    with pytest.raises(ValueError, match="needs a \\(pretrained\\) series encoder"):
        run_change_detection(small, "embedding")
    with pytest.raises(ValueError, match="features must be one of"):
        run_change_detection(small, "pixels")


def test_runs_are_deterministic_for_a_seed(seg_cube, change_cube):
    config = SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=2, device="cpu"))
    first, second = (segment(seg_cube, "finetune", _encoder(), label_fraction=0.3, seed=4, config=config)
                     for _ in range(2))
    np.testing.assert_array_equal(first.y_pred, second.y_pred)
    assert first.losses == second.losses
    small = change_cube.isel({cube_format.Y: slice(0, 48)})
    runs = [run_change_detection(small, "ndvi", "regression", seed=2, config=ChangeConfig(n_estimators=20))
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_a_change_run_gives_score_rows_at_each_level_its_unit():
    scores = {"label_fraction": 0.5, "seed": 3, "pixel_f1": 0.8, "pixel_precision": 0.7, "pixel_date_mae_days": 4.0,
              "parcel_f1": 0.9, "parcel_date_mae_days": 3.0}
    rows = change_score_rows(scores, "synthetic/default", "change RF, argmax dates", "ndvi")
    assert [(r["unit"], r["metric"], r["value"]) for r in rows] == [
        ("pixel", "f1", 0.8), ("pixel", "date_mae_days", 4.0), ("parcel", "f1", 0.9), ("parcel", "date_mae_days", 3.0)]
    assert all((r["label_fraction"], r["seed"], r["encoder"]) == (0.5, 3, "ndvi") for r in rows)
    bitemporal = {k: v for k, v in scores.items() if "date" not in k}  # no dates: only what the run has
    assert [r["metric"] for r in change_score_rows(bitemporal, "d", "bi-temporal cva")] == ["f1", "f1"]


def test_a_segmentation_run_gives_its_score_rows():
    scores = {"method": "frozen", "label_fraction": 0.1, "seed": 2, "miou": 0.4, "oa": 0.7, "train_time_s": 3.0}
    rows = SegmentationRun(scores, None, None, None, None, []).score_rows("synthetic/default", "SimCLR")
    assert [(r["method"], r["encoder"], r["unit"], r["metric"], r["value"]) for r in rows] == [
        ("frozen encoder + decoder", "SimCLR", "patch", "miou", 0.4),
        ("frozen encoder + decoder", "SimCLR", "patch", "oa", 0.7)]
    assert all((r["label_fraction"], r["seed"], r["train_time_s"]) == (0.1, 2, 3.0) for r in rows)
