"""timm 2D image networks as STR classifiers, behind sitsbench's :class:`~sitsbench.models.base.SITSClassifier`.

Deep-STaR (Chelali et al. 2021) fine-tunes an ImageNet CNN on the planar representations. Nothing can be
downloaded here, so these models are built with ``pretrained=False`` and trained from scratch; a local
checkpoint (a timm state dict, e.g. ImageNet weights copied by hand) can be loaded with ``checkpoint_path``
(its first convolution and classifier are skipped when their shapes differ, as for ``in_chans`` != 3).
Inputs are STRs ``(B, C, H, W)`` (height = time, width = curve); the input size is small for CPU runs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import register_model

PLANE = "plane"


class TimmPlaneClassifier(SITSClassifier):
    """A timm backbone (classifier removed) + sitsbench's linear head. ``img_size`` = ``(H, W)`` of the STRs
    (needed by ViTs, ignored by CNNs)."""

    input_kind = PLANE

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        timm_name: str = "resnet18",
        img_size: tuple[int, int] | None = None,
        checkpoint_path: str | Path | None = None,
        **timm_kwargs,
    ):
        super().__init__()
        with warnings.catch_warnings():  # timm -> huggingface_hub -> tqdm.auto warns in a kernel without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            import timm  # imported here so that importing the model registry stays fast

        if img_size is not None:
            timm_kwargs["img_size"] = tuple(img_size)
        self.backbone = timm.create_model(
            timm_name, pretrained=False, in_chans=in_channels, num_classes=0, **timm_kwargs
        )
        if checkpoint_path is not None:
            self._load_checkpoint(Path(checkpoint_path))
        self.init_head(self.backbone.num_features, num_classes)

    def _load_checkpoint(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint_path {path} does not exist (a timm state dict is expected)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.backbone.state_dict()
        compatible = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not compatible:
            raise ValueError(f"checkpoint {path} shares no parameter with the {type(self.backbone).__name__} backbone")
        self.backbone.load_state_dict(compatible, strict=False)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"STR classifiers take (B, C, H, W) planes, got a tensor of shape {tuple(x.shape)}")
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)


@register_model("plane_resnet18", input_kind=PLANE)
def plane_resnet18(in_channels: int, num_classes: int, **kwargs) -> TimmPlaneClassifier:
    """timm ``resnet18`` (He et al. 2016) on STRs, from scratch."""
    return TimmPlaneClassifier(in_channels, num_classes, timm_name="resnet18", **kwargs)


@register_model("plane_vit_tiny", input_kind=PLANE)
def plane_vit_tiny(
    in_channels: int, num_classes: int, img_size: tuple[int, int] = (32, 32), patch_size: int = 8, **kwargs
) -> TimmPlaneClassifier:
    """timm ``vit_tiny_patch16_224`` (Dosovitskiy et al. 2021) resized for CPU: ``img_size`` = the STR size,
    ``patch_size`` 8, mean-pooled patch tokens; from scratch."""
    return TimmPlaneClassifier(
        in_channels, num_classes, timm_name="vit_tiny_patch16_224", img_size=img_size,
        patch_size=patch_size, global_pool="avg", **kwargs,
    )


@register_model("plane_timm", input_kind=PLANE)
def plane_timm(in_channels: int, num_classes: int, timm_name: str = "resnet10t", **kwargs) -> TimmPlaneClassifier:
    """Any timm model by name (``timm_name``), e.g. the smaller ``resnet10t`` for quick CPU runs."""
    return TimmPlaneClassifier(in_channels, num_classes, timm_name=timm_name, **kwargs)
