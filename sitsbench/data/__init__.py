"""Data: the SITS cube and labelled samples, the synthetic generator, readers, splits and torch datasets.

``load_dataset(spec)`` (:mod:`sitsbench.data.loading`) is the one entry point for any dataset: a synthetic
preset, a manifest name or a local path.
"""


def __getattr__(name: str):
    # load_dataset is imported on first use, so that ``import sitsbench.data`` stays light
    if name in ("load_dataset", "LoadedDataset"):
        from sitsbench.data import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'sitsbench.data' has no attribute {name!r}")
