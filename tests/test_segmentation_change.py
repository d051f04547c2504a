"""Downstream evaluation (issue 9, part B): segmentation of patches and change detection."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from sitsbench.data.datasets import PatchDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation.segmentation import (
    PixelEncoderSegmenter,
    SegmentationConfig,
    build_segmenter,
    plot_segmentation,
    segment,
    segmentation_scores,
    train_segmenter,
)
from sitsbench.models import create_model
from sitsbench.runtime import seed_everything


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
    scores = segmentation_scores(y_true, y_pred, num_classes, ignore_index=ignore)
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
    scores = segmentation_scores(y_true, y_pred, 3, class_names=["a", "b", "c"])
    # a: TP 1, FP 1 (pixel of c), FN 1 -> 1/3; b: TP 2, FP 1 -> 2/3; c: TP 0 -> 0. The ignored pixel counts nowhere.
    assert scores["iou_per_class"] == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 0.0})
    assert scores["miou"] == pytest.approx(1 / 3)
    assert scores["oa"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        segmentation_scores(y_true, y_pred, 3, class_names=["a", "b"])


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
    train_segmenter(model, train, SegmentationConfig(epochs=1, batch_size=4, device="cpu"))
    moved = _changed(before, model)
    encoder_keys = {k for k in before if k.startswith("encoder.")}
    assert modes and all(mode == (method == "finetune") for mode in modes)
    assert moved - encoder_keys  # the decoder and head learn in both protocols
    if method == "frozen":
        assert not moved & encoder_keys
        assert all(not p.requires_grad for p in model.encoder.parameters())
    else:
        assert encoder_keys <= moved | {k for k in encoder_keys if "norm" in k and "running" in k}
        assert len(moved & encoder_keys) > len(encoder_keys) // 2
    assert not _changed(original, encoder)


def test_segmentation_end_to_end_learns_and_plots(seg_cube):
    config = SegmentationConfig(epochs=6, batch_size=2, lr=1e-2, device="cpu")
    run = segment(seg_cube, "frozen", encoder=_encoder(), patch_size=16, config=config, seed=0)
    scores = run.scores
    assert scores["method"] == "frozen" and scores["n_test_patches"] == run.y_true.shape[0]
    assert run.y_true.shape == run.y_pred.shape == (scores["n_test_patches"], 16, 16)
    assert run.losses[-1] < 0.6 * run.losses[0]
    # majority-class baseline: the most frequent training class everywhere
    majority = np.bincount(run.test.labels[run.test.labels >= 0]).argmax()
    baseline = segmentation_scores(run.y_true, np.full_like(run.y_true, majority), 10)
    assert scores["miou"] > baseline["miou"] + 0.15 and scores["oa"] > baseline["oa"] + 0.1
    assert scores["miou"] == pytest.approx(segmentation_scores(run.y_true, run.y_pred, 10)["miou"])
    model = run.model
    assert model.feature_std.min() > 0 and not torch.equal(model.feature_mean, torch.zeros_like(model.feature_mean))
    few = segment(seg_cube, "utae", patch_size=16, label_fraction=0.3, seed=1,
                  config=SegmentationConfig(epochs=2, batch_size=2, device="cpu"))
    assert few.scores["n_train_patches"] < scores["n_train_patches"]
    assert np.isfinite(few.scores["miou"]) and few.losses[-1] < few.losses[0]
    fig = plot_segmentation(run, seg_cube, n_patches=3)
    assert len(fig.axes) == 3 * 4
    plt.close(fig)


def test_segmentation_errors_name_the_problem(seg_cube):
    with pytest.raises(ValueError, match="method must be one of"):
        build_segmenter("unet", 10, 10)
    with pytest.raises(ValueError, match="needs a pretrained pixel encoder"):
        build_segmenter("frozen", 10, 10)
    with pytest.raises(ValueError, match="use a smaller patch_size"):
        segment(seg_cube, "utae", patch_size=64)
