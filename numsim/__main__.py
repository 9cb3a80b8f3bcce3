"""``python -m numsim``: the ``numsim`` command (:func:`numsim.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
