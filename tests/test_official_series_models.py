"""TempCNN, LSTM and Transformer against the official BreizhCrops models (issue 42).

The reference entries ``tempcnn``, ``lstm`` and ``transformer`` are the default configurations of BreizhCrops
(Rußwurm et al. 2020; ``breizhcrops`` 0.0.4.1 = github.com/dl4sits/BreizhCrops at 6de796e,
``breizhcrops/models/{TempCNN,LongShortTermMemory,TransformerModel}.py``). Two checks:

* always: a small reference made once by running the official code (official models at a small configuration,
  every tensor of their state_dict randomised, a fixed input, the official outputs) is committed as
  ``tests/data/official/breizhcrops_series.pt``; its state_dict maps one-to-one onto ours and our outputs equal
  the official ones;
* with the official package installed (test-only dependency: ``pip install --no-deps breizhcrops==0.0.4.1``,
  skipped otherwise): the same at the official default configurations, and the committed reference is
  regenerated from the package and compared.

The official modules are loaded from their files (they import only torch), so that the package's
``__init__`` (which imports geopandas for its datasets) is not run. Regenerate the reference with
``.venv/bin/python tests/test_official_series_models.py`` (needs the package).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

PACKAGE_PIN = "breizhcrops==0.0.4.1"
REFERENCE = Path(__file__).parent / "data" / "official" / "breizhcrops_series.pt"
OFFICIAL_FILES = {"tempcnn": "TempCNN", "lstm": "LongShortTermMemory", "transformer": "TransformerModel"}
OFFICIAL_CLASSES = {"tempcnn": "TempCNN", "lstm": "LSTM", "transformer": "TransformerModel"}

# Official configurations, as keyword arguments of the official classes: BreizhCrops' defaults (13 L1C bands,
# 9 classes, 45 observations, as its pretrained models) and a small one for the committed reference.
DEFAULT = {"tempcnn": {"input_dim": 13, "num_classes": 9, "sequencelength": 45},
           "lstm": {"input_dim": 13, "num_classes": 9},
           "transformer": {"input_dim": 13, "num_classes": 9}}
SMALL = {"tempcnn": {"input_dim": 4, "num_classes": 3, "sequencelength": 12, "hidden_dims": 8},
         "lstm": {"input_dim": 4, "num_classes": 3, "hidden_dims": 8, "num_layers": 2},
         "transformer": {"input_dim": 4, "num_classes": 3, "d_model": 16, "n_layers": 2, "d_inner": 32}}
OFFICIAL_PARAMETERS = {"tempcnn": 3_197_449, "lstm": 1_335_331, "transformer": 168_969}
"""Parameters of the official models at their defaults (counted from the package, breizhcrops 0.0.4.1)."""

# Official state_dict name -> ours: (pattern, replacement), the first that matches.
RENAMES = {
    "tempcnn": [(r"conv_bn_relu([123])\.block\.(\d)\.", lambda m: f"convs.{int(m[1]) - 1}.{m[2]}."),
                (r"dense\.block\.(\d)\.", lambda m: f"fc.{int(m[1]) + 1}."),
                (r"logsoftmax\.0\.", "head.")],
    "lstm": [(r"inlayernorm\.", "norm."), (r"lstm\.", "rnn."), (r"clayernorm\.", "state_norm."),
             (r"linear_class\.", "head.")],
    "transformer": [(r"inlinear\.", "embed."), (r"transformerencoder\.layers\.", "encoder.layers."),
                    (r"transformerencoder\.norm\.", "norm."), (r"outlinear\.", "head.")],
}


def to_sitsbench(name: str, official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official state_dict under our names; a name no rule covers is an error."""
    mapped = {}
    for key, tensor in official.items():
        for pattern, replacement in RENAMES[name]:
            new, count = re.subn(f"^{pattern}", replacement, key)
            if count:
                break
        else:
            raise KeyError(f"{name}: no counterpart for the official tensor {key!r}")
        assert new not in mapped, f"{name}: two official tensors map onto {new!r}"
        mapped[new] = tensor
    return mapped


def ours_kwargs(name: str, official: dict) -> dict:
    """Our options for an official configuration (the official defaults of the other options are ours)."""
    renames = {"tempcnn": {"sequencelength": "seq_len", "hidden_dims": "width"},
               "lstm": {"hidden_dims": "hidden_dim", "num_layers": "num_layers"},
               "transformer": {"d_model": "d_model", "n_layers": "num_layers", "d_inner": "ff_dim"}}[name]
    kwargs = {renames[k]: v for k, v in official.items() if k in renames}
    if name == "tempcnn" and "hidden_dims" in official:  # the official dense layer is 4 x hidden_dims wide
        kwargs["fc_dim"] = 4 * official["hidden_dims"]
    return kwargs


def randomise(model: nn.Module, seed: int) -> None:
    """Give every floating tensor of the state_dict a random value (BatchNorm variances positive), so that a
    tensor loaded into the wrong place changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.rand(tensor.shape, generator=generator) if key.endswith("running_var") else \
                torch.randn(tensor.shape, generator=generator)
            tensor.copy_(0.5 + noise if key.endswith("running_var") else tensor + 0.2 * noise)


def official_modules() -> dict[str, ModuleType]:
    """The official model modules, loaded from the installed package's files (skip when absent)."""
    spec = importlib.util.find_spec("breizhcrops")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"official package absent (test-only dependency: pip install --no-deps {PACKAGE_PIN})")
    folder = Path(spec.submodule_search_locations[0]) / "models"
    modules = {}
    for name, stem in OFFICIAL_FILES.items():
        file_spec = importlib.util.spec_from_file_location(f"_breizhcrops_official_{stem}", folder / f"{stem}.py")
        modules[name] = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(modules[name])
    return modules


def official_model(modules: dict[str, ModuleType], name: str, config: dict, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = getattr(modules[name], OFFICIAL_CLASSES[name])(**config)
    randomise(model, seed)
    return model.eval()


def fixed_input(config: dict, seed: int, n_dates: int) -> torch.Tensor:
    """5 series of ``n_dates`` dates (the TempCNN's ``sequencelength`` when it has one)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(5, config.get("sequencelength", n_dates), config["input_dim"], generator=generator)


def make_reference(modules: dict[str, ModuleType]) -> dict:
    """Run the official models at the small configurations: their state_dicts, inputs and outputs, and the torch
    version that made them (its initialisation draws the official weights)."""
    reference = {"torch": str(torch.__version__)}
    for seed, (name, config) in enumerate(SMALL.items()):
        model = official_model(modules, name, config, seed)
        x = fixed_input(config, seed, n_dates=12)
        with torch.no_grad():
            reference[name] = {"config": config, "state_dict": dict(model.state_dict()), "x": x, "output": model(x)}
    return reference


def check_against_official(name: str, config: dict, state: dict[str, torch.Tensor], x: torch.Tensor,
                           output: torch.Tensor) -> nn.Module:
    """Our entry ``name`` at the official configuration: the official state_dict maps one-to-one onto ours
    (every tensor, same shapes) and our log-probabilities equal the official output to 1e-5."""
    from sitsbench.models import create_model

    ours = create_model(name, config["input_dim"], config["num_classes"], **ours_kwargs(name, config)).eval()
    mapped = to_sitsbench(name, state)
    expected = ours.state_dict()
    assert set(mapped) == set(expected), f"{name}: unmatched {set(mapped) ^ set(expected)}"
    for key, tensor in mapped.items():
        assert tensor.shape == expected[key].shape, f"{name}: {key} {tuple(tensor.shape)} vs {tuple(expected[key].shape)}"
    ours.load_state_dict(mapped, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(torch.log_softmax(ours(x), dim=-1), output, rtol=0, atol=1e-5)
    return ours


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(REFERENCE, weights_only=True)


@pytest.mark.parametrize("name", list(SMALL))
def test_committed_official_reference_maps_onto_ours(reference, name):
    entry = reference[name]
    assert entry["config"] == SMALL[name]
    check_against_official(name, entry["config"], entry["state_dict"], entry["x"], entry["output"])
    assert entry["output"].shape == (5, SMALL[name]["num_classes"])
    assert entry["output"].std() > 0.05, "a reference whose outputs barely vary would check little"


@pytest.mark.parametrize("name", list(DEFAULT))
def test_reference_entries_are_the_official_default_configurations(name):
    modules = official_modules()
    config = DEFAULT[name]
    official = official_model(modules, name, config, seed=10)
    x = fixed_input(config, seed=10, n_dates=45)
    with torch.no_grad():
        output = official(x)
    ours = check_against_official(name, config, official.state_dict(), x, output)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in official.parameters()) == OFFICIAL_PARAMETERS[name]


def test_committed_reference_is_what_the_official_code_gives(reference):
    modules = official_modules()
    if reference["torch"] != str(torch.__version__):
        pytest.skip(f"the reference was drawn with torch {reference['torch']} (this is {torch.__version__}): "
                    "another version may initialise the official models differently")
    regenerated = make_reference(modules)
    assert regenerated.keys() == reference.keys()
    for name in SMALL:
        entry = regenerated[name]
        for key in ("x", "output"):
            torch.testing.assert_close(entry[key], reference[name][key], rtol=0, atol=1e-6)
        for key, tensor in entry["state_dict"].items():
            torch.testing.assert_close(tensor, reference[name]["state_dict"][key], rtol=0, atol=0)


if __name__ == "__main__":  # regenerate the committed reference from the official package
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_reference(official_modules()), REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size:,} bytes)", file=sys.stderr)
