"""Sub-commands of the ``sitsbench`` command line, one module per topic."""
