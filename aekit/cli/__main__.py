"""``python -m aekit.cli ...`` (what torchrun launches) is the ``aekit`` command."""
import sys

from aekit.cli import main

sys.exit(main())
