"""Sphinx configuration of aekit's documentation site (docs/README.md says how to build it).

The API reference is generated from the docstrings (autodoc + napoleon, numpydoc style), the example gallery
(sphinx-gallery) runs every script of docs/examples/ at build time and shows its printed output and figures.
Links to NumPy, scikit-learn and PyTorch (intersphinx) need their inventories from the internet, so they are
made only when AEKIT_DOCS_ONLINE=1: CI, which reaches only package registries, builds without them.
"""
import logging
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's aekit, also when it is not installed

from aekit.version import __version__  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the examples' small models train fastest on one thread

project = "aekit"
author = "The aekit authors"
copyright = "2026, The aekit authors"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx_gallery.gen_gallery"]
ONLINE = os.environ.get("AEKIT_DOCS_ONLINE", "") == "1"
if ONLINE:
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
    }

exclude_patterns = ["_build", "README.md", "examples/README.rst", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
templates_path: list[str] = []

# API reference: members in source order, numpydoc sections read by napoleon; signatures show names and
# defaults, the type hints go beside the parameters the docstring describes (dataclasses' string annotations
# would show quoted in a signature)
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True  # defaults as written ("auto", None), not their repr at import
autoclass_content = "class"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# the example gallery: every docs/examples/plot_*.py runs at build time; a failing example fails the build
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "reference_url": {"aekit": None},
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}
# the estimators' own warnings (a collapsed model, a short fit) belong to the examples' output, not the build's
warnings.filterwarnings("ignore", category=UserWarning, module="aekit")
# TensorBoard's event reader (the tracking example) logs every file it looks for at INFO on stderr
logging.getLogger("tensorboard").setLevel(logging.WARNING)

html_theme = "furo"
html_title = f"aekit {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


def _skip_routing_methods(app, what, name, obj, skip, options):
    """scikit-learn's metadata-routing setters (``set_fit_request``, ...) are generated on every estimator and
    documented by scikit-learn, not here."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_routing_methods)
