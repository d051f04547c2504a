"""Deep-STaR spatio-temporal planar representations (Chelali, Kurtz & Vincent, VISAPP 2020; CVIU 2021).

``curves`` draws curves through a parcel, ``extract`` reads the cube along them into ``(n, C, H=time,
W=curve)`` images, ``dataset`` wraps them for torch and averages STR probabilities per parcel,
``classifiers`` registers timm 2D networks (``input_kind="plane"``) and ``saliency`` projects Grad-CAM maps
back to dates and pixels.
"""

from sitsbench.planes.classifiers import TimmPlaneClassifier
from sitsbench.planes.curves import CURVES, GLOBAL_CURVES, LOCAL_CURVES
from sitsbench.planes.dataset import PlaneDataset, parcel_average, parcel_labels, predict_parcels
from sitsbench.planes.extract import Planes, extract_planes, parcel_boxes, random_walk_planes
from sitsbench.planes.saliency import grad_cam, spatial_map, temporal_profile

__all__ = [
    "CURVES", "GLOBAL_CURVES", "LOCAL_CURVES", "PlaneDataset", "Planes", "TimmPlaneClassifier", "extract_planes",
    "grad_cam", "parcel_average", "parcel_boxes", "parcel_labels", "predict_parcels", "random_walk_planes",
    "spatial_map", "temporal_profile",
]
