"""``python -m sitsbench ...``: the command line, as ``torchrun -m sitsbench pretrain ...`` starts it."""

import sys

from sitsbench.cli import main

sys.exit(main())
