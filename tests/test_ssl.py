"""Self-supervised pretraining: augmentations, losses against loop references, DINO's EMA teacher,
collapse metrics, unlabeled data, checkpoints, and a linear probe beating a random encoder."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation import embed, probe
from sitsbench.models import create_model
from sitsbench.records import read_run_record
from sitsbench.runtime import seed_everything
from sitsbench.ssl import (
    DINO,
    PRETRAINING,
    BandDropout,
    CloudMask,
    Compose,
    DateResample,
    GaussianNoise,
    MultiView,
    PretrainConfig,
    SimCLR,
    SpatialCrop,
    SpatialFlipRotate,
    SpectralJitter,
    TemporalCrop,
    UnlabeledPixelDataset,
    collapse_metrics,
    cosine_momentum,
    dino_loss,
    load_encoder,
    nt_xent,
    pretrain,
)
from sitsbench.ssl.monitor import warn_if_collapsed


@pytest.fixture(scope="module")
def toy_cube():
    return generate_cube("toy", seed=0)


def series_sample(n_time: int = 12, n_band: int = 4) -> dict[str, torch.Tensor]:
    x = torch.arange(n_time * n_band, dtype=torch.float32).reshape(n_time, n_band)
    return {"x": x, "doy": torch.arange(n_time) * 30 + 5, "mask": torch.ones(n_time, dtype=torch.bool)}


def patch_sample(n_time: int = 6, n_band: int = 3, size: int = 8) -> dict[str, torch.Tensor]:
    x = torch.randn(n_time, n_band, size, size, generator=torch.Generator().manual_seed(0))
    mask = torch.rand(n_time, size, size, generator=torch.Generator().manual_seed(1)) > 0.3
    return {"x": x, "doy": torch.arange(n_time) * 50, "mask": mask}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


SERIES_TRANSFORMS = [
    TemporalCrop(5),
    DateResample(7),
    CloudMask(0.5),
    SpectralJitter(0.2, 0.2),
    BandDropout(0.5),
    GaussianNoise(0.1),
]


@pytest.mark.parametrize("transform", SERIES_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_series_transforms_keep_consistent_shapes_and_are_seeded(transform):
    sample = series_sample()
    out = transform(sample, gen(3))
    n_time = out["x"].shape[0]
    assert out["x"].shape == (n_time, 4) and out["doy"].shape == (n_time,) and out["mask"].shape == (n_time,)
    again = transform(sample, gen(3))
    for key in ("x", "doy", "mask"):
        assert torch.equal(out[key], again[key])
    others = [transform(sample, gen(seed)) for seed in range(4, 10)]
    assert any(not torch.equal(out[k], other[k]) for other in others for k in ("x", "doy", "mask"))
    assert torch.equal(sample["x"], series_sample()["x"]), "the input sample must not be modified"


def test_temporal_transforms_move_values_dates_and_mask_together():
    sample = series_sample()
    sample["mask"][::3] = False
    for transform in (TemporalCrop(5), DateResample(7)):
        out = transform(sample, gen(11))
        dates = ((out["doy"] - 5) // 30).long()
        assert torch.all(dates[1:] > dates[:-1]), "dates stay in time order"
        assert torch.equal(out["x"], sample["x"][dates])
        assert torch.equal(out["mask"], sample["mask"][dates])
    crop = TemporalCrop(5)(sample, gen(11))
    assert torch.equal(crop["doy"][1:] - crop["doy"][:-1], torch.full((4,), 30)), "a crop is contiguous"


def test_cloud_mask_masks_and_brightens_the_same_dates_and_keeps_one_clear():
    out = CloudMask(0.5, brightness=7.0)(series_sample(), gen(0))
    cloudy = ~out["mask"]
    assert 0 < int(cloudy.sum()) < 12
    assert torch.all(out["x"][cloudy] == 7.0)
    assert torch.equal(out["x"][~cloudy], series_sample()["x"][~cloudy])
    for seed in range(20):
        assert CloudMask(0.99)(series_sample(), gen(seed))["mask"].sum() >= 1


def test_spectral_jitter_is_an_affine_map_per_band_and_band_dropout_zeros_whole_bands():
    sample = series_sample()
    out = SpectralJitter(0.3, 0.3)(sample, gen(2))["x"]
    for band in range(4):
        slope, intercept = np.polyfit(sample["x"][:, band].numpy(), out[:, band].numpy(), 1)
        assert abs(slope - 1.0) > 1e-4 and np.allclose(np.polyval([slope, intercept], sample["x"][:, band]), out[:, band], atol=1e-4)
    dropped = BandDropout(0.6)(sample, gen(5))["x"]
    zero_bands = (dropped == 0).all(dim=0)
    assert 0 < int(zero_bands.sum()) < 4
    assert torch.equal(dropped[:, ~zero_bands], sample["x"][:, ~zero_bands])


def test_gaussian_noise_has_the_requested_std():
    sample = {**series_sample(200, 50)}
    noise = GaussianNoise(0.3)(sample, gen(0))["x"] - sample["x"]
    assert abs(float(noise.std()) - 0.3) < 0.01


def test_spatial_transforms_keep_patch_and_mask_aligned():
    sample = patch_sample()
    for seed in range(6):
        out = SpatialFlipRotate()(sample, gen(seed))
        assert out["x"].shape == sample["x"].shape and out["mask"].shape == sample["mask"].shape
        # the transform permutes pixels: the mask still marks the same values
        assert torch.allclose(out["x"][:, 0][out["mask"]].sort().values, sample["x"][:, 0][sample["mask"]].sort().values)
    crop = SpatialCrop(5)(sample, gen(1))
    assert crop["x"].shape == (6, 3, 5, 5) and crop["mask"].shape == (6, 5, 5)
    assert torch.equal(SpatialCrop(5)(sample, gen(1))["x"], crop["x"])
    with pytest.raises(ValueError, match="patch"):
        SpatialFlipRotate()(series_sample(), gen(0))
    with pytest.raises(ValueError, match="SpatialCrop size 9"):
        SpatialCrop(9)(sample, gen(0))


def test_bad_samples_raise_clear_errors():
    sample = series_sample()
    with pytest.raises(KeyError, match="mask"):
        TemporalCrop(3)({"x": sample["x"], "doy": sample["doy"]}, gen(0))
    with pytest.raises(ValueError, match="doy has shape"):
        GaussianNoise()({**sample, "doy": sample["doy"][:3]}, gen(0))
    with pytest.raises(ValueError, match="TemporalCrop length 20 exceeds"):
        TemporalCrop(20)(sample, gen(0))


def test_multiview_returns_global_then_local_views_deterministically():
    views = MultiView(Compose([CloudMask(0.3), GaussianNoise(0.1)]), 2, Compose([TemporalCrop(4)]), 3)
    out = views(series_sample(), gen(0))
    assert [v["x"].shape[0] for v in out] == [12, 12, 4, 4, 4]
    assert not torch.equal(out[0]["x"], out[1]["x"])
    again = views(series_sample(), gen(0))
    assert all(torch.equal(a["x"], b["x"]) for a, b in zip(out, again, strict=True))


def nt_xent_reference(z1: np.ndarray, z2: np.ndarray, temperature: float) -> float:
    """Explicit loops over anchors and candidates (Chen et al. 2020, eq. 1)."""
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = z1.shape[0]
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(z[i] @ z[k] / temperature) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(z[i] @ z[positive] / temperature) / denominator)
    return total / (2 * n)


def dino_reference(student, teacher, center, student_temp, teacher_temp) -> float:
    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    total, pairs = 0.0, 0
    for t_index, t in enumerate(teacher):
        for s_index, s in enumerate(student):
            if s_index == t_index:
                continue
            for row in range(t.shape[0]):
                p_teacher = softmax((t[row] - center) / teacher_temp)
                p_student = softmax(s[row] / student_temp)
                total += -np.sum(p_teacher * np.log(p_student)) / t.shape[0]
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_the_loop_reference(temperature):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    loss = nt_xent(torch.tensor(z1), torch.tensor(z2), temperature)
    assert float(loss) == pytest.approx(nt_xent_reference(z1, z2, temperature), rel=1e-6)
    aligned = nt_xent(torch.tensor(z1), torch.tensor(z1), temperature)
    assert float(aligned) < float(loss)
    with pytest.raises(ValueError, match="z1 and z2"):
        nt_xent(torch.zeros(3, 2), torch.zeros(4, 2))


def test_dino_loss_matches_the_loop_reference():
    rng = np.random.default_rng(1)
    student = [rng.normal(size=(4, 7)) for _ in range(5)]
    teacher = [rng.normal(size=(4, 7)) for _ in range(2)]
    center = rng.normal(size=7) * 0.1
    loss = dino_loss([torch.tensor(s) for s in student], [torch.tensor(t) for t in teacher], torch.tensor(center), 0.1, 0.04)
    assert float(loss) == pytest.approx(dino_reference(student, teacher, center, 0.1, 0.04), rel=1e-6)


def series_views(n: int = 16, n_time: int = 10, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = gen(seed)
    return [
        {"x": torch.randn(n, n_time, 4, generator=g), "doy": torch.arange(n_time).repeat(n, 1) * 30,
         "mask": torch.ones(n, n_time, dtype=torch.bool)}
        for _ in range(4)
    ]


def test_dino_teacher_is_an_ema_of_the_student_and_gets_no_gradient():
    seed_everything(0)
    dino = DINO(create_model("transformer_tiny", 4, 0), out_dim=16)
    teacher_before = [p.detach().clone() for p in dino.teacher.parameters()]
    optimizer = torch.optim.SGD([p for p in dino.parameters() if p.requires_grad], lr=0.5)
    loss, embeddings = dino.loss(series_views())
    loss.backward()
    assert all(p.grad is None for p in [*dino.teacher.parameters(), *dino.teacher_head.parameters()])
    assert embeddings.shape == (16, 16)
    optimizer.step()
    student_after = [p.detach().clone() for p in dino.student.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(student_after, teacher_before, strict=True))
    dino.update_teacher(0.9)
    for teacher, before, student in zip(dino.teacher.parameters(), teacher_before, student_after, strict=True):
        assert torch.allclose(teacher, 0.9 * before + 0.1 * student, atol=1e-6)
    assert cosine_momentum(0, 11, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(5, 11, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(10, 11, 0.99) == pytest.approx(1.0)


def test_dino_center_is_a_running_mean_of_teacher_outputs():
    seed_everything(0)
    dino = DINO(create_model("transformer_tiny", 4, 0), out_dim=8, center_momentum=0.5, teacher_mode="eval")
    views = series_views(n=8)
    dino.train()
    assert not dino.teacher.training and dino.student.training
    with torch.no_grad():
        expected = torch.cat([dino.teacher_head(dino.teacher.forward_features(v["x"], v["doy"], v["mask"])) for v in views[:2]])
    dino.loss(views)
    assert torch.allclose(dino.criterion.center, 0.5 * expected.mean(dim=0), atol=1e-6)


def test_simclr_loss_backpropagates_into_the_encoder():
    seed_everything(0)
    simclr = SimCLR(create_model("tempcnn_small", 4, 0, seq_len=10), out_dim=8)
    loss, z = simclr.loss(series_views()[:2])
    loss.backward()
    assert z.shape == (16, 8)
    assert all(p.grad is not None for p in simclr.encoder.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="exactly 2 views"):
        simclr.loss(series_views()[:3])


def test_collapse_metrics_values_and_warning():
    rng = np.random.default_rng(0)
    spread = collapse_metrics(torch.tensor(rng.normal(size=(2000, 16))))
    assert spread["uniform_std"] == pytest.approx(0.25)
    assert spread["embedding_std"] == pytest.approx(0.25, rel=0.05)
    assert abs(spread["mean_cosine"]) < 0.01
    collapsed = collapse_metrics(torch.ones(50, 16) + 1e-4 * torch.tensor(rng.normal(size=(50, 16))))
    assert collapsed["embedding_std"] < 1e-3 and collapsed["mean_cosine"] == pytest.approx(1.0, abs=1e-4)
    with pytest.warns(UserWarning, match="collapsed"):
        assert warn_if_collapsed(collapsed)
    assert not warn_if_collapsed(spread)
    assert 15.0 < spread["effective_rank"] <= 16.0  # isotropic: close to D
    line = torch.tensor(rng.normal(size=(100, 1))) * torch.tensor(rng.normal(size=(1, 16)))
    assert collapse_metrics(line)["effective_rank"] == pytest.approx(1.0, abs=1e-6)  # dimensional collapse
    assert collapse_metrics(torch.ones(10, 4))["effective_rank"] == 0.0


def test_unlabeled_dataset_does_not_read_the_class_variable(toy_cube):
    unlabeled = toy_cube.drop_vars("class")
    views = MultiView(Compose([CloudMask(0.2), GaussianNoise(0.1)]), 2)
    dataset = UnlabeledPixelDataset(unlabeled, views, max_pixels=100, seed=0)
    assert len(dataset) == 100
    item = dataset[3]
    assert len(item) == 2 and item[0]["x"].shape == (20, 10) and item[0]["mask"].dtype == torch.bool
    assert torch.equal(dataset[3][1]["x"], item[1]["x"])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[3][0]["x"], item[0]["x"])


def probe_data(cube, seed):
    split = split_parcels(cube, seed=seed)
    stats = BandStats.from_cube(cube, np.ones((cube.sizes["y"], cube.sizes["x"]), dtype=bool))
    train = PixelSeriesDataset(cube, split, "train", stats, max_pixels=400, seed=seed)
    test = PixelSeriesDataset(cube, split, "test", stats, max_pixels=400, seed=seed)
    return train, test


def test_pretrain_writes_a_checkpoint_and_record_that_reload_the_encoder(toy_cube, tmp_path):
    config = PretrainConfig(max_pixels=128, n_local=2, local_dates=6, train=replace(PRETRAINING, epochs=2, batch_size=64, progress=False))
    encoder, history = pretrain(toy_cube.drop_vars("class"), "dino", "transformer_tiny", config, output_dir=tmp_path)
    assert len(history.train_loss) == 2 and len(history.monitors["embedding_std"]) == 2 and len(history.monitors["mean_cosine"]) == 2
    assert all(np.isfinite(history.train_loss))
    record = read_run_record(tmp_path / "record.json")
    assert record["parameters"]["method"] == "dino" and record["metrics"]["final_loss"] == history.train_loss[-1]
    reloaded = load_encoder(tmp_path / "encoder.pt")
    x = torch.randn(3, 20, 10, generator=gen(0))
    doy = torch.arange(20).repeat(3, 1) * 18
    with torch.no_grad():
        assert torch.allclose(reloaded.forward_features(x, doy), encoder.forward_features(x, doy))
    with pytest.raises(ValueError, match="method must be one of"):
        pretrain(toy_cube, "mocov3", config=config)


def linear_probe_accuracy(encoder, train, test) -> float:
    """Overall accuracy of the linear probe of :mod:`sitsbench.evaluation` on the frozen ``encoder``."""
    (train_x, train_y), (test_x, test_y) = embed(encoder, train, device="cpu"), embed(encoder, test, device="cpu")
    return float((probe("linear", (train_x, train_y), test_x) == test_y).mean())


def test_simclr_pretraining_beats_a_random_encoder_in_a_linear_probe(toy_cube):
    # Measured (seeds 0, 1, 2): pretrained 0.665 / 0.655 / 0.74 vs random 0.628 / 0.615 / 0.675.
    seed = 0
    train, test = probe_data(toy_cube, seed)
    config = PretrainConfig(max_pixels=512, temperature=0.2, train=replace(PRETRAINING, epochs=8, batch_size=128, seed=seed, progress=False))
    encoder, history = pretrain(toy_cube, "simclr", "transformer_tiny", config)
    assert history.train_loss[-1] < 0.85 * history.train_loss[0]
    seed_everything(seed)
    random_encoder = create_model("transformer_tiny", toy_cube.sizes["band"], 0).eval()
    pretrained_accuracy, random_accuracy = (linear_probe_accuracy(model, train, test) for model in (encoder,
                                                                                                    random_encoder))
    assert pretrained_accuracy >= random_accuracy + 0.02, (pretrained_accuracy, random_accuracy)


@pytest.mark.parametrize("backbone, kwargs", [("tempcnn_tiny", {"seq_len": 20}), ("ltae_small", {}), ("gru_small", {})])
def test_any_registered_series_encoder_can_be_pretrained(toy_cube, backbone, kwargs):
    config = PretrainConfig(max_pixels=256, backbone_kwargs=kwargs, train=replace(PRETRAINING, epochs=3, batch_size=64, progress=False))
    encoder, history = pretrain(toy_cube, "simclr", backbone, config)
    assert encoder.model_name == backbone and not encoder.training
    assert history.train_loss[-1] < history.train_loss[0]  # the contrastive task is being learned, whatever the backbone
    x, doy = torch.randn(2, 20, 10, generator=gen(1)), torch.arange(20).repeat(2, 1) * 18
    mask = torch.ones(2, 20, dtype=torch.bool)
    assert encoder.forward_features(x, doy=doy, mask=mask).shape == (2, encoder.num_features)


# --- DINO options of the reference implementation (off by default; measured in benchmarks/bench_dino_ablation.py) ---


def test_fixed_gain_stays_one_while_the_prototypes_learn():
    from sitsbench.ssl.heads import DINOHead

    head = DINOHead(8, hidden_dim=16, bottleneck_dim=4, out_dim=12, norm_last_layer=True)
    gain = head.prototypes.parametrizations.weight.original0
    direction = head.prototypes.parametrizations.weight.original1
    before = direction.detach().clone()
    optimizer = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=0.5)
    head(torch.randn(6, 8, generator=gen(0))).square().sum().backward()
    optimizer.step()
    assert not gain.requires_grad and torch.equal(gain, torch.ones_like(gain))
    assert not torch.equal(direction, before)
    weight = head.prototypes.weight
    np.testing.assert_allclose(weight.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)  # logits are cosines
    trained = DINOHead(8, hidden_dim=16, bottleneck_dim=4, out_dim=12, norm_last_layer=False)
    assert trained.prototypes.parametrizations.weight.original0.requires_grad


def test_teacher_temperature_warms_up_linearly_then_stays():
    from sitsbench.ssl.losses import teacher_temperature

    assert teacher_temperature(0.0, 0.07, 0.04, 0.3) == pytest.approx(0.04)
    assert teacher_temperature(0.15, 0.07, 0.04, 0.3) == pytest.approx(0.055)
    assert teacher_temperature(0.3, 0.07, 0.04, 0.3) == teacher_temperature(0.9, 0.07, 0.04, 0.3) == 0.07
    assert teacher_temperature(0.0, 0.04, None, 0.3) == 0.04
    encoder = create_model("transformer_tiny", 4, 0)
    dino = DINO(encoder, out_dim=32, teacher_temp=0.07, teacher_temp_start=0.04, teacher_warmup=0.5)
    assert dino.criterion.teacher_temp == pytest.approx(0.04)
    dino.step_end(4, 10)  # after the 5th of 10 steps: half of the training, the end of the warm-up
    assert dino.criterion.teacher_temp == pytest.approx(0.07)


def test_teacher_mode_and_teacher_entropy():
    encoder = create_model("transformer_tiny", 4, 0)
    with pytest.raises(ValueError, match="teacher_mode"):
        DINO(encoder, teacher_mode="student")
    for mode, expected in (("eval", False), ("train", True)):
        dino = DINO(create_model("transformer_tiny", 4, 0), out_dim=32, teacher_mode=mode).train()
        assert dino.teacher.training is expected and dino.teacher_head.training is expected
        dino.loss(series_views())
        entropy = dino.criterion.teacher_entropy
        assert len(entropy) == 1 and 0.0 <= entropy[0] <= math.log(32) + 1e-6
        assert dino.monitors() == {"teacher_entropy": entropy[0]} and dino.monitors() == {}  # read, then forgotten


def test_warmup_cosine_schedule_of_the_training_loop():
    from sitsbench.training.engine import TrainConfig, _schedule_step, cosine_schedule

    assert cosine_schedule(1.0, 0.0, 0, 100, 10) == 0.0
    assert cosine_schedule(1.0, 0.0, 5, 100, 10) == pytest.approx(0.5)
    assert cosine_schedule(1.0, 0.1, 10, 100, 10) == pytest.approx(1.0)
    assert cosine_schedule(1.0, 0.1, 100, 100, 10) == pytest.approx(0.1)
    values = [cosine_schedule(1.0, 0.1, s, 100, 10) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    weights = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.AdamW([{"params": weights[:1], "lr": 1e-3}, {"params": weights[1:], "lr": 1e-4}])
    config = TrainConfig(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=1e-5, weight_decay=0.04,
                         weight_decay_end=0.4)
    _schedule_step(optimizer, [1e-3, 1e-4], config, 10, 100)  # the end of the warm-up: the base rates
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(cosine_schedule(0.04, 0.4, 10, 100))
    _schedule_step(optimizer, [1e-3, 1e-4], config, 99, 100)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(1e-6, rel=0.05)  # min_lr scaled with the group
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def test_dino_defaults_are_the_reference_recipe_and_simclr_keeps_its_own(toy_cube):
    from sitsbench.ssl.pretrain import with_recipe

    dino = DINO(create_model("transformer_tiny", 4, 0), out_dim=32)
    assert dino.teacher_mode == "train" and dino.criterion.teacher_temp == pytest.approx(0.04)
    assert not dino.student_head.prototypes.parametrizations.weight.original0.requires_grad
    config = PretrainConfig()
    assert (with_recipe(config, "dino").train.schedule, with_recipe(config, "dino").train.weight_decay_end) == ("warmup_cosine", 0.4)
    assert with_recipe(config, "simclr").train.weight_decay == SimCLR.recipe["weight_decay"]
    assert with_recipe(config, "simclr").train.schedule == "constant" and with_recipe(config, "simclr").train.weight_decay_end is None
    explicit = with_recipe(PretrainConfig(train=replace(PRETRAINING, schedule="constant", weight_decay=0.01)), "dino")
    assert (explicit.train.schedule, explicit.train.weight_decay, explicit.train.warmup) == ("constant", 0.01, 0.1)
    config = PretrainConfig(max_pixels=128, n_local=2, local_dates=6, train=replace(PRETRAINING, epochs=2, batch_size=64, progress=False))
    _, history = pretrain(toy_cube.drop_vars("class"), "dino", "transformer_tiny", config)
    entropy = history.monitors["teacher_entropy"]
    assert len(entropy) == 2 and all(0.0 < value <= math.log(4 * config.head_dim) + 1e-6 for value in entropy)
    assert all(np.isfinite(history.train_loss))


