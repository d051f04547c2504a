"""Inference at scale: land-cover maps of cubes larger than memory, chunk by chunk."""
