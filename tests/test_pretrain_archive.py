"""``sitsbench pretrain``: the streamed archive (shards, batches, statistics, bands), torchrun with 2 gloo processes
against 1 process, kill and resume, memory as the archive grows, and the encoder folder reused by ``train``,
``predict-map`` and ``evaluate`` — on the synthetic cube and on the real samples of ``../shared/data``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.io import open_cube, save_cube
from sitsbench.perf import pretrain_scaling, write_synthetic
from sitsbench.ssl.archive import Archive, ArchiveStream, rank_shards
from sitsbench.ssl.pretrain import (
    PRETRAINING,
    PretrainConfig,
    StreamConfig,
    checkpoint_dir,
    pretrain_archive,
    run_parameters,
    with_recipe,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TORCHRUN = Path(sys.executable).parent / "torchrun"
NO_DROPOUT = '{"dropout": 0.0}'  # dropout draws differ between 1 and 2 processes; everything else must not


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def sitsbench(*args, cwd: Path, torchrun: int = 0, check: bool = True) -> subprocess.CompletedProcess:
    """Run the command line in a fresh process (under torchrun with ``torchrun`` processes)."""
    head = [str(TORCHRUN), "--standalone", f"--nproc-per-node={torchrun}"] if torchrun else [sys.executable]
    result = subprocess.run([*head, "-m", "sitsbench", *map(str, args)], cwd=cwd, env=_env(), capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"sitsbench {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")
    return result


def loss_curve(folder: Path) -> list[float]:
    return json.loads((folder / "encoder.json").read_text())["pretraining"]["loss_curve"]


@pytest.fixture(scope="module")
def cube_path(tmp_path_factory) -> Path:
    """The toy landscape (64 x 64 px, 20 dates) on disk in 16 x 16 chunks."""
    return write_synthetic(tmp_path_factory.mktemp("archive"), 64, chunk=16)


@pytest.fixture(scope="module")
def reversed_path(cube_path) -> Path:
    """The same cube with its bands stored in reverse order (names and values together)."""
    cube = open_cube(cube_path, chunks=None)
    return save_cube(cube.isel({cube_format.BAND: slice(None, None, -1)}), cube_path.with_name("reversed.zarr"), chunks=16)


def _identity(sample, generator):
    return [sample]


# -- the stream ----------------------------------------------------------------------------------------------------
def test_ranks_read_disjoint_shards_that_cover_the_archive(cube_path):
    archive = Archive.open([str(cube_path)], chunk=16)
    assert len(archive.windows()) == 16 and archive.n_series == 64 * 64
    streams = [ArchiveStream(archive, _identity, batch_size=16, shards=4, buffer=32, steps_per_iter=8, rank=r,
                             world=2) for r in range(2)]
    owned = [{w for s in stream.shards for w in stream.shard_windows[s]} for stream in streams]
    assert not owned[0] & owned[1] and owned[0] | owned[1] == set(archive.windows())
    for stream, mine in zip(streams, owned, strict=True):
        batches = list(stream)
        assert len(batches) == 64 and all(item[0]["x"].shape == (20, 10) for item in batches)
        assert stream.read_windows and stream.read_windows <= mine  # each process reads only its own windows
    with pytest.raises(ValueError, match="cannot be split evenly over 3 processes"):
        rank_shards(4, 0, 3)
    with pytest.raises(ValueError, match="fewer than the 32 shards"):
        ArchiveStream(archive, _identity, batch_size=32, shards=32)


def test_global_batches_do_not_depend_on_the_number_of_processes(cube_path):
    archive = Archive.open([str(cube_path)], chunk=16)

    def batches(world: int) -> list[list[bytes]]:
        streams = [iter(ArchiveStream(archive, _identity, batch_size=16, shards=4, buffer=64, steps_per_iter=5, seed=3,
                                      rank=r, world=world)) for r in range(world)]
        local = 16 // world
        return [sorted(next(s)[0]["x"].numpy().tobytes() for s in streams for _ in range(local)) for _ in range(5)]

    one, two = batches(1), batches(2)
    assert one == two
    assert len({x for batch in one for x in batch}) == 5 * 16  # no series served twice within these batches
    other_seed = ArchiveStream(archive, _identity, batch_size=16, shards=4, buffer=64, steps_per_iter=1, seed=4)
    assert sorted(item[0]["x"].numpy().tobytes() for item in other_seed) != one[0]


def test_resumed_stream_continues_where_it_stopped(cube_path):
    archive = Archive.open([str(cube_path)], chunk=16)
    def make():
        return ArchiveStream(archive, _identity, batch_size=16, shards=4, buffer=64, steps_per_iter=3)

    stream = make()
    first = [item[0]["x"] for item in stream] + [item[0]["x"] for item in stream]
    resumed = make()
    resumed.skip(3)
    again = [item[0]["x"] for item in resumed]
    assert all(torch.equal(a, b) for a, b in zip(first[48:], again, strict=True))


def test_archive_statistics_band_matching_and_padding(cube_path, reversed_path, tmp_path):
    archive = Archive.open([str(cube_path), str(reversed_path)], chunk=16)
    first, second = archive.sources
    assert second.bands == tuple(reversed(first.bands)) and archive.bands == first.bands
    np.testing.assert_array_equal(first.raw(3)[0], second.raw(3)[0])  # matched by name, not by position
    np.testing.assert_allclose(first.stats.mean, second.stats.mean, rtol=1e-6)
    x, mask, _ = first.series(3, archive.n_dates)
    clear = x[mask]
    assert abs(clear.mean()) < 0.5 and 0.5 < clear.std() < 2.0  # standardised with the dataset's own statistics
    cube = open_cube(cube_path, chunks=None)
    short = save_cube(cube.isel({cube_format.TIME: slice(0, 12), cube_format.BAND: slice(0, 4)}), tmp_path / "short.zarr", chunks=16)
    with pytest.raises(ValueError, match=r"missing \['B06'"):
        Archive.open([str(cube_path), str(short)], chunk=16)
    padded = Archive.open([str(short), str(cube_path)], chunk=16)
    assert padded.n_dates == 20 and padded.bands == tuple(str(b) for b in cube[cube_format.BAND].values[:4])
    x, mask, doy = padded.sources[0].series(0, padded.n_dates)
    assert x.shape[1:] == (20, 4) and not mask[:, 12:].any() and not x[:, 12:].any() and not doy[:, 12:].any()


def test_nan_under_a_clear_mask_is_refused_naming_the_window(cube_path, tmp_path):
    cube = open_cube(cube_path, chunks=None)
    values = cube[cube_format.REFLECTANCE].values.copy()
    values[2, 0, 20, 40] = np.nan
    cube[cube_format.REFLECTANCE] = (cube[cube_format.REFLECTANCE].dims, values)
    cube[cube_format.VALID][2, 20, 40] = True
    path = save_cube(cube, tmp_path / "nan.zarr", chunks=16)
    archive = Archive.open([str(path)], chunk=16, stats_windows=1)
    with pytest.raises(ValueError, match="rows 16-31, columns 32-47"):
        archive.sources[0].raw(archive.sources[0].windows.index((slice(16, 32), slice(32, 48))))


# -- torchrun ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_distributed_pieces_equal_one_process_on_the_whole_batch(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "workers"))
    from distributed_checks import fixed_batch

    from sitsbench.distributed import GlobalBatchNorm
    from sitsbench.ssl.losses import barlow_twins_loss, nt_xent, vicreg_loss

    subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node=2", str(Path(__file__).parent / "workers" /
                    "distributed_checks.py"), str(tmp_path)], env=_env(), check=True, capture_output=True, timeout=300)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    z1, z2, x, logits = fixed_batch()
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    loss = nt_xent(z1, z2, 0.1)
    loss.backward()
    assert float((ranks[0]["loss"] + ranks[1]["loss"]) / 2) == pytest.approx(float(loss.detach()), rel=1e-6)
    # VICReg and Barlow Twins: every rank computes the loss of the global batch; its gradients, averaged by
    # DistributedDataParallel, are the whole batch's
    for name, function in (("vicreg", vicreg_loss), ("barlow", barlow_twins_loss)):
        a, b = z1.detach().clone().requires_grad_(True), z2.detach().clone().requires_grad_(True)
        whole = function(a, b)
        whole.backward()
        for r, part in enumerate((slice(0, 4), slice(4, 8))):
            assert float(ranks[r][f"{name}_loss"]) == pytest.approx(float(whole.detach()), rel=1e-6)
            torch.testing.assert_close(ranks[r][f"{name}_grads"][0] / 2, a.grad[part], rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(ranks[r][f"{name}_grads"][1] / 2, b.grad[part], rtol=1e-5, atol=1e-7)
    # each rank's gradient, averaged as DistributedDataParallel averages, is the whole batch's
    for r, part in enumerate((slice(0, 4), slice(4, 8))):
        torch.testing.assert_close(ranks[r]["z1_grad"] / 2, z1.grad[part], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(ranks[r]["z2_grad"] / 2, z2.grad[part], rtol=1e-5, atol=1e-7)
    torch.manual_seed(1)
    norm = torch.nn.BatchNorm1d(4)
    x.requires_grad_(True)
    out = norm(x)
    (out * torch.arange(1.0, 4.0)).sum().backward()
    torch.testing.assert_close(torch.cat([ranks[0]["bn_out"], ranks[1]["bn_out"]]), out.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([ranks[0]["bn_x_grad"], ranks[1]["bn_x_grad"]]), x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ranks[0]["bn_weight_grad"] + ranks[1]["bn_weight_grad"], norm.weight.grad, rtol=1e-5,
                               atol=1e-5)
    for r in range(2):
        torch.testing.assert_close(ranks[r]["bn_running_mean"], norm.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ranks[r]["bn_running_var"], norm.running_var, rtol=1e-5, atol=1e-6)
    assert torch.equal(ranks[0]["center"], ranks[1]["center"])  # DINO's centre: one value on every rank
    torch.testing.assert_close(ranks[0]["center"], 0.1 * logits.mean(0), rtol=1e-6, atol=1e-7)
    assert isinstance(GlobalBatchNorm(4).train(), torch.nn.modules.batchnorm._BatchNorm)


@pytest.mark.slow
# BYOL's EMA target, Barlow Twins' gathered batch statistics, masked series' own view transform; VICReg's gathered
# loss and its gradients are checked against one process above (its loss of about 20, coefficients 25, drifts to a
# relative 3e-5 over 6 steps: float sums in other orders)
@pytest.mark.parametrize("method", ["dino", "simclr", "byol", "barlow", "masked"])
def test_two_gloo_processes_reproduce_the_loss_curve_of_one(cube_path, tmp_path, method):
    common = [cube_path, "--method", method, "--encoder", "ltae_small", "--steps", 6, "--batch-size", 32, "--window", 16,
              "--shards", 4, "--log-every", 1, "--encoder-args", NO_DROPOUT, "--quiet"]
    sitsbench("pretrain", *common, "--output", "one", cwd=tmp_path)
    result = sitsbench("pretrain", *common, "--output", "two", cwd=tmp_path, torchrun=2)
    assert result.stdout.count("wrote two") == 1  # rank 0 reports, rank 1 does not
    one, two = loss_curve(tmp_path / "one"), loss_curve(tmp_path / "two")
    assert len(one) == len(two) == 6
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5)  # measured: 5e-6 at most (float sums in other orders)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # one folder per run, no checkpoint left
    record = json.loads((tmp_path / "two" / "pretrain_record.json").read_text())
    assert record["metrics"]["world_size"] == 2 and record["metrics"]["steps"] == 6


# -- checkpoints -----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(cube_path, tmp_path):
    args = ["pretrain", cube_path, "--method", "dino", "--encoder", "ltae_small", "--steps", 150, "--batch-size", 16,
            "--window", 16, "--shards", 4, "--log-every", 5, "--checkpoint-every", 10, "--quiet"]
    sitsbench(*args, "--output", "straight", cwd=tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "sitsbench", *map(str, args), "--output", "killed"], cwd=tmp_path,
                               env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = checkpoint_dir(tmp_path / "killed") / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.exists() and not (tmp_path / "killed").exists()  # nothing that looks like a finished encoder
    saved = torch.load(state, weights_only=True)["step"]
    assert 10 <= saved < 150 and saved % 5 == 0
    refused = sitsbench(*args[:7], 149, *args[8:], "--output", "killed", "--resume", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "other parameters" in refused.stderr and "stream_steps" in refused.stderr
    sitsbench(*args, "--output", "killed", "--resume", cwd=tmp_path)
    assert loss_curve(tmp_path / "killed") == loss_curve(tmp_path / "straight")  # bit-identical on CPU
    for name in ("weights.pt",):
        killed = torch.load(tmp_path / "killed" / name, weights_only=True)["state_dict"]
        straight = torch.load(tmp_path / "straight" / name, weights_only=True)["state_dict"]
        assert all(torch.equal(killed[k], straight[k]) for k in straight)
    assert not checkpoint_dir(tmp_path / "killed").exists()
    nothing = sitsbench(*args, "--output", "other", "--resume", cwd=tmp_path, check=False)
    assert nothing.returncode == 2 and "nothing to resume" in nothing.stderr


def test_damaged_checkpoint_is_refused_with_its_name(cube_path, tmp_path):
    config = with_recipe(PretrainConfig(train=replace(PRETRAINING, batch_size=16, progress=False)), "simclr")
    stream = StreamConfig(steps=4, window=16, shards=4)
    partial = checkpoint_dir(tmp_path / "enc")
    partial.mkdir()
    (partial / "parameters.json").write_text(json.dumps({"datasets": ["elsewhere.zarr"]}))
    with pytest.raises(ValueError, match="other parameters"):
        pretrain_archive([str(cube_path)], tmp_path / "enc", "simclr", "ltae_small", config, stream, resume=True)
    parameters = run_parameters([str(cube_path)], "simclr", "ltae_small", config, stream)
    (partial / "parameters.json").write_text(json.dumps(parameters))
    (partial / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"state\.pt cannot be read"):
        pretrain_archive([str(cube_path)], tmp_path / "enc", "simclr", "ltae_small", config, stream, resume=True)
    assert not (tmp_path / "enc").exists() and (partial / "state.pt").read_bytes() == b"not a checkpoint"


# -- memory ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_streamed_pretraining_memory_does_not_grow_with_the_archive(tmp_path):
    small, large = pretrain_scaling(tmp_path, sides=(64, 256), steps=8, batch_size=32)
    assert large["pixels"] == 16 * small["pixels"]
    assert large["peak_mib"] < large["cube_mib"] / 3  # measured: 9 MiB of NumPy/Python for a 50 MiB cube
    assert large["peak_mib"] < 1.5 * small["peak_mib"] + 2


# -- reuse ---------------------------------------------------------------------------------------------------------
def cli(*args, expect: int = 0) -> tuple[str, str]:
    """The command line in this process: stdout and stderr, the exit code checked."""
    from sitsbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    assert code == expect, f"sitsbench {args}: exit {code}, expected {expect}\n{out.getvalue()}\n{err.getvalue()}"
    return out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_pretrained_encoder_trains_maps_and_evaluates_from_the_command_line(cube_path, reversed_path, tmp_path):
    enc, m = tmp_path / "enc", tmp_path / "m"
    cli("pretrain", cube_path, "--method", "simclr", "--encoder", "ltae_small", "--output", enc, "--steps", 30,
        "--batch-size", 64, "--window", 16, "--quiet")
    meta = json.loads((enc / "encoder.json").read_text())
    assert meta["format"] == "sitsbench-encoder/1" and meta["num_features"] == 64 and meta["date_policy"] == "doy"
    assert meta["bands"][0] == "B02" and len(meta["pretraining"]["loss_curve"]) == 3
    assert meta["pretraining"]["loss_curve"][-1] < meta["pretraining"]["loss_curve"][0]  # it learns
    assert {"embedding_std", "mean_cosine"} <= set(meta["pretraining"]["monitors"])
    out, _ = cli("train", cube_path, "--encoder", enc, "--probe", "linear", "--output", m, "--epochs", 8, "--quiet")
    model = json.loads((m / "model.json").read_text())
    assert model["model"] == "ltae_small" and model["training"]["encoder"]["probe"] == "linear"
    assert model["normalisation"] == meta["normalisation"]  # the encoder's statistics, not the dataset's
    oa = float(out.split("test OA ")[1].split()[0])
    assert oa > 0.4  # 10 classes, the largest a quarter of the pixels
    cli("predict-map", cube_path, "--model", m, "--output", tmp_path / "map.tif")
    cli("predict-map", reversed_path, "--model", m, "--output", tmp_path / "reversed.tif")
    with rasterio.open(tmp_path / "map.tif") as a, rasterio.open(tmp_path / "reversed.tif") as b:
        assert np.array_equal(a.read(), b.read())  # bands are matched by name
    evaluated, _ = cli("evaluate", m, cube_path)
    assert f"OA {oa:.3f}" in evaluated
    pretrained = torch.load(enc / "weights.pt", weights_only=True)["state_dict"]
    for probe in ("mlp", "finetune"):
        cli("train", cube_path, "--encoder", enc, "--probe", probe, "--output", tmp_path / probe, "--epochs", 1,
            "--quiet")
        weights = torch.load(tmp_path / probe / "weights.pt", weights_only=True)["state_dict"]
        assert torch.equal(weights["encoder.keys.weight"], pretrained["encoder.keys.weight"]) == (probe == "mlp")
        assert ("head.2.weight" in weights) == (probe == "mlp")  # the MLP head: Linear, ReLU, Linear
    # foreign folders get a clear error
    _, err = cli("train", cube_path, "--encoder", m, "--output", tmp_path / "x", expect=2)
    assert "not a sitsbench encoder folder" in err and "--model" in err
    (enc / "encoder.json").write_text(json.dumps({**meta, "format": "other/1"}))
    _, err = cli("train", cube_path, "--encoder", enc, "--output", tmp_path / "x", expect=2)
    assert "is not a sitsbench-encoder/1 description" in err
    _, err = cli("train", cube_path, "--encoder", enc, "--model", "ltae_small", "--output", tmp_path / "x", expect=2)
    assert "either --model or --encoder" in err and not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "sits_sinop_modis").is_dir(), reason=f"real samples absent from {SHARED_DATA}")
def test_real_rasters_and_sample_files_pretrain_and_map(tmp_path):
    sinop = SHARED_DATA / "sits_sinop_modis"
    cerrado = SHARED_DATA / "sits_samples" / "cerrado_2classes.rda"
    enc, m = tmp_path / "enc", tmp_path / "m"
    cli("pretrain", sinop, cerrado, "--method", "dino", "--encoder", "ltae_small", "--output", enc, "--steps", 20,
        "--batch-size", 32, "--window", 16, "--quiet")
    meta = json.loads((enc / "encoder.json").read_text())
    datasets = meta["pretraining"]["archive"]["datasets"]
    assert [d["name"] for d in datasets] == ["sits-sinop-modis", "sits-samples"]  # verified against their manifests
    assert meta["bands"] == ["NDVI"] and meta["pretraining"]["archive"]["dates"] == 23  # cerrado's 23 dates
    assert datasets[0]["series"] == 147 * 255 and datasets[1]["series"] == 746
    cli("train", sinop, "--encoder", enc, "--output", m, "--epochs", 5, "--quiet")
    cli("predict-map", sinop, "--model", m, "--output", tmp_path / "map.tif")
    with rasterio.open(tmp_path / "map.tif") as written:
        assert written.shape == (147, 255) and written.crs is not None
    assert "OA" in cli("evaluate", m, sinop)[0]


def test_bf16_autocast_trains_to_the_fp32_losses(cube_path, tmp_path):
    """``--precision bf16`` (meant for CUDA) runs under CPU autocast too: its losses stay within bfloat16's precision
    of the fp32 run's (8 bits of mantissa: about 1 % after a few steps)."""
    curves = {}
    for precision in ("fp32", "bf16"):
        config = PretrainConfig(backbone_kwargs={"dropout": 0.0}, train=replace(PRETRAINING, batch_size=32, precision=precision, progress=False))
        summary = pretrain_archive([str(cube_path)], tmp_path / precision, "simclr", "ltae_small", config,
                                   StreamConfig(steps=4, window=16, shards=4, log_every=1))
        curves[precision] = summary["history"]["train_loss"]
    assert all(np.isfinite(curves["bf16"]))
    np.testing.assert_allclose(curves["bf16"], curves["fp32"], rtol=0.03)
    assert curves["bf16"] != curves["fp32"]  # autocast did run in bfloat16


def test_bad_pretraining_options_are_clear_errors(cube_path, tmp_path):
    for args, message in (
        (["--steps", 0], "steps must be >= 1"),
        (["--batch-size", 12], "must be a multiple of the number of shards"),
        (["--encoder", "ae_tempconv"], "archive pretraining streams pixel series"),
        (["--encoder-args", '{"nosuch": 1}', "--steps", 1], "model 'ltae_small' has no option 'nosuch'"),
        (["--method", "barlow", "--method-args", '{"lambda": 1}', "--steps", 1],
         "method BarlowTwins has no option 'lambda' (method_args); its options are hidden_dim, out_dim, lambd"),
    ):
        _, err = cli("pretrain", cube_path, "--output", tmp_path / "enc", "--window", 16, *args, expect=2)
        assert message in err, (args, err)
    (tmp_path / "file").write_text("keep me")
    _, err = cli("pretrain", cube_path, "--output", tmp_path / "file", "--overwrite", expect=2)
    assert "is a file, not an encoder folder" in err and (tmp_path / "file").read_text() == "keep me"
    assert not (tmp_path / "enc").exists()
