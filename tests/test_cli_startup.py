"""The command line starts fast: building the parser (``sitsbench --help``) and ``sitsbench data list`` import no
heavy library; the choices spelled out in the command modules equal the library's."""

import subprocess
import sys

HEAVY = ("torch", "xarray", "numpy", "pandas", "dask", "zarr", "sklearn", "papermill", "pooch", "requests")


def _imported(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_help_and_data_list_import_no_heavy_library():
    assert _imported("import sitsbench.cli as cli\ncli.build_parser()") == []
    assert _imported("import contextlib, io, sitsbench.cli as cli\n"
                     "with contextlib.redirect_stdout(io.StringIO()):\n    cli.main(['data', 'list'])") == []


def test_spelled_out_choices_equal_the_library_constants():
    from sitsbench.commands import predict_map, pretrain, synthetic, train, validate
    from sitsbench.data.synthetic import PRESETS
    from sitsbench.inference.dates import DATE_POLICIES
    from sitsbench.inference.map import UNCERTAINTIES
    from sitsbench.models.classical import CLASSICAL, DEFAULT_MODEL

    assert sorted(synthetic.PRESET_NAMES) == sorted(PRESETS)
    assert train.DATE_POLICIES == DATE_POLICIES
    assert train.CLASSICAL == tuple(CLASSICAL) and train.DEFAULT_MODEL == DEFAULT_MODEL
    assert predict_map.UNCERTAINTIES == UNCERTAINTIES
    from sitsbench.ssl.pretrain import METHODS
    from sitsbench.training.engine import PRECISIONS
    from sitsbench.training.map_training import PROBES

    assert train.PROBES == PROBES
    from sitsbench.evaluation.crossval import POLICIES

    assert validate.POLICIES == POLICIES
    assert sorted(pretrain.METHODS) == sorted(METHODS) and pretrain.PRECISIONS == PRECISIONS
