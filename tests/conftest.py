"""Shared pytest setup.

Session-level default for the data directory: when ``AEKIT_DATA_DIR`` is not set and
``<repo>/../shared/data`` exists (developer machines and CI), point ``AEKIT_DATA_DIR`` there so
that tests needing real data (e.g. MNIST) find it; those tests skip when it is absent.
"""
import os
from pathlib import Path

_SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
if not os.environ.get("AEKIT_DATA_DIR") and _SHARED_DATA.is_dir():
    os.environ["AEKIT_DATA_DIR"] = str(_SHARED_DATA)
