"""Started by ``tests/test_pretrain_archive.py`` under ``torchrun --nproc-per-node 2``: every rank computes the
distributed pieces of pretraining on its half of a fixed batch and writes what it got to ``OUT/rank<r>.pt``; the
test compares them with one process computing the whole batch."""

import sys
from pathlib import Path

import torch

from sitsbench import distributed
from sitsbench.ssl.losses import barlow_twins_loss, nt_xent, vicreg_loss


def fixed_batch():
    """The global batch every rank draws identically: projections (NT-Xent, VICReg, Barlow Twins), BatchNorm inputs,
    DINO teacher logits."""
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(8, 5, generator=generator), torch.randn(8, 5, generator=generator),
            torch.randn(8, 4, 3, generator=generator), torch.randn(8, 16, generator=generator))


def main(out: Path) -> None:
    world, _ = distributed.start("cpu")
    z1_all, z2_all, x_all, logits_all = fixed_batch()
    n = z1_all.shape[0] // world.size
    mine = slice(world.rank * n, (world.rank + 1) * n)
    z1, z2 = z1_all[mine].clone().requires_grad_(True), z2_all[mine].clone().requires_grad_(True)
    loss = nt_xent(z1, z2, 0.1)
    loss.backward()
    batch_losses = {}
    for name, function in (("vicreg", vicreg_loss), ("barlow", barlow_twins_loss)):
        a, b = z1_all[mine].clone().requires_grad_(True), z2_all[mine].clone().requires_grad_(True)
        value = function(a, b)
        value.backward()
        batch_losses |= {f"{name}_loss": value.detach(), f"{name}_grads": (a.grad, b.grad)}
    torch.manual_seed(1)
    norm = distributed.GlobalBatchNorm(4)
    x = x_all[mine].clone().requires_grad_(True)
    y = norm(x)
    (y * torch.arange(1.0, 4.0)).sum().backward()
    from sitsbench.ssl.losses import DINOLoss

    method = DINOLoss(out_dim=16)
    method.update_center(logits_all[mine])
    torch.save({"loss": loss.detach(), "z1_grad": z1.grad, "z2_grad": z2.grad, "bn_out": y.detach(),
                "bn_x_grad": x.grad, "bn_weight_grad": norm.weight.grad, "bn_running_mean": norm.running_mean,
                "bn_running_var": norm.running_var, "center": method.center, **batch_losses}, out / f"rank{world.rank}.pt")
    distributed.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
