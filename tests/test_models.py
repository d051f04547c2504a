"""Model registry, the shared encoder interface, and behaviour of every registered baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.models import SITSClassifier, create_model, list_models, register_model
from sitsbench.models.random_forest import RandomForestBaseline, dataset_arrays
from sitsbench.models.registry import INPUT_KINDS, ROLES, model_entry
from sitsbench.models.utae import aggregate

N_TIME, N_CHANNELS, N_CLASSES, N_PIXELS, PATCH = 36, 4, 3, 6, 8
KNOWN_KINDS = ("series", "pixelset", "patch")


LARGE_PATCH = {"utae": 16}
"""Entries that need patches larger than ``PATCH`` (U-TAE's 4 levels and reflect padding: 16 pixels)."""


def _batch(kind: str, batch: int = 6, seed: int = 0, side: int = PATCH) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = {"series": (), "pixelset": (N_PIXELS,), "patch": (side, side)}[kind]
    x = torch.randn(batch, N_TIME, N_CHANNELS, *shape, generator=generator)
    doy = torch.sort(torch.randint(1, 365, (batch, N_TIME), generator=generator), dim=1).values
    mask_shape = (batch, N_TIME, side, side) if kind == "patch" else (batch, N_TIME)
    mask = torch.rand(mask_shape, generator=generator) > 0.3
    if kind == "patch":  # a learnable per-pixel rule: the channel with the highest mean over time
        y = x[:, :, :N_CLASSES].mean(dim=1).argmax(dim=1)
    else:  # random labels: a tiny batch must be memorised
        y = torch.randint(0, N_CLASSES, (batch,), generator=generator)
    return {"x": x, "doy": doy, "mask": mask, "y": y}


SEQ_LEN_BOUND = ("ltae", "pseltae")
"""Entries whose official default is built for one series length (the L-TAE's 24 dates): given ``seq_len=36``, the
length of the examples."""


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    kwargs = {"seq_len": N_TIME} if name in SEQ_LEN_BOUND else {}
    return create_model(name, in_channels=N_CHANNELS, num_classes=N_CLASSES, **kwargs)


TEMPORAL_CLASSIFIERS = [name for name in list_models(role="classifier") if model_entry(name).input_kind in KNOWN_KINDS]
"""Classifiers of series, pixel sets and patches: the behaviour tests below (plane classifiers: test_planes.py)."""


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_honours_its_entry(name):
    """The contract of the registry, for every entry: the model reads the entry's example input, returns what its
    role promises with ``num_features`` wide features, and every weight it uses is trained by a backward pass."""
    entry = model_entry(name)
    assert entry.role in ROLES and entry.input_kind in INPUT_KINDS
    model = _model(name)
    example = entry.example_input(in_channels=N_CHANNELS, batch=2)
    assert model.model_name == name and model.input_kind == entry.input_kind
    assert isinstance(model.num_features, int) and model.num_features > 0
    spatial = tuple(example["x"].shape[-2:]) if entry.input_kind == "patch" else ()
    if entry.role == "classifier":
        assert isinstance(model, SITSClassifier)
        features = model.forward_features(**example)
        logits = model(**example)
        assert features.shape == (2, model.num_features, *spatial)
        assert logits.shape == (2, N_CLASSES, *spatial)
        loss = logits.square().mean()
    else:
        assert isinstance(model, SITSAutoEncoder)
        assert model.encode(**example).shape == (2, model.num_features, *spatial)
        output = model(**example)
        rebuilt = output if isinstance(output, tuple) else (output,)
        targets = (example["x"], example["x_s1"]) if entry.input_kind == "multisensor" else (example["x"],)
        assert [r.shape for r in rebuilt] == [t.shape for t in targets]
        loss = sum((r - t).square().mean() for r, t in zip(rebuilt, targets))
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    if "doy" in example:  # the registry's date encoding, checked both ways
        model.eval()
        shifted = {**example, "doy": example["doy"] + 40}
        with torch.no_grad():
            moved = not torch.allclose(*(torch.cat([out.flatten() for out in (o if isinstance(o, tuple) else (o,))])
                                         for o in (model(**example), model(**shifted))))
        assert moved == (entry.date_encoding != "position"), (
            f"{name} is registered with date_encoding={entry.date_encoding!r} but its output "
            f"{'changes' if moved else 'does not change'} when the dates move")


def test_registry_lists_filters_and_suggests():
    names = list_models()
    assert names == sorted(names)
    for expected in ("tempcnn", "tempcnn_small", "lstm", "gru_small", "transformer", "transformer_small", "ltae", "psetae",
                     "utae_small"):
        assert expected in names
    assert list_models("tempcnn*") == ["tempcnn", "tempcnn_small", "tempcnn_tiny"]
    with pytest.raises(KeyError, match="tempcnn"):
        create_model("tempcnnn", in_channels=4, num_classes=3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("ltae")(lambda in_channels, num_classes: nn.Identity())


def test_create_model_records_name_and_kwargs():
    model = create_model("tempcnn_tiny", in_channels=4, num_classes=3, seq_len=12)
    assert model.model_name == "tempcnn_tiny"
    assert model.model_kwargs == {"in_channels": 4, "num_classes": 3, "seq_len": 12}
    assert model_entry("tempcnn_tiny").input_kind == "series"
    model.reset_classifier(5)
    assert model.model_kwargs["num_classes"] == 5


@pytest.mark.parametrize("name", TEMPORAL_CLASSIFIERS)
def test_forward_backward_shapes_and_gradients(name):
    model = _model(name)
    side = LARGE_PATCH.get(name, PATCH)
    batch = _batch(model.input_kind, side=side)
    logits = model(batch["x"], doy=batch["doy"], mask=batch["mask"])
    features = model.forward_features(batch["x"], doy=batch["doy"], mask=batch["mask"])
    n = batch["x"].shape[0]
    if model.input_kind == "patch":
        assert logits.shape == (n, N_CLASSES, side, side)
        assert features.shape == (n, model.num_features, side, side)
    else:
        assert logits.shape == (n, N_CLASSES)
        assert features.shape == (n, model.num_features)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, batch["y"]).backward()
    for pname, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name}: {pname} gets no gradient"
        assert torch.isfinite(parameter.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
    # doy and mask are optional
    assert model(batch["x"]).shape == logits.shape


@pytest.mark.parametrize("name", TEMPORAL_CLASSIFIERS)
def test_reset_classifier(name):
    model = _model(name).eval()
    batch = _batch(model.input_kind, side=LARGE_PATCH.get(name, PATCH))
    features = model.forward_features(batch["x"], batch["doy"])
    model.reset_classifier(7)
    assert model(batch["x"], batch["doy"]).shape[1] == 7
    model.reset_classifier(0)
    torch.testing.assert_close(model(batch["x"], batch["doy"]), features)


@pytest.mark.parametrize("name", [name for name in TEMPORAL_CLASSIFIERS if name not in LARGE_PATCH])
def test_overfits_a_tiny_batch(name):
    """(``utae``, 1.1 M parameters on 16 x 16 patches, would take minutes: its training step is checked against
    the official code in test_official_utae.py.)"""
    model = _model(name)
    batch = _batch(model.input_kind, batch=8, seed=1)
    # the post-norm layers of the BreizhCrops transformer (trained there at lr 1.7e-4) stall at 5e-3 without warm-up
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3 if name == "transformer" else 5e-3)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(nn.functional.cross_entropy(model(batch["x"], batch["doy"]), batch["y"]))

    before = eval_loss()
    for _ in range(100):
        model.train()
        loss = nn.functional.cross_entropy(model(batch["x"], batch["doy"]), batch["y"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = eval_loss()
    assert after < before / 5, f"{name}: loss {before:.3f} -> {after:.3f}"


@pytest.mark.parametrize("name", ["ltae_small", "transformer_small", "psetae", "psetae_small"])
def test_masked_dates_are_ignored_when_use_mask(name):
    torch.manual_seed(0)
    model = create_model(name, in_channels=N_CHANNELS, num_classes=N_CLASSES, use_mask=True).eval()
    batch = _batch(model.input_kind)
    altered = batch["x"].clone()
    altered[~batch["mask"]] += 10 * torch.randn_like(altered[~batch["mask"]])
    with torch.no_grad():
        reference = model(batch["x"], batch["doy"], batch["mask"])
        torch.testing.assert_close(model(altered, batch["doy"], batch["mask"]), reference)
        assert not torch.allclose(model(altered, batch["doy"]), reference)  # without the mask they matter


@pytest.mark.parametrize("name", ["ltae_small", "transformer_small"])
def test_day_of_year_changes_the_output(name):
    model = _model(name).eval()
    batch = _batch("series")
    with torch.no_grad():
        assert not torch.allclose(model(batch["x"], batch["doy"]), model(batch["x"], batch["doy"] + 40))


def test_ltae_attention_is_a_distribution_over_dates():
    model = _model("ltae_small").eval()
    batch = _batch("series")
    attention = model.attention(batch["x"], batch["doy"])
    assert attention.shape == (6, model.encoder.num_heads, N_TIME)
    torch.testing.assert_close(attention.sum(-1), torch.ones(6, model.encoder.num_heads))


def test_pixel_set_encoder_ignores_pixel_order():
    model = _model("psetae").eval()
    batch = _batch("pixelset")
    shuffled = batch["x"][..., torch.randperm(N_PIXELS)]
    with torch.no_grad():
        torch.testing.assert_close(model(shuffled, batch["doy"]), model(batch["x"], batch["doy"]))


def test_tempcnn_rejects_a_series_of_another_length():
    model = _model("tempcnn_tiny")
    with pytest.raises(ValueError, match="36 dates"):
        model(torch.randn(2, N_TIME - 1, N_CHANNELS))


def test_utae_aggregate_uses_one_head_per_channel_group():
    features = torch.randn(2, 5, 8, 4, 4)  # (B, T, D, H, W), 2 heads -> 2 groups of 4 channels
    attention = torch.zeros(2, 2, 5, 2, 2)
    attention[:, 0, 1] = 1.0  # head 0 looks at date 1
    attention[:, 1] = 0.2  # head 1 averages the dates
    out = aggregate(features, attention)
    torch.testing.assert_close(out[:, :4], features[:, 1, :4])
    torch.testing.assert_close(out[:, 4:], features[:, :, 4:].mean(dim=1))


def test_random_forest_learns_and_reports_every_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)  # class 3 of 4 never seen
    x = rng.normal(size=(300, 5, 2)) + 2 * y[:, None, None]
    forest = RandomForestBaseline(num_classes=4, n_estimators=30, seed=0).fit(x[:200], y[:200])
    proba = forest.predict_proba(x[200:])
    assert proba.shape == (100, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 3] == 0).all()
    assert (forest.predict(x[200:]) == y[200:]).mean() > 0.9
    assert forest.feature_importance(5, 2).shape == (5, 2)


def test_dataset_arrays_from_items():
    items = [{"x": torch.full((3, 2), float(i)), "y": torch.tensor(i % 2)} for i in range(4)]
    x, y = dataset_arrays(items)
    assert x.shape == (4, 3, 2) and x[3, 0, 0] == 3.0
    np.testing.assert_array_equal(y, [0, 1, 0, 1])


def test_models_built_for_a_fixed_number_of_dates_are_flagged_and_built_for_the_data():
    """``fixed_length`` entries take ``seq_len`` from the data (``length_options``): built for 20 dates they read
    20 dates; the other series models read any number of dates without it."""
    from sitsbench.models import length_options

    fixed = [name for name in list_models(input_kind="series", role="classifier") if model_entry(name).fixed_length]
    assert {"tempcnn", "tempcnn_small", "tempcnn_tiny", "ltae"} <= set(fixed)
    x = torch.randn(2, 20, 4)
    for name in list_models(input_kind="series", role="classifier"):
        options = length_options(name, 20)
        assert (options == {"seq_len": 20}) == (name in fixed)
        model = create_model(name, in_channels=4, num_classes=3, **options).eval()
        with torch.no_grad():
            assert model(x).shape == (2, 3)


@pytest.mark.parametrize("name", ["rf", *list_models(role="classifier", input_kind="series")])
def test_the_commands_feed_each_model_the_dates_its_encoding_reads(name):
    """The date policy that ``sitsbench train`` picks for a registry entry feeds the model what its ``date_encoding``
    says it reads: the days of year of the series' own dates (``doy``), the days since its season start (``days``),
    or, for models that read positions, series resampled on the reference dates (whose count must then not
    change). A season across the new year tells the three apart."""
    from sitsbench.data.timeops import day_of_year
    from sitsbench.inference.dates import DateReference, plan_dates
    from sitsbench.training.map_training import MapTrainingConfig, _check_model

    policy = _check_model(MapTrainingConfig(model=name))
    encoding = "position" if name == "rf" else model_entry(name).date_encoding
    train_dates = np.arange("2020-10-01", "2021-06-01", 20, dtype="datetime64[D]")
    reference = DateReference.from_dates(train_dates[None, :])
    new_dates = np.arange("2021-10-05", "2022-06-01", 15, dtype="datetime64[D]")  # another year, other dates
    plan = plan_dates(new_dates, reference, policy)
    if encoding == "doy":
        np.testing.assert_array_equal(plan.doy, day_of_year(new_dates))
    elif encoding == "days":
        np.testing.assert_array_equal(plan.doy, (new_dates - reference.season_start(new_dates[0])).astype(np.int64))
        assert (np.diff(plan.doy) > 0).all()
    else:
        assert plan.doy.size == train_dates.size and plan.target_days.size == train_dates.size
