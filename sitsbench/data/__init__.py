"""Data: the SITS cube convention, the synthetic generator, readers, splits and torch datasets."""
