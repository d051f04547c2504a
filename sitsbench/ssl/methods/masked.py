"""Masked-series modelling for SITS encoders: hide whole dates, reconstruct their values.

The pretext task follows U-BARN (Dumeur et al. 2024, "Self-Supervised Spatio-Temporal Representation Learning of
Satellite Image Time Series", IEEE JSTARS 17): random *dates* of each series are withheld from the encoder and their
reflectances are reconstructed, the loss covering only the withheld dates that are clear (clouds are never targets).
U-BARN rather than Presto (Tseng et al. 2023) because its setting is ours: single-sensor, irregular, cloud-masked
series encoded by a temporal network; Presto's masking of channel groups and of contiguous spans across sensors and
derived products (its structured masks over S1/S2/ERA5/DEM tokens) has no counterpart in a single-sensor series.
Where U-BARN decodes its per-date outputs, the decoder here (:class:`~sitsbench.ssl.heads.DateDecoder`, the head
dropped after pretraining) reads the pooled embedding and the day of year of the date to fill, so the method fits
every encoder, the L-TAE (which has no per-date output) included.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sitsbench.autoencoders.losses import expand_mask, masked_mse
from sitsbench.distributed import rank, world_size
from sitsbench.ssl.heads import DateDecoder
from sitsbench.ssl.methods.base import Method, encode_view


class MaskedSeries(Method):
    """Each clear date of a series is withheld with probability ``mask_ratio`` (its values zeroed and its mask set
    to False in the encoder's input; at least one clear date stays visible); the decoder predicts every band at the
    withheld clear dates from the embedding of the rest; the loss is their mean squared error. One view per series.

    The draws depend on the seed and the step only and are made for the global batch, each rank taking its rows,
    so a run on N processes withholds the same dates as one process (and a resumed run those of the uninterrupted
    one). The recipe is the masked auto-encoders' (He et al. 2022: warm-up then cosine decay, weight decay 0.05),
    with AdamW as there."""

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=0.0, weight_decay=0.05, weight_decay_end=None)
    n_views = 1

    def __init__(self, encoder: nn.Module, in_channels: int, mask_ratio: float = 0.5, hidden_dim: int = 128,
                 seed: int = 0):
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.decoder = DateDecoder(encoder.num_features, in_channels, hidden_dim)
        self.mask_ratio, self.seed, self.step = mask_ratio, seed, 0

    @classmethod
    def from_config(cls, encoder: nn.Module, config, in_channels: int) -> MaskedSeries:
        return cls(encoder, in_channels, **{"seed": config.seed, **config.method_args})

    def hidden_dates(self, clear_dates: torch.Tensor) -> torch.Tensor:
        """The dates ``(B, T)`` to withhold among the clear ones ``clear_dates`` (drawn for the global batch)."""
        n, length = clear_dates.shape
        state = np.random.SeedSequence([self.seed, self.step]).generate_state(1)[0]
        draw = torch.rand((n * world_size(), length), generator=torch.Generator().manual_seed(int(state)))
        hidden = (draw[rank() * n:(rank() + 1) * n] < self.mask_ratio).to(clear_dates.device) & clear_dates
        nothing_left = ~(clear_dates & ~hidden).any(dim=1, keepdim=True)
        return hidden & ~nothing_left

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_views(views)
        view = views[0]
        x, mask = view["x"], view["mask"]
        clear = expand_mask(mask, x)
        hidden = self.hidden_dates(clear.any(dim=2))
        hidden_entries = hidden[:, :, None].expand_as(x)
        visible_mask = mask & ~hidden if mask.dim() == x.dim() - 1 else mask & ~hidden_entries
        masked = {**view, "x": torch.where(hidden_entries, torch.zeros_like(x), x), "mask": visible_mask}
        features = encode_view(self.encoder, masked)
        prediction = self.decoder(features, x, view["doy"])
        return masked_mse(prediction, x, clear & hidden_entries), features.detach()

    def step_end(self, step: int, total_steps: int) -> None:
        self.step = step + 1

    def resume(self, step: int, total_steps: int) -> None:
        self.step = step
