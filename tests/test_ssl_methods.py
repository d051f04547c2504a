"""The method interface of :mod:`sitsbench.ssl.methods`: each loss against lightly's implementation (a test-only
dependency), each new method trained on CPU with a falling loss and no collapse, a toy method added with one registry
line, and the date masking of masked-series modelling."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from sitsbench.models import create_model
from sitsbench.runtime import seed_everything
from sitsbench.ssl import METHODS, PRETRAINING, DINOLoss, HideDates, Method, PretrainConfig, pretrain
from sitsbench.ssl.losses import barlow_twins_loss, negative_cosine, nt_xent, vicreg_loss
from sitsbench.ssl.methods import MaskedSeries, encode_view
from sitsbench.ssl.pretrain import SelfSupervised, with_recipe


@pytest.fixture(scope="module")
def lightly_loss():
    """``lightly.loss`` (1.6.0, the reference implementations; a test-only dependency pinned in the dev extra)."""
    return pytest.importorskip("lightly.loss", reason="lightly (test-only reference, pinned in the dev extra) is not "
                               "installed: pip install --no-deps lightly==1.6.0")


def pair(n: int = 12, d: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z1, z1 + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)


# -- the losses against lightly 1.6.0 -------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_equals_lightly(lightly_loss, temperature):
    z1, z2 = pair()
    expected = lightly_loss.NTXentLoss(temperature=temperature)(z1, z2)
    assert float(nt_xent(z1, z2, temperature)) == pytest.approx(float(expected), rel=1e-6)


def test_negative_cosine_equals_lightly(lightly_loss):
    p, z = pair(seed=1)
    assert float(negative_cosine(p, z)) == pytest.approx(float(lightly_loss.NegativeCosineSimilarity()(p, z)),
                                                         rel=1e-6)


@pytest.mark.parametrize("coefficients", [(25.0, 25.0, 1.0), (1.0, 10.0, 0.5)])
def test_vicreg_equals_lightly(lightly_loss, coefficients):
    z1, z2 = pair(n=16, d=9, seed=2)
    sim, std, cov = coefficients
    expected = lightly_loss.VICRegLoss(lambda_param=sim, mu_param=std, nu_param=cov)(z1, z2)
    assert float(vicreg_loss(z1, z2, sim, std, cov)) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("lambd", [5e-3, 0.1])
def test_barlow_twins_equals_lightly(lightly_loss, lambd):
    z1, z2 = pair(n=16, d=9, seed=3)
    expected = lightly_loss.BarlowTwinsLoss(lambda_param=lambd)(z1, z2)
    assert float(barlow_twins_loss(z1, z2, lambd)) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="z1 and z2"):
        barlow_twins_loss(z1, z2[:5])


def test_dino_loss_and_centre_equal_lightly(lightly_loss):
    g = torch.Generator().manual_seed(4)
    student = [torch.randn(5, 11, generator=g, dtype=torch.float64) for _ in range(4)]
    teacher = [torch.randn(5, 11, generator=g, dtype=torch.float64) for _ in range(2)]
    center = 0.1 * torch.randn(11, generator=g, dtype=torch.float64)
    ours = DINOLoss(11, student_temp=0.1, teacher_temp=0.07, teacher_temp_start=None, center_momentum=0.8).double()
    reference = lightly_loss.DINOLoss(output_dim=11, warmup_teacher_temp=0.07, teacher_temp=0.07, student_temp=0.1,
                                      center_momentum=0.8).double()
    ours.center.copy_(center)
    reference.center.copy_(center.view(1, 1, -1))
    assert float(ours(student, teacher)) == pytest.approx(float(reference(teacher, student)), rel=1e-6)
    torch.testing.assert_close(ours.center, reference.center.view(-1), rtol=1e-6, atol=1e-9)  # the same update


# -- every new method trains on a CPU ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method, backbone, fall", [
    ("byol", "ltae_small", 0.3),  # measured -0.006 -> -0.458 in 5 epochs (the negative cosine starts near 0)
    ("vicreg", "ltae_small", 0.05),  # measured 21.0 -> 19.8
    ("barlow", "ltae_small", 0.3),  # measured 155 -> 78
    ("masked", "ltae_small", 0.1),  # measured 0.995 -> 0.828
    ("masked", "transformer_tiny", 0.05),  # measured 1.012 -> 0.932
])
def test_new_methods_learn_without_collapse(toy_cube, method, backbone, fall):
    config = PretrainConfig(max_pixels=256, train=replace(PRETRAINING, epochs=5, batch_size=64, progress=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder, history = pretrain(toy_cube, method, backbone, config)
    loss, monitors = history.train_loss, history.monitors
    assert np.all(np.isfinite(loss)) and not encoder.training
    drop = loss[0] - min(loss[-2:])
    assert drop > fall * abs(loss[0]) if method != "byol" else drop > fall, loss
    # no collapse: the embeddings stay spread and vary along many directions, as at the start
    ranks, stds = monitors["effective_rank"], monitors["embedding_std"]
    assert ranks[-1] > 0.5 * ranks[0] and ranks[-1] > 10, ranks
    assert stds[-1] > 0.9 * stds[0], stds
    assert monitors["mean_cosine"][-1] <= monitors["mean_cosine"][0] + 0.02
    if backbone == "ltae_small":  # the pooled transformer features share a large common component from the start
        assert not [w for w in caught if "collapsed" in str(w.message)]


# -- one interface ------------------------------------------------------------------------------------------------------
class Toy(Method):
    """A toy method: a linear head and VICReg's loss; its own monitor and recipe."""

    recipe = {**Method.recipe, "lr": 5e-4, "weight_decay": 0.0}

    def __init__(self, encoder: nn.Module, out_dim: int = 16):
        super().__init__()
        self.encoder, self.head, self.calls = encoder, nn.Linear(encoder.num_features, out_dim), 0

    def loss(self, views):
        self.check_views(views)
        self.calls += 1
        z1, z2 = (self.head(encode_view(self.encoder, view)) for view in views[:2])
        return vicreg_loss(z1, z2), z1.detach()

    def monitors(self):
        calls, self.calls = self.calls, 0
        return {"toy_batches": float(calls)}


def test_a_new_method_is_one_class_and_one_registry_line(toy_cube, monkeypatch):
    monkeypatch.setitem(METHODS, "toy", Toy)
    config = PretrainConfig(max_pixels=128, method_args={"out_dim": 8}, train=replace(PRETRAINING, epochs=2, batch_size=64, progress=False))
    assert (with_recipe(config, "toy").train.lr, with_recipe(config, "toy").train.weight_decay) == (5e-4, 0.0)  # its recipe
    encoder, history = pretrain(toy_cube, "toy", "ltae_small", config)
    assert history.monitors["toy_batches"] == [2.0, 2.0]  # 128 pixels, batches of 64: its own monitor, per epoch
    assert len(history.monitors["effective_rank"]) == 2  # and the collapse monitors every method gets
    assert encoder.model_name == "ltae_small"
    # the shared objective names no method's state
    source = inspect.getsource(SelfSupervised)
    assert "teacher" not in source and "dino" not in source.lower()


def test_every_registered_method_has_a_recipe_and_builds_from_the_config():
    config = PretrainConfig()
    for name, method in METHODS.items():
        assert issubclass(method, Method)
        filled = with_recipe(config, name)
        assert filled.train.lr is not None and filled.train.schedule is not None and filled.train.weight_decay is not None
        built = method.from_config(create_model("ltae_small", 4, 0), config, 4)
        assert built.n_views >= 1 and isinstance(built.encoder, nn.Module)
        with pytest.raises(ValueError, match=f"method {method.__name__} has no option 'nosuch'"):
            method.from_config(create_model("ltae_small", 4, 0), PretrainConfig(method_args={"nosuch": 1}), 4)
    simclr = METHODS["simclr"].from_config(create_model("ltae_small", 4, 0),
                                           PretrainConfig(temperature=0.1, method_args={"temperature": 0.3}), 4)
    assert simclr.temperature == 0.3  # method_args override the config's fields


# -- masked-series modelling ----------------------------------------------------------------------------------------
def masked_batch(method: MaskedSeries, n: int = 8, t: int = 12, c: int = 4) -> dict[str, torch.Tensor]:
    """``n`` series with about 20 % cloudy dates, and the dates ``method``'s view transform hides."""
    g = torch.Generator().manual_seed(0)
    samples = [{"x": torch.randn(t, c, generator=g), "doy": torch.arange(t) * 20, "mask": torch.rand(t, generator=g) > 0.2}
               for _ in range(n)]
    (hide,) = method.view_transforms()
    samples = [hide(sample, torch.Generator().manual_seed(i)) for i, sample in enumerate(samples)]
    return {key: torch.stack([sample[key] for sample in samples]) for key in samples[0]}


def test_hide_dates_withholds_clear_dates_only_and_leaves_one(monkeypatch):
    hide = HideDates(0.5)
    sample = {"x": torch.randn(40, 3), "doy": torch.arange(40), "mask": torch.arange(40) % 4 != 0}
    out = hide(sample, torch.Generator().manual_seed(0))
    assert not (out["hidden"] & ~sample["mask"]).any()  # only clear dates are withheld
    assert 0.3 < out["hidden"].sum() / sample["mask"].sum() < 0.7
    assert torch.equal(out["x"], sample["x"]) and torch.equal(out["mask"], sample["mask"])  # the method applies it
    assert torch.equal(hide(sample, torch.Generator().manual_seed(0))["hidden"], out["hidden"])  # seeded per item
    single = {**sample, "mask": torch.arange(40) == 7}
    assert not HideDates(0.99)(single, torch.Generator().manual_seed(0))["hidden"].any()  # the one clear date stays
    with pytest.raises(ValueError, match="ratio"):
        HideDates(1.0)
    with pytest.raises(ValueError, match="pixel series"):
        hide({"x": torch.randn(4, 3, 2, 2), "doy": torch.arange(4), "mask": torch.ones(4, 2, 2, dtype=torch.bool)},
             torch.Generator())


def test_masked_series_hides_dates_from_the_encoder_and_scores_only_them(monkeypatch):
    seed_everything(0)
    method = MaskedSeries(create_model("ltae_small", 4, 0, dropout=0.0), 4, mask_ratio=0.5).eval()
    batch = masked_batch(method)
    hidden = batch["hidden"]
    assert hidden.any() and (batch["mask"] & ~hidden).any(dim=1).all()
    loss, embeddings = method.loss([batch])
    assert float(loss.detach()) > 0 and embeddings.shape == (8, method.encoder.num_features)
    # the values of the withheld dates do not reach the encoder: changing them changes only the targets
    changed = {**batch, "x": torch.where(hidden[..., None], batch["x"] + 5.0, batch["x"])}
    torch.testing.assert_close(method.loss([batch])[1], method.loss([changed])[1])
    # the loss is the mean squared error over the withheld clear entries only
    monkeypatch.setattr(method.decoder, "forward", lambda features, like, doy: torch.zeros_like(like))
    assert float(method.loss([batch])[0]) == pytest.approx(float(batch["x"][hidden].pow(2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="hidden"):
        method.loss([{key: value for key, value in batch.items() if key != "hidden"}])
    with pytest.raises(ValueError, match="mask_ratio|ratio"):
        MaskedSeries(create_model("ltae_small", 4, 0), 4, mask_ratio=0.0)
