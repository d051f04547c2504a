"""Semantic segmentation of patches cut from the cube: metrics, three protocols, and a figure.

Modules: :mod:`.protocol` (configuration, training, the protocols), :mod:`.patches` (majority classes,
embedded patches), :mod:`.figure` (the figure); the network of the ``frozen`` / ``finetune`` protocols is
:class:`sitsbench.models.pixel_segmenter.PixelEncoderSegmenter`.

A patch ``(T, C, P, P)`` of the series is mapped to a ``(P, P)`` map of classes. Three protocols compare what a
pretrained *pixel* encoder is worth for a dense task:

* ``"utae"`` — U-TAE trained from scratch (Garnot & Landrieu 2021, "Panoptic Segmentation of Satellite Image Time
  Series with Convolutional Temporal Attention Networks", ICCV), the supervised spatio-temporal reference;
* ``"frozen"`` — a pretrained pixel encoder (any series :class:`~sitsbench.models.base.SITSClassifier`: an SSL
  transformer from :func:`sitsbench.ssl.pretrain.pretrain`, an auto-encoder's encoder wrapped by
  :class:`~sitsbench.autoencoders.classifiers.EncoderClassifier`...) is applied to every pixel of the patch to give a
  ``(B, D, H, W)`` feature map, and only a small convolutional decoder is trained. The encoder stays in ``eval()``
  mode and receives no gradient: this is the dense analogue of the linear probe ("frozen encoder + decoder", as in
  the segmentation evaluations of SSL papers such as Caron et al. 2021, DINO). The embedding maps of the training
  patches are computed once (:class:`EmbeddedPatches`) and only the decoder runs at every step;
* ``"finetune"`` — the same network, with the encoder trained too at a smaller learning rate.

The decoder is either ``"linear"`` (a 1x1 convolution: each pixel is classified from its own embedding alone) or
``"conv"`` (two 3x3 convolutions with GroupNorm before the 1x1 head: neighbouring embeddings are combined, which
the pixel encoder cannot do; GroupNorm, as in U-TAE's encoder, behaves the same in training and inference even
after a few steps on a handful of patches, which batch-norm running statistics do not).

**Metrics** (all from one confusion matrix, :func:`sitsbench.metrics.classification_metrics`): overall accuracy, intersection over union
per class ``TP / (TP + FP + FN)`` and its mean (mIoU, over the classes present in the reference or the
prediction). Pixels whose reference equals ``ignore_index`` (unlabelled, other splits) are left out everywhere.

**Split.** Parcels are split into train/test by spatial blocks of the patch size
(:func:`sitsbench.data.splits.split_parcels` with ``by="block"``), so that a patch lies (almost) entirely in one
split; labels of pixels from the other split are ignored (:class:`~sitsbench.data.datasets.PatchDataset`).
``label_fraction`` keeps a nested, seeded subset of the training patches, stratified by each patch's majority class
(:func:`sitsbench.evaluation.label_fraction.stratified_fraction`: at least one patch per majority class, so very small
fractions of a small cube round up).

>>> run = segment(cube, "frozen", encoder=pretrained, label_fraction=0.1,
...               config=SegmentationConfig(train=replace(SEGMENTATION_TRAINING, epochs=20)))
>>> run.scores["miou"], run.scores["iou_per_class"]          # tidy, JSON-friendly
>>> fig = plot_segmentation(run, cube)                       # RGB, NDVI, reference, prediction
>>> table = segmentation_table(cube, METHODS, pretrained, label_fractions=(0.1, 1.0), seeds=(0, 1))
"""

from sitsbench.evaluation.segmentation.figure import plot_segmentation
from sitsbench.evaluation.segmentation.patches import EmbeddedPatches, patch_majority
from sitsbench.evaluation.segmentation.protocol import (
    METHODS,
    SEGMENTATION_TRAINING,
    SegmentationConfig,
    SegmentationRun,
    build_segmenter,
    predict_patches,
    run_segmentation,
    segment,
    segmentation_table,
    train_segmenter,
)
from sitsbench.models.pixel_segmenter import DECODERS, DecoderOnly, PixelEncoderSegmenter

__all__ = [
    "DECODERS",
    "METHODS",
    "DecoderOnly",
    "EmbeddedPatches",
    "PixelEncoderSegmenter",
    "SEGMENTATION_TRAINING",
    "SegmentationConfig",
    "SegmentationRun",
    "build_segmenter",
    "patch_majority",
    "plot_segmentation",
    "predict_patches",
    "run_segmentation",
    "segment",
    "segmentation_table",
    "train_segmenter",
]
