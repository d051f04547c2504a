"""Masked-series modelling for SITS encoders: hide whole dates, reconstruct their values.

The pretext task follows U-BARN (Dumeur et al. 2024, "Self-Supervised Spatio-Temporal Representation Learning of
Satellite Image Time Series", IEEE JSTARS 17, doi:10.1109/JSTARS.2024.3358066): a time-series reconstruction task
inspired by BERT, in which masked elements of an irregular, cloudy series are reconstructed and only clear
observations are targets. Here the masked element is a whole date of a pixel series (its values withheld from the
encoder), and the loss covers the withheld dates that are clear. U-BARN rather than Presto (Tseng et al. 2023)
because its setting is ours: single-sensor, irregular, cloud-masked series encoded by a temporal network; Presto's
structured masks over channel groups of several sensors and derived products (S1, S2, ERA5, DEM, ...) have no
counterpart in a single-sensor series. Where U-BARN decodes its per-date outputs, the decoder here
(:class:`~sitsbench.ssl.heads.DateDecoder`, the head dropped after pretraining) reads the pooled embedding and the day
of year of the date to fill, so the method fits every encoder, the L-TAE (which has no per-date output) included.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.distributed import all_mean
from sitsbench.ssl.augment import HideDates
from sitsbench.ssl.heads import DateDecoder
from sitsbench.ssl.methods.base import Method, encode_view
from sitsbench.training.losses import expand_mask, masked_mse


class MaskedSeries(Method):
    """Each clear date of a series is withheld with probability ``mask_ratio`` (drawn with the view's augmentations
    by :class:`~sitsbench.ssl.augment.HideDates`, at least one clear date left visible): its values are zeroed and
    its mask set to False in the encoder's input; the decoder predicts every band at the withheld clear dates from the
    embedding of the rest; the loss is their mean squared error. One view per series.

    The draws come with the view's augmentations (seeded per series), so N processes hide the dates one process
    hides; the squared errors are divided by the number of withheld entries of the global batch, so the mean of the
    ranks' losses is that of one process. The recipe is the masked auto-encoders' (He et al. 2022: warm-up then
    cosine decay, weight decay 0.05), with AdamW as there."""

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=0.0, weight_decay=0.05, weight_decay_end=None)
    n_views = 1

    def __init__(self, encoder: nn.Module, in_channels: int, mask_ratio: float = 0.5, hidden_dim: int = 128):
        super().__init__()
        self.hide = HideDates(mask_ratio)
        self.encoder = encoder
        self.decoder = DateDecoder(encoder.num_features, in_channels, hidden_dim)

    @classmethod
    def from_config(cls, encoder: nn.Module, config, in_channels: int) -> MaskedSeries:
        return cls(encoder, in_channels, **cls.options(config.method_args))

    def view_transforms(self) -> list:
        """:class:`~sitsbench.ssl.augment.HideDates`, after the augmentations of the global view."""
        return [self.hide]

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_views(views)
        view = views[0]
        if "hidden" not in view:
            raise ValueError("MaskedSeries reads views with the dates to hide ('hidden', drawn by its HideDates "
                             "view transform): build the views with sitsbench.ssl.pretrain.method_views; plane "
                             "views have none")
        x, mask, hidden = view["x"], view["mask"], view["hidden"].bool()
        hidden_entries = hidden[:, :, None].expand_as(x)
        visible_mask = mask & ~hidden if mask.dim() == x.dim() - 1 else mask & ~hidden_entries
        masked = {**view, "x": torch.where(hidden_entries, torch.zeros_like(x), x), "mask": visible_mask}
        features = encode_view(self.encoder, masked)
        prediction = self.decoder(features, x, view["doy"])
        targets = expand_mask(mask, x) & hidden_entries
        count = targets.sum().to(x.dtype)
        loss = masked_mse(prediction, x, targets) * count / all_mean(count).clamp_min(1)
        return loss, features.detach()
