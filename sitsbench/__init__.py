"""sitsbench."""
