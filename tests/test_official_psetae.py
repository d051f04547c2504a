"""PSE-TAE (with TAE), PSE + L-TAE and the pixel L-TAE against the authors' code (issue 42).

Official code: ``VSainteuf/pytorch-psetae`` (``models/pse.py``, ``tae.py``, ``decoder.py``, ``stclassifier.py``
``PseTae``) and ``VSainteuf/lightweight-temporal-attention-pytorch`` (``models/ltae.py``, ``stclassifier.py``
``PseLTae``), at the commits pinned below. The pixel L-TAE is the official ``LTAE`` followed by the official
decoder (``get_decoder``), as ``PseLTae`` uses them, on pixel series. Two checks:

* always: a small reference made once by running the official code (official models at small configurations,
  every learned tensor of their state_dict randomised, fixed inputs with padded pixels and extra features, the
  official outputs in eval mode) is committed as ``tests/data/official/psetae_ltae_reference.pt``: its
  state_dict maps one-to-one onto ours, our outputs equal the official ones to 1e-5;
* with the official code (``$SITSBENCH_OFFICIAL_CODE``: a folder with a checkout ``<name>/`` or a bare mirror
  ``<owner>+<name>/repo`` of each repository, or the sessions' mirror folder; skipped otherwise): the same at the
  official default configurations (whose parameter counts equal ours), and the committed reference is remade
  and compared.

The official modules are written to a temporary folder and imported from there (never copied into the
repository). Regenerate the reference with ``.venv/bin/python tests/test_official_psetae.py`` (needs the code).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from official_code import official_file
from torch import nn

from sitsbench.models import create_model
from sitsbench.models.layers import doy_encoding
from sitsbench.models.ltae import LTAEClassifier, official_decoder_names, official_ltae_names
from sitsbench.models.psetae import PSETAE, PixelSetEncoder, official_psetae_names

OFFICIAL_CODE = {
    "psetae": ("VSainteuf/pytorch-psetae", "fbd8ca3b5f6ebce6c53bfd1a0c25925dc2d7de52"),
    "ltae": ("VSainteuf/lightweight-temporal-attention-pytorch", "d8f99bd5bc9746d2df25351f0fe156b36af35c11"),
}
OFFICIAL_FILES = {"psetae": ("pse", "tae", "decoder", "stclassifier"),
                  "ltae": ("pse", "tae", "ltae", "decoder", "competings", "stclassifier")}
REFERENCE = Path(__file__).parent / "data" / "official" / "psetae_ltae_reference.pt"
ATOL = 1e-5

DAYS = [0, 12, 35, 61, 93, 130]
"""Positions of the fixed inputs: days since the first date, as the official ``positions="bespoke"`` gives them."""

# Official configurations (keyword arguments of the official classes). Defaults: the train.py defaults of each
# repository (10 bands, 20 classes, 4 geometric features, 24 dates); small: the committed reference.
DEFAULT = {
    "psetae": {"input_dim": 10, "mlp1": [10, 32, 64], "mlp2": [132, 128], "with_extra": True, "extra_size": 4,
               "n_head": 4, "d_k": 32, "mlp3": [512, 128, 128], "dropout": 0.2, "T": 1000, "len_max_seq": 24,
               "mlp4": [128, 64, 32, 20]},
    "pseltae": {"input_dim": 10, "mlp1": [10, 32, 64], "mlp2": [132, 128], "with_extra": True, "extra_size": 4,
                "n_head": 16, "d_k": 8, "d_model": 256, "mlp3": [256, 128], "dropout": 0.2, "T": 1000,
                "len_max_seq": 24, "mlp4": [128, 64, 32, 20]},
    "ltae": {"in_channels": 10, "n_head": 16, "d_k": 8, "d_model": 256, "n_neurons": [256, 128], "dropout": 0.2,
             "T": 1000, "len_max_seq": 24, "mlp4": [128, 64, 32, 20]},
}
SMALL = {
    "psetae": {"input_dim": 4, "mlp1": [4, 8, 16], "mlp2": [36, 24, 16], "with_extra": True, "extra_size": 4,
               "n_head": 2, "d_k": 4, "mlp3": [32, 24, 16], "dropout": 0.2, "T": 1000, "len_max_seq": len(DAYS),
               "mlp4": [16, 8, 3]},
    "pseltae": {"input_dim": 4, "mlp1": [4, 8, 16], "mlp2": [32, 16], "with_extra": False, "extra_size": None,
                "n_head": 4, "d_k": 4, "d_model": 32, "mlp3": [32, 24, 16], "dropout": 0.2, "T": 1000,
                "len_max_seq": len(DAYS), "mlp4": [16, 8, 3]},
    "ltae": {"in_channels": 4, "n_head": 2, "d_k": 4, "d_model": None, "n_neurons": [4, 8], "dropout": 0.2,
             "T": 1000, "len_max_seq": len(DAYS), "mlp4": [8, 3]},
}
OFFICIAL_PARAMETERS = {"psetae": 164_116, "pseltae": 143_124, "ltae": 92_744}
"""Trainable parameters of the official models at the defaults (``param_ratio`` of PseTae and PseLTae; the pixel
L-TAE: ``LTAE(in_channels=10)`` + ``get_decoder([128, 64, 32, 20])``)."""


def ours(name: str, config: dict) -> nn.Module:
    """Our registered model for an official configuration."""
    if name == "ltae":
        kwargs = {"d_model": config["d_model"], "num_heads": config["n_head"], "d_k": config["d_k"],
                  "hidden": tuple(config["n_neurons"][1:-1]), "out_dim": config["n_neurons"][-1],
                  "dropout": config["dropout"], "period": float(config["T"]),
                  "seq_len": None if config["d_model"] is None else config["len_max_seq"],
                  "decoder": tuple(config["mlp4"][1:-1])}
        return create_model("ltae", in_channels=config["in_channels"], num_classes=config["mlp4"][-1], **kwargs)
    kwargs = {"mlp1": tuple(config["mlp1"][1:]), "mlp2": tuple(config["mlp2"][1:]),
              "extra_size": config["extra_size"] if config["with_extra"] else 0, "num_heads": config["n_head"],
              "d_k": config["d_k"], "hidden": tuple(config["mlp3"][1:-1]), "dropout": config["dropout"],
              "period": float(config["T"]), "decoder": tuple(config["mlp4"][1:-1])}
    if name == "pseltae":
        kwargs |= {"d_model": config["d_model"], "out_dim": config["mlp3"][-1],
                   "seq_len": None if config["d_model"] is None else config["len_max_seq"]}
    return create_model(name, in_channels=config["input_dim"], num_classes=config["mlp4"][-1], **kwargs)


def to_sitsbench(name: str, official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official state_dict under our names (every tensor but the fixed positional table)."""
    if name == "ltae":
        return {**official_ltae_names(official, "temporal_encoder.", "encoder."), **official_decoder_names(official)}
    return official_psetae_names(official)


def n_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fixed_inputs(name: str, config: dict, seed: int, n_dates: int = len(DAYS), batch: int = 3) -> dict:
    """Inputs of the official forward: pixel sets with a pixel mask (parcels of 5, 2 and 1 real pixels among 5,
    the padding a copy of the first pixel as the official loader pads) and, with extra features, a
    ``(B, T, E)`` tensor; series ``(B, T, C)`` for the pixel L-TAE."""
    generator = torch.Generator().manual_seed(seed)
    channels = config["in_channels"] if name == "ltae" else config["input_dim"]
    if name == "ltae":
        return {"x": torch.randn(batch, n_dates, channels, generator=generator)}
    n_pixels = 5
    x = torch.randn(batch, n_dates, channels, n_pixels, generator=generator)
    real = torch.tensor([5, 2, 1])[:batch]
    pixel_mask = (torch.arange(n_pixels)[None] < real[:, None]).float()
    x = torch.where(pixel_mask[:, None, None].bool(), x, x[..., :1])
    inputs = {"x": x, "pixel_mask": pixel_mask[:, None].expand(batch, n_dates, n_pixels).contiguous()}
    if config["with_extra"]:
        extra = torch.randn(batch, 1, config["extra_size"], generator=generator)
        inputs["extra"] = extra.expand(batch, n_dates, -1).contiguous()
    return inputs


def official_forward(name: str, model: nn.Module, inputs: dict) -> torch.Tensor:
    if name == "ltae":
        return model.decoder(model.temporal_encoder(inputs["x"]))
    data = (inputs["x"], inputs["pixel_mask"])
    return model((data, inputs["extra"]) if "extra" in inputs else data)


def our_forward(model: nn.Module, inputs: dict, days: list[int]) -> torch.Tensor:
    doy = torch.tensor(days).expand(inputs["x"].shape[0], -1)
    if isinstance(model, PSETAE):
        extra = inputs.get("extra")
        return model(inputs["x"], doy, pixel_mask=inputs["pixel_mask"], extra=extra)
    return model(inputs["x"], doy)


def check_against(name: str, state: dict[str, torch.Tensor], config: dict, inputs: dict, expected: torch.Tensor,
                  days: list[int]) -> None:
    """The official ``state`` maps one-to-one onto our model (same names after renaming, same shapes; the fixed
    positional table equals our encoding of ``days``) and our eval-mode output equals ``expected``."""
    model = ours(name, config)
    mapped = to_sitsbench(name, state)
    ours_state = model.state_dict()
    assert sorted(mapped) == sorted(ours_state)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in ours_state.items()}
    assert len(mapped) == len(state) - 1  # every official tensor but the positional table
    table = state["temporal_encoder.position_enc.weight"]
    heads = config["n_head"] if name != "psetae" else 1
    width = table.shape[1] // heads
    encoding = doy_encoding(torch.tensor(days), width, float(config["T"])).repeat(1, heads)
    torch.testing.assert_close(encoding, table, atol=1e-6, rtol=0)
    model.load_state_dict(mapped)
    with torch.no_grad():
        output = our_forward(model.eval(), inputs, days)
    torch.testing.assert_close(output, expected, atol=ATOL, rtol=0)


# --- the committed reference (always runs) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(REFERENCE, weights_only=True)


@pytest.mark.parametrize("name", ["psetae", "pseltae", "ltae"])
def test_committed_reference_maps_and_matches(name, reference):
    case = reference[name]
    assert case["config"] == SMALL[name] and case["days"] == DAYS
    check_against(name, case["state_dict"], case["config"], case["inputs"], case["output"], case["days"])


def test_committed_reference_is_small():
    assert REFERENCE.stat().st_size < 300_000


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMETERS))
def test_registry_defaults_have_the_official_parameter_counts(name):
    model = create_model(name, in_channels=10, num_classes=20)
    assert n_trainable(model) == OFFICIAL_PARAMETERS[name]


def test_small_variants_keep_their_sizes():
    assert n_trainable(create_model("psetae_small", in_channels=10, num_classes=20)) == 25_236
    assert n_trainable(create_model("ltae_small", in_channels=10, num_classes=20)) == 10_772


# --- behaviour of the pixel-set encoder --------------------------------------------------------------------------


def _sets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, 7, generator=generator)
    pixel_mask = torch.arange(7)[None] < torch.tensor([7, 3, 1, 2])[:, None]
    return x, pixel_mask


def test_pse_pools_the_real_pixels_with_the_unbiased_std():
    torch.manual_seed(0)
    pse = PixelSetEncoder(3, mlp1=(5, 6), mlp2=(8,), extra_size=0).eval()
    x, pixel_mask = _sets()
    pooled = []
    pse.mlp2 = nn.Identity()  # read the pooled statistics
    with torch.no_grad():
        out = pse(x, pixel_mask)
        for i in range(4):
            pixels = pse.mlp1(x[i, :, pixel_mask[i]].T)
            std = pixels.std(dim=0) if len(pixels) > 1 else torch.zeros(6)
            pooled.append(torch.cat([pixels.mean(dim=0), std]))
    torch.testing.assert_close(out, torch.stack(pooled), atol=1e-6, rtol=0)


def test_padded_pixels_do_not_change_the_output_and_no_mask_means_all_real():
    torch.manual_seed(0)
    model = create_model("psetae_small", in_channels=3, num_classes=4).eval()
    x, pixel_mask = _sets()
    x = x[:, None].expand(4, 5, 3, 7).contiguous()
    noisy = torch.where(pixel_mask[:, None, None], x, 100 * torch.randn_like(x))
    with torch.no_grad():
        reference = model(x, pixel_mask=pixel_mask)
        torch.testing.assert_close(model(noisy, pixel_mask=pixel_mask), reference)
        assert not torch.allclose(model(noisy), reference)  # without the mask the padding counts
        torch.testing.assert_close(model(x), model(x, pixel_mask=torch.ones(4, 7, dtype=torch.bool)))
        torch.testing.assert_close(model(x), model(x, extra=torch.zeros(4, 4)))
        assert not torch.allclose(model(x), model(x, extra=torch.ones(4, 4)))


def test_pse_has_no_relu_after_its_last_layer():
    torch.manual_seed(0)
    model = create_model("psetae", in_channels=10, num_classes=20).train()
    dates = model.date_embeddings(torch.randn(8, 5, 10, 16))
    assert (dates < 0).float().mean() > 0.3  # BatchNorm output, no ReLU (the old model zeroed about half)


def test_official_seq_len_is_checked():
    model = create_model("ltae", in_channels=4, num_classes=3)
    with pytest.raises(ValueError, match="seq_len=30"):
        model(torch.randn(2, 30, 4))
    assert isinstance(model, LTAEClassifier)
    assert create_model("ltae", in_channels=4, num_classes=3, seq_len=30)(torch.randn(2, 30, 4)).shape == (2, 3)


# --- against the official code (skipped without it) ------------------------------------------------------------


def official_source(key: str, path: str) -> str | None:
    return official_file(*OFFICIAL_CODE[key], path)


def official_classes(key: str, folder: Path) -> SimpleNamespace:
    """The official model classes of ``key``, imported from copies of its files under ``folder`` (both
    repositories name their package ``models``: it is imported and then removed from ``sys.modules``)."""
    root = folder / key
    (root / "models").mkdir(parents=True, exist_ok=True)
    for stem in OFFICIAL_FILES[key]:
        text = official_source(key, f"models/{stem}.py")
        if text is None:
            repo, commit = OFFICIAL_CODE[key]
            pytest.skip(f"official {repo} models/{stem}.py@{commit[:7]} not available: set SITSBENCH_OFFICIAL_CODE "
                        f"to a folder with a checkout {repo.split('/')[1]}/ or a bare mirror "
                        f"{repo.replace('/', '+')}/repo")
        (root / "models" / f"{stem}.py").write_text(text)
    (root / "models" / "__init__.py").write_text("")
    sys.path.insert(0, str(root))
    try:
        classifier = importlib.import_module("models.stclassifier")
        decoder = importlib.import_module("models.decoder")
        ltae = importlib.import_module("models.ltae") if key == "ltae" else None
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
            del sys.modules[module]
    if key == "psetae":
        return SimpleNamespace(PseTae=classifier.PseTae)
    return SimpleNamespace(PseLTae=classifier.PseLTae, LTAE=ltae.LTAE, get_decoder=decoder.get_decoder)


def randomise(model: nn.Module, seed: int) -> None:
    """Every learned floating tensor and BatchNorm statistic random (variances positive), so that a tensor
    loaded into the wrong place changes the output; the fixed positional table is kept."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or key.endswith("position_enc.weight"):
                continue
            if key.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:
                tensor.add_(0.2 * torch.randn(tensor.shape, generator=generator))


def official_model(name: str, config: dict, days: list[int], seed: int, folder: Path) -> nn.Module:
    torch.manual_seed(seed)
    if name == "psetae":
        model = official_classes("psetae", folder).PseTae(**config, positions=days)
    elif name == "pseltae":
        model = official_classes("ltae", folder).PseLTae(**config, positions=days)
    else:
        classes = official_classes("ltae", folder)
        kwargs = {k: v for k, v in config.items() if k != "mlp4"}
        model = nn.Module()
        model.temporal_encoder = classes.LTAE(**kwargs, positions=days)
        model.decoder = classes.get_decoder(config["mlp4"])
    model = model.cpu()  # the official positional table is made on the GPU when there is one
    randomise(model, seed)
    return model.eval()


def make_case(name: str, model: nn.Module, config: dict, days: list[int], seed: int) -> dict:
    """The official ``model``'s state_dict, fixed inputs and its output on them."""
    inputs = fixed_inputs(name, config, seed, len(days))
    with torch.no_grad():
        output = official_forward(name, model, inputs)
    return {"config": config, "days": days, "state_dict": model.state_dict(), "inputs": inputs, "output": output}


def make_reference(folder: Path) -> dict:
    return {name: make_case(name, official_model(name, config, DAYS, 0, folder), config, DAYS, 0)
            for name, config in SMALL.items()}


@pytest.mark.parametrize("name", ["psetae", "pseltae", "ltae"])
def test_official_defaults_map_match_and_count(name, tmp_path):
    days = [int(d) for d in torch.linspace(0, 330, 24).round()]
    official = official_model(name, DEFAULT[name], days, seed=1, folder=tmp_path)
    assert n_trainable(official) == OFFICIAL_PARAMETERS[name]
    case = make_case(name, official, DEFAULT[name], days, seed=1)
    check_against(name, case["state_dict"], case["config"], case["inputs"], case["output"], days)


def test_committed_reference_is_what_the_official_code_gives(reference, tmp_path):
    remade = make_reference(tmp_path)
    assert sorted(remade) == sorted(reference)
    for name, case in remade.items():
        for key in ("state_dict", "inputs"):
            assert sorted(case[key]) == sorted(reference[name][key])
            for tensor_name, tensor in case[key].items():
                torch.testing.assert_close(tensor, reference[name][key][tensor_name], atol=0, rtol=0)
        torch.testing.assert_close(case["output"], reference[name]["output"], atol=1e-6, rtol=0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        cases = make_reference(Path(scratch))
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cases, REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
