"""``python -m knflow_runtime``: serve one action (see ``--help``)."""

import sys

from .lifecycle import main

sys.exit(main())
