"""The package layers of ``sitsbench``, checked by walking every import of every module (module-level and
function-level alike): a module imports only its own package and packages of lower layers, so there is no import
cycle between packages and a newcomer can read the library bottom-up.

The only upward references are the registry's :data:`~sitsbench.models.registry.PROVIDERS` (modules of higher
layers that register models; the registry imports them by name when it is first read, like plugins) and the
command-line entry point, which imports its sub-commands by name on demand.
"""

import ast
from pathlib import Path

import pytest

from sitsbench.models.registry import PROVIDERS

PACKAGE = Path(__file__).resolve().parent.parent / "sitsbench"

LAYERS: list[tuple[str, ...]] = [
    ("atomic", "runtime", "metrics"),  # helpers without sitsbench dependencies
    ("intervals",),  # confidence intervals of scores (bootstrap over test items and seeds)
    ("distributed",),  # torchrun's process group, gathers, global batch normalisation
    ("data",),  # cubes, samples, readers, splits, datasets
    ("records", "plot"),  # run records (name datasets and manifests), plots of cubes
    ("notebook",),  # what the chapters share: profiles, the real data of a section, the run record
    ("models",),  # the registry and the networks, checkpoints
    ("inference",),  # a trained model applied to cubes: dates, windows, model folders, maps
    ("training",),  # the training loop, map models (write model folders)
    ("planes",),  # Deep-STaR planes and their classifiers
    ("ssl", "autoencoders"),  # self-supervised pretraining, auto-encoders
    ("evaluation",),  # probes, k-NN, fine-tuning, label efficiency, segmentation, change, area accuracy
    ("perf", "sweep", "results", "plot_metrics"),  # measurements, sweeps, result tables
    ("commands", "cli", "book"),  # entry points
    ("__main__",),  # python -m sitsbench (torchrun -m sitsbench)
]
"""Lower layers first: ``sitsbench.<name>`` may import the packages of its own entry's layer only when it is the
same package, and any package of an earlier entry."""

LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``sitsbench`` module or package that ``path`` imports, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
    return {module for module in found if module == "sitsbench" or module.startswith("sitsbench.")}


def layer_of(module: str) -> tuple[str, int]:
    top = module.split(".")[1] if module.count(".") else ""
    if top not in LAYER:
        raise AssertionError(f"{module}: package sitsbench.{top} is in no layer of LAYERS")
    return top, LAYER[top]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_layer():
    tops = {module_name(path).split(".")[1] for path in MODULES if module_name(path) != "sitsbench"}
    assert tops == set(LAYER), f"packages without a layer: {tops - set(LAYER)}; stale layers: {set(LAYER) - tops}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: module_name(path))
def test_imports_go_down_the_layers(path):
    name = module_name(path)
    if name == "sitsbench":
        assert imported_modules(path) <= {"sitsbench"}, "the top-level package imports nothing (fast start-up)"
        return
    top, level = layer_of(name)
    upward = []
    for module in sorted(imported_modules(path)):
        if module == "sitsbench":
            continue
        other, other_level = layer_of(module)
        if other != top and other_level >= level:
            upward.append(f"{module} (layer {other_level} >= {level})")
    assert not upward, f"{name} (layer {level}, sitsbench.{top}) imports upward: {upward}"


def test_providers_are_the_only_upward_references_of_the_registry():
    for provider in PROVIDERS:
        assert layer_of(provider)[1] > LAYER["models"], f"{provider} needs no lazy registration"
        assert (PACKAGE.parent / (provider.replace(".", "/") + ".py")).is_file(), f"{provider} does not exist"


def test_sitsbench_modules_are_imported_under_readable_names():
    """``from sitsbench.data import cube as C`` hides what ``C.BAND`` is: a sitsbench module keeps its name or gets a
    word (``cube_format``), in the library, the tests, the benchmarks and the chapters' code cells."""
    import json

    root = PACKAGE.parent
    sources = {path: path.read_text() for folder in ("sitsbench", "tests", "benchmarks")
               for path in (root / folder).rglob("*.py")}
    for path in (root / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        sources[path] = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    opaque = []
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom | ast.Import):
                module = getattr(node, "module", None) or ""
                opaque += [f"{path.relative_to(root)}: {module} {alias.name} as {alias.asname}" for alias in node.names
                           if alias.asname and len(alias.asname) == 1 and "sitsbench" in f"{module}.{alias.name}"]
    assert not opaque, f"single-letter aliases of sitsbench modules: {opaque}"
