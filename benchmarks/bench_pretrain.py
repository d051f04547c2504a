"""Pretraining at archive scale (``sitsbench pretrain``), as same-run ratios:

1. throughput (series/s of the training loop) and peak traced memory as the streamed cube grows x16;
2. 2 processes under ``torchrun`` (gloo on CPU, one thread each) against 1 process with the same threads in all, and
   against 1 process with one thread: scaling efficiency = series/s of 2 processes / (2 x series/s of 1 with 1);
3. on CUDA (when present): series/s in fp32 and bf16 autocast, and the extrapolated time of one pass over the
   120.6 M pixel series of a Sentinel-2 tile (10 980 x 10 980 px at 10 m).

    .venv/bin/python benchmarks/bench_pretrain.py [--steps 40] [--sides 64 256] [--method simclr] [--skip-torchrun]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sitsbench.perf import S2_TILE_PIXELS, pretrain_scaling, write_synthetic


def cli_throughput(cube: Path, workdir: Path, name: str, args: list[str], processes: int, threads: int) -> float:
    """series/s of one ``sitsbench pretrain`` run started as a fresh command (under torchrun when processes > 1)."""
    head = ([str(Path(sys.executable).parent / "torchrun"), "--standalone", f"--nproc-per-node={processes}"]
            if processes > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*head, "-m", "sitsbench", "pretrain", str(cube), "--output", str(workdir / name), "--overwrite",
                    "--quiet", *args], check=True, env=env, capture_output=True)
    return json.loads((workdir / name / "pretrain_record.json").read_text())["metrics"]["series_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--sides", type=int, nargs=2, default=(64, 256))
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--encoder", default="ltae_small")
    parser.add_argument("--skip-torchrun", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        small, large = pretrain_scaling(workdir, sides=tuple(args.sides), steps=args.steps, batch_size=args.batch_size,
                                        method=args.method, backbone=args.encoder, device="cpu")
        print(f"archive x{large['pixels'] // small['pixels']} ({small['cube_mib']:.1f} -> {large['cube_mib']:.1f} MiB), "
              f"CPU: series/s {small['series_per_s']:.0f} -> {large['series_per_s']:.0f} (ratio "
              f"{large['series_per_s'] / small['series_per_s']:.2f}); peak traced memory {small['peak_mib']:.1f} -> "
              f"{large['peak_mib']:.1f} MiB (ratio {large['peak_mib'] / small['peak_mib']:.2f})")
        common = ["--method", args.method, "--encoder", args.encoder, "--steps", str(args.steps), "--batch-size",
                  str(args.batch_size), "--window", "16", "--checkpoint-every", str(args.steps)]
        cpu = [*common, "--device", "cpu"]
        cube = write_synthetic(workdir, args.sides[1], chunk=16)
        if not args.skip_torchrun:
            cores = os.cpu_count() or 1
            one_thread = cli_throughput(cube, workdir, "one1", cpu, 1, 1)
            one_all = cli_throughput(cube, workdir, "oneall", cpu, 1, max(1, cores // 2) * 2)
            two = cli_throughput(cube, workdir, "two", cpu, 2, max(1, cores // 2))
            print(f"CPU, {cores} cores: 1 process x 1 thread {one_thread:.0f} series/s, 1 process x {max(1, cores // 2) * 2} "
                  f"threads {one_all:.0f}, 2 processes x {max(1, cores // 2)} threads {two:.0f}: 2 processes / 1 process "
                  f"(same threads) {two / one_all:.2f}, scaling efficiency {two / (2 * one_thread):.2f}")
        import torch

        if torch.cuda.is_available():
            rates = {}
            for precision in ("fp32", "bf16"):
                rates[precision] = cli_throughput(cube, workdir, precision,
                                                  [*common, "--device", "cuda", "--precision", precision], 1, 4)
            print(f"CUDA ({torch.cuda.get_device_name()}): fp32 {rates['fp32']:.0f} series/s, bf16 "
                  f"{rates['bf16']:.0f} (ratio {rates['bf16'] / rates['fp32']:.2f}); one pass over a Sentinel-2 tile "
                  f"({S2_TILE_PIXELS / 1e6:.1f} M series): {S2_TILE_PIXELS / rates['bf16'] / 3600:.1f} h in bf16")
        else:
            print("CUDA: no GPU on this machine (fp32 vs bf16 not measured)")


if __name__ == "__main__":
    main()
