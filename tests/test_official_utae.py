"""U-TAE against the official utae-paps code (issue 42).

``sitsbench.models.utae.UTAE`` is faithful to ``UTAE`` of utae-paps (Garnot & Landrieu 2021; github.com/VSainteuf/
utae-paps at the commit pinned below, ``src/backbones/utae.py``, ``ltae.py``, ``positional_encoding.py``), semantic
segmentation with the ``att_group`` aggregation. Checks:

* always: a small reference made once by running the official code (the official model at a small configuration,
  every tensor of its state_dict randomised, a fixed input with padded dates, the official outputs in evaluation
  mode, and in training mode with dropout off: outputs and parameter gradients) is committed as
  ``tests/data/official/utae_small.pt``; its state_dict maps one-to-one onto ours and our outputs and gradients equal
  the official ones;
* with the official code available (``$SITSBENCH_OFFICIAL_CODE`` or the sessions' mirror, a checkout
  ``utae-paps/`` or a bare mirror ``VSainteuf+utae-paps/repo``; skipped otherwise): the same at the official default
  configuration (the 143 parameters and buffers, 158 entries with the BatchNorm batch counters, 1,087,260
  parameters at 10 bands and 20 classes), and the committed reference is regenerated and compared.

The official files are written to a temporary ``src/backbones/`` package (never committed) and imported from
there. Regenerate the reference with ``.venv/bin/python tests/test_official_utae.py`` (needs the official code).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
import torch
from official_code import official_file
from torch import nn

from sitsbench.models import create_model, model_entry
from sitsbench.models.utae import UTAE, from_official_state_dict

OFFICIAL_CODE = {"utae": ("VSainteuf/utae-paps", "987874e27a98bb399277f2d55eb010744d26f881")}
OFFICIAL_FILES = ("utae", "ltae", "positional_encoding", "convlstm")
"""``src/backbones/<name>.py`` files the official ``UTAE`` imports."""
REFERENCE = Path(__file__).parent / "data" / "official" / "utae_small.pt"
SMALL = {"input_dim": 4, "encoder_widths": [8, 8, 16], "decoder_widths": [8, 8, 16], "out_conv": [8, 3],
         "n_head": 4, "d_model": 16, "d_k": 4}
"""The committed reference's configuration, as keyword arguments of the official class (other arguments: its
defaults, those of ``train_semantic.py``)."""
SIDE = 8
"""Side of the reference's patches (the smallest the 3 levels of ``SMALL`` take)."""
OFFICIAL_PARAMETERS = 1_087_260
"""Parameters of the official ``UTAE(input_dim=10)`` with ``train_semantic.py``'s defaults (20 classes)."""


def ours(config: dict) -> UTAE:
    """Our model with the official keyword arguments ``config``."""
    official = {"encoder_widths": [64, 64, 64, 128], "decoder_widths": [32, 32, 64, 128], "out_conv": [32, 20],
                "n_head": 16, "d_model": 256, "d_k": 4} | config
    return UTAE(official["input_dim"], official["out_conv"][-1], encoder_widths=official["encoder_widths"],
                decoder_widths=official["decoder_widths"], out_widths=official["out_conv"][:-1],
                num_heads=official["n_head"], d_model=official["d_model"], d_k=official["d_k"])


def _official_source(path: str) -> str | None:
    return official_file(*OFFICIAL_CODE["utae"], path)


def official_module() -> ModuleType | None:
    """utae-paps' ``src.backbones.utae``, imported from a temporary copy (None when the code is not available).
    The ``src`` package is removed from ``sys.modules`` and ``sys.path`` afterwards."""
    sources = {name: _official_source(f"src/backbones/{name}.py") for name in OFFICIAL_FILES}
    if any(text is None for text in sources.values()):
        return None
    folder = Path(tempfile.mkdtemp(prefix="utae_paps_"))
    (folder / "src" / "backbones").mkdir(parents=True)
    (folder / "src" / "__init__.py").write_text("")
    (folder / "src" / "backbones" / "__init__.py").write_text("")
    for name, text in sources.items():
        (folder / "src" / "backbones" / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("src.backbones.utae")
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def official():
    module = official_module()
    if module is None:
        repo, commit = OFFICIAL_CODE["utae"]
        pytest.skip(f"official {repo}@{commit[:7]} not available: set SITSBENCH_OFFICIAL_CODE to a folder with a "
                    f"checkout {repo.split('/')[1]}/ or a bare mirror {repo.replace('/', '+')}/repo")
    return module


def randomise(model: nn.Module, seed: int) -> None:
    """Every tensor of ``model``'s state_dict moved off its initial value (norm scales and shifts, BatchNorm
    running statistics included), so that a wrong mapping cannot go unnoticed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:  # noise at the scale of the initial values (0.2 for constant ones: norm scales and shifts)
                spread = tensor.std().item() if tensor.numel() > 1 and tensor.std() > 0 else 1.0
                tensor.add_(0.2 * spread * torch.randn(tensor.shape, generator=generator))


def inputs(channels: int, side: int, seed: int) -> dict[str, torch.Tensor]:
    """Two series of 5 dates, the second with a padded date in the middle: ``x`` ``(2, 5, C, side, side)``, the
    ``days`` since the reference date (0 for padded dates, as the official collate pads them) and our clear
    ``mask`` (all False on padded dates, about 70 % clear elsewhere: partly cloudy dates)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, channels, side, side, generator=generator)
    days = torch.sort(torch.randint(0, 430, (2, 5), generator=generator), dim=1).values
    mask = torch.rand(2, 5, side, side, generator=generator) > 0.3
    x[1, 2], days[1, 2], mask[1, 2] = 0.0, 0, False
    return {"x": x, "days": days, "mask": mask}


def padded(data: dict[str, torch.Tensor], dates: int = 2) -> dict[str, torch.Tensor]:
    """``data`` with ``dates`` padded dates appended (zeros, day 0, nothing clear)."""
    return {key: torch.cat([value, value.new_zeros(value.shape[0], dates, *value.shape[2:])], dim=1)
            for key, value in data.items()}


def _no_dropout(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def official_outputs(module: ModuleType, config: dict, seed: int, side: int) -> dict:
    """Run the official model built with ``config`` (randomised with ``seed``) on :func:`inputs`: logits in
    evaluation mode on both inputs, and in training mode (dropout off) on the padded one with the gradients of
    ``(logits * weights).mean()``."""
    torch.manual_seed(seed)
    model = module.UTAE(**config)
    randomise(model, seed)
    data = inputs(config["input_dim"], side, seed)
    longer = padded(data)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        logits = model(data["x"], batch_positions=data["days"].float())
        logits_padded = model(longer["x"], batch_positions=longer["days"].float())
    _no_dropout(model).train()
    train_logits = model(longer["x"], batch_positions=longer["days"].float())
    weights = torch.randn(train_logits.shape, generator=torch.Generator().manual_seed(seed))
    (train_logits * weights).mean().backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters()}
    return {"config": config, "commit": OFFICIAL_CODE["utae"][1], "state_dict": state, **data, "logits": logits,
            "logits_padded": logits_padded, "train_logits": train_logits.detach(), "weights": weights,
            "gradients": gradients}


def check_against(reference: dict) -> None:
    """Our model, loaded with the reference's official state_dict, reproduces its outputs and gradients."""
    model = ours(reference["config"])
    mapped = from_official_state_dict(reference["state_dict"])
    assert len(mapped) == len(reference["state_dict"]) == len(model.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(mapped)
    model.eval()
    longer = padded({key: reference[key] for key in ("x", "days", "mask")})
    with torch.no_grad():
        torch.testing.assert_close(model(reference["x"], reference["days"], reference["mask"]), reference["logits"],
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(model(longer["x"], longer["days"], longer["mask"]), reference["logits_padded"],
                                   rtol=0, atol=1e-5)
    _no_dropout(model).train()
    train_logits = model(longer["x"], longer["days"], longer["mask"])
    torch.testing.assert_close(train_logits, reference["train_logits"], rtol=0, atol=1e-5)
    (train_logits * reference["weights"]).mean().backward()
    ours_by_name = dict(model.named_parameters())
    for name, gradient in from_official_state_dict(reference["gradients"]).items():
        torch.testing.assert_close(ours_by_name[name].grad, gradient, rtol=0, atol=1e-5, msg=name)


# --- always: the committed reference ------------------------------------------------------------------


def test_committed_reference_is_reproduced():
    reference = torch.load(REFERENCE, weights_only=True)
    assert reference["commit"] == OFFICIAL_CODE["utae"][1]
    # the reference holds padded dates, and appending two of them moves the official logits a little
    assert not reference["mask"][1, 2].any() and reference["mask"].flatten(2).any(dim=2).sum() == 9
    assert (reference["logits_padded"] - reference["logits"]).abs().max() > 1e-3
    check_against(reference)


def test_default_configuration_has_the_official_size():
    model = create_model("utae", in_channels=10, num_classes=20)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    assert model_entry("utae").date_encoding == "days"
    assert model.num_features == 32 and model.head[0].kernel_size == (3, 3)


def test_padded_dates_count_only_in_the_input_norm_of_the_temporal_encoder():
    """Fully masked dates (padding) are skipped by the encoder, get no attention and no weight in the skip
    connections: appended, they change the logits only through the statistics of L-TAE's input GroupNorm (as in
    the official code, whose logits the committed reference shows moving). Without that norm the change is nil;
    counted as observations (no mask), the appended dates change the logits a lot."""
    torch.manual_seed(0)
    model = create_model("utae_small", in_channels=4, num_classes=3)
    randomise(model, 0)
    model.temporal.in_norm = nn.Identity()
    model.eval()
    data = inputs(4, 8, seed=1)
    longer = padded(data)
    with torch.no_grad():
        short = model(data["x"], data["days"], data["mask"])
        appended = model(longer["x"], longer["days"], longer["mask"])
        unmasked = model(longer["x"], longer["days"])
    assert (appended - short).abs().max() < 1e-5
    assert (unmasked - short).abs().max() > 1e-2


def test_partly_cloudy_dates_are_used_whole():
    """Only a date with no clear pixel is left out: the mask of a date with a clear pixel does not matter."""
    torch.manual_seed(0)
    model = create_model("utae_tiny", in_channels=4, num_classes=3).eval()
    data = inputs(4, 8, seed=2)
    cloudier = data["mask"] & (torch.rand(data["mask"].shape) > 0.5)
    cloudier[..., 0, 0] |= data["mask"].flatten(2).any(dim=2)  # every date keeps a clear pixel
    with torch.no_grad():
        torch.testing.assert_close(model(data["x"], data["days"], cloudier), model(data["x"], data["days"], data["mask"]))


def test_dates_a_year_apart_are_told_apart():
    """Positions count days since a reference date: a series observed a year later is encoded differently
    (with days of year both would read the same)."""
    torch.manual_seed(0)
    model = create_model("utae_tiny", in_channels=4, num_classes=3).eval()
    data = inputs(4, 8, seed=3)
    with torch.no_grad():
        first = model(data["x"], data["days"], data["mask"])
        next_year = model(data["x"], data["days"] + 365, data["mask"])
    assert (first - next_year).abs().max() > 1e-3


# --- with the official code ----------------------------------------------------------------------------


def test_official_default_configuration(official):
    torch.manual_seed(0)
    model = official.UTAE(input_dim=10)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    assert len([k for k in model.state_dict() if not k.endswith("num_batches_tracked")]) == 143
    randomise(model, 0)
    mine = create_model("utae", in_channels=10, num_classes=20)
    mapped = from_official_state_dict(model.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in mine.state_dict().items()}
    mine.load_state_dict(mapped)
    model.eval()
    mine.eval()
    data = inputs(10, 16, seed=4)
    with torch.no_grad():
        for batch in (data, padded(data)):
            torch.testing.assert_close(mine(batch["x"], batch["days"], batch["mask"]),
                                       model(batch["x"], batch_positions=batch["days"].float()), rtol=0, atol=1e-5)


def test_committed_reference_regenerates(official):
    regenerated = official_outputs(official, SMALL, seed=0, side=SIDE)
    reference = torch.load(REFERENCE, weights_only=True)
    for key in ("logits", "logits_padded", "train_logits"):
        torch.testing.assert_close(regenerated[key], reference[key], rtol=0, atol=1e-5)
    check_against(regenerated)


if __name__ == "__main__":
    module = official_module()
    if module is None:
        sys.exit(f"the official code ({OFFICIAL_CODE['utae'][0]}) is not available; see the module docstring")
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(official_outputs(module, SMALL, seed=0, side=SIDE), REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size / 1024:.0f} KiB)")
