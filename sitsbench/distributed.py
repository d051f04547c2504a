"""Several processes, one training: what ``torchrun`` starts, through PyTorch's own ``torch.distributed``.

``torchrun --nproc-per-node N -m sitsbench pretrain ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment (several machines: torchrun's
``--nnodes`` and ``--rdzv-endpoint``). :func:`start` reads them, joins the process group (``nccl`` on CUDA, ``gloo``
on CPU) and gives each process its device; a command started without torchrun is a world of one, and every helper
below is then the identity. The gradients are averaged by :class:`torch.nn.parallel.DistributedDataParallel`;
what the methods need beyond that is here:

* :func:`gather` — the batches of every rank concatenated, **with gradients** flowing back to each rank's own
  part (``all_gather_single_autograd``), as SimCLR needs for its negatives (Chen et al. 2020 gather them across
  TPU cores);
* :func:`all_mean` — a mean over the ranks without gradients (DINO's centre, Caron et al. 2021, ``main_dino.py``);
* :func:`sync_batchnorm` — batch normalisation over the global batch: ``torch.nn.SyncBatchNorm`` on CUDA, and on
  CPU (where ``SyncBatchNorm`` refuses to run) :class:`GlobalBatchNorm`, the same statistics computed from
  gathered sums. With it, N processes of B / N series compute the loss of one process of B series.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes files and prints (rank 0)."""
        return self.rank == 0


def launched() -> bool:
    """True when this process was started by torchrun (or any launcher that sets ``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str = "auto") -> tuple[World, torch.device]:
    """Join the process group torchrun prepared (no-op for a single process); returns the world and the device of
    this process (``cuda:LOCAL_RANK`` on a CUDA machine unless ``device`` says otherwise)."""
    from sitsbench.runtime import resolve_device

    if not launched():
        return World(), resolve_device(device)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank if resolved.index is None else resolved.index)
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return World(rank, size, local_rank), resolved


def stop() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` ``(n, ...)`` of every rank concatenated in rank order ``(n * world, ...)``; the gradient of each
    rank's part is summed over the ranks and returned to that rank."""
    if world_size() == 1:
        return tensor
    from torch.distributed._functional_collectives import all_gather_single_autograd

    return all_gather_single_autograd(tensor.contiguous(), 0, dist.group.WORLD)


@torch.no_grad()
def all_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks (a copy; no gradient)."""
    if world_size() == 1:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out / world_size()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation whose training statistics are those of the batch of every rank together (what
    ``torch.nn.SyncBatchNorm`` does on GPUs, here from gathered sums so that it runs on CPU with gloo). The sums
    travel with gradients (:func:`gather`), so the backward pass is that of one batch normalisation of the global
    batch. In eval mode, or in a world of one, it is ``torch.nn.BatchNorm``."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), x.numel() / x.shape[1], dtype=x.dtype, device=x.device)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        total = gather(local[None]).sum(0)
        channels = x.shape[1]
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:2 * channels] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        shape = (1, channels) + (1,) * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every batch normalisation computed over the global batch (in a world of one: unchanged)."""
    if world_size() == 1:
        return module
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_global(module)


def _to_global(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats).to(next(iter(module.state_dict().values())).device)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
        if module.affine:
            out.weight.requires_grad_(module.weight.requires_grad)
            out.bias.requires_grad_(module.bias.requires_grad)
    for name, child in module.named_children():
        out.add_module(name, _to_global(child))
    return out
