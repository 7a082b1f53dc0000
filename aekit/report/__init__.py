"""Run reports: self-contained HTML plus PNG figures.

The report only reads results (metrics, history, arrays); it never trains
or evaluates models.  matplotlib is imported lazily when a figure is drawn.
"""

from .figures import bar_chart, figure_to_png, image_rows, latent_map, loss_curves, reconstruction_grid, tile_images
from .html import write_report

__all__ = [
    "write_report",
    "reconstruction_grid",
    "loss_curves",
    "latent_map",
    "figure_to_png",
    "image_rows",
    "bar_chart",
    "tile_images",
]
