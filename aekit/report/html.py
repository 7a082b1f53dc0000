"""Self-contained HTML run report.

:func:`write_report` reads results that were computed elsewhere (metrics,
baselines, training history, arrays of inputs / reconstructions / codes)
and writes a single HTML file with inline CSS and base64-embedded PNG
figures, plus the PNG files themselves next to it.  Nothing is trained or
evaluated here.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html as _html
import math
import numbers
import os
import pathlib
import re
from typing import Any, Mapping

import numpy as np

from aekit.fileio import atomic_write_bytes

from . import figures as _figures

__all__ = ["write_report", "format_value", "readable_label", "slugify"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222;
       line-height: 1.4; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #eee; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e3f6e3; font-weight: bold; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .8em;
      overflow-x: auto; font-size: .85em; }
.muted { color: #777; font-size: .85em; }
"""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return _html.escape(str(value), quote=True)


def format_value(value: Any) -> str:
    """Format a table cell as plain (unescaped) text.

    Parameters
    ----------
    value : object
        Cell value.  Floats (including numpy floats) are shown with 4
        significant digits; integers as-is; ``None`` as an empty string;
        sequences are joined with ``", "``.

    Returns
    -------
    str
        The text to display.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f"{f:.4g}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return format_value(value.item())
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


_ACRONYMS = {"mse": "MSE", "psnr": "PSNR", "ssim": "SSIM", "roc": "ROC", "auc": "AUC", "pca": "PCA",
             "f1": "F1", "iou": "IoU"}


def readable_label(key: Any) -> str:
    """Turn a snake_case key into a table label: ``test_psnr`` -> ``test PSNR``,
    ``wall_time_s`` -> ``wall time (s)``, ``n_samples`` -> ``number of samples``.

    Keys that are not snake_case (``"latent dim"``, ``"training time (s)"``)
    were written for people and are returned unchanged.
    """
    text = str(key)
    if not re.fullmatch(r"[a-z0-9_]+", text):
        return text
    words = [_ACRONYMS.get(w, w) for w in text.split("_") if w]
    if len(words) > 1 and words[0] == "n":
        words[0] = "number of"
    if len(words) > 1 and words[-1] == "s":
        words[-1] = "(s)"
    return " ".join(words)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def slugify(text: str) -> str:
    """Turn a figure title into a safe file-name fragment.

    Parameters
    ----------
    text : str
        Arbitrary title.

    Returns
    -------
    str
        Lower-case ASCII letters, digits and single underscores; ``"figure"``
        if nothing is left.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    return slug[:60].strip("_") or "figure"


def _check_mapping(value: Any, *, name: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(value).__name__}")
    return value


def _key_value_table(data: Mapping, *, css_class: str) -> str:
    rows = []
    for key, value in data.items():
        cls = ' class="num"' if _is_number(value) else ""
        rows.append(
            f"<tr><th>{_esc(readable_label(key))}</th><td{cls}>{_esc(format_value(value))}</td></tr>"
        )
    return f'<table class="{css_class}">\n' + "\n".join(rows) + "\n</table>"


def _best_row(baselines: list[Mapping], *, key: str = "test_mse") -> int | None:
    best_i, best_v = None, math.inf
    for i, row in enumerate(baselines):
        value = row.get(key)
        if not _is_number(value):
            continue
        f = float(value)
        if math.isfinite(f) and f < best_v:
            best_i, best_v = i, f
    return best_i


def _baselines_table(baselines: list[Mapping]) -> str:
    columns: list[Any] = []
    for row in baselines:
        for key in row:
            if key not in columns:
                columns.append(key)
    best = _best_row(baselines)
    head = "".join(f"<th>{_esc(readable_label(c))}</th>" for c in columns)
    body = []
    for i, row in enumerate(baselines):
        cells = []
        for c in columns:
            value = row.get(c)
            cls = ' class="num"' if _is_number(value) else ""
            cells.append(f"<td{cls}>{_esc(format_value(value))}</td>")
        marker = ' class="best" data-best="true"' if i == best else ""
        body.append(f"<tr{marker}>" + "".join(cells) + "</tr>")
    note = (
        '<p class="muted">Highlighted row: lowest test MSE.</p>'
        if best is not None
        else ""
    )
    return (
        '<table class="baselines">\n<thead><tr>' + head + "</tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table>\n" + note
    )


def _figure_html(title: str, png: bytes, *, filename: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (
        "<figure>\n"
        f'<img alt="{_esc(title)}" src="data:image/png;base64,{b64}">\n'
        f"<figcaption>{_esc(filename)}</figcaption>\n"
        "</figure>"
    )


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    summary: dict,
    metrics: dict,
    baselines: list[dict],
    history: list[dict],
    originals: np.ndarray | None = None,
    reconstructions: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    extra_figures: dict[str, bytes] | None = None,
    model_summary: str | None = None,
    baselines_title: str = "Comparison with baselines",
) -> pathlib.Path:
    """Write a self-contained HTML run report and its PNG figures.

    Parameters
    ----------
    path : str or os.PathLike
        Destination HTML file.  Its parent directory is created if needed.
        Figures are also written next to it as ``<stem>_reconstructions.png``,
        ``<stem>_loss.png``, ``<stem>_latent.png`` and
        ``<stem>_<slugified extra title>.png``.
    title : str
        Report title (HTML-escaped).
    summary : dict
        Key/value run description (dataset, model, latent dim, epochs,
        training time, ...), shown as a table.  Snake-case keys here, in
        `metrics` and in `baselines` are shown through
        :func:`readable_label` (``test_mse`` -> ``test MSE``).
    metrics : dict
        Key/value metrics; floats are shown with 4 significant digits.
        Give each result once: what `summary` shows need not repeat here.
    baselines : list of dict
        Comparison rows, e.g. ``{"method": "PCA", "code_size": 32,
        "test_mse": 0.0168}``.  Columns are the union of the keys in order
        of first appearance; the row with the lowest ``test_mse`` is
        highlighted (``class="best"``).
    history : list of dict
        Per-epoch training history (see :func:`aekit.report.loss_curves`).
        An empty list skips the loss figure.
    originals, reconstructions : numpy.ndarray or None, optional
        Inputs and their reconstructions, both ``(N, C, H, W)`` or both
        ``(N, D)``.  The reconstruction figure is drawn when both are given.
    codes : numpy.ndarray or None, optional
        Latent codes ``(N, k)`` for the latent map.
    labels : numpy.ndarray or None, optional
        Labels colouring the latent map.
    extra_figures : dict of str to bytes or None, optional
        Additional figures, title to PNG bytes, embedded after the built-in
        ones.
    model_summary : str or None, optional
        Model description shown in a ``<pre>`` block.
    baselines_title : str, optional
        Heading of the `baselines` table (e.g. ``"Per image"`` when its rows
        are not baselines).

    Returns
    -------
    pathlib.Path
        The path of the written HTML file.

    Raises
    ------
    ValueError
        On inconsistent or malformed inputs (e.g. only one of `originals` /
        `reconstructions`, shapes that differ, non-PNG extra figures).

    Notes
    -----
    Sections with nothing to show (an empty `summary`, `metrics` or
    `baselines`, no figures) are left out.

    Every file is written atomically: to a temporary file in the same
    directory, then moved into place with :func:`os.replace`.  All inputs
    are validated and all figures rendered before anything is written.
    """
    out = pathlib.Path(path)
    if out.suffix == "":
        raise ValueError(f"path must name a file such as report.html, got {str(out)!r}")
    summary = _check_mapping(summary, name="summary")
    metrics = _check_mapping(metrics, name="metrics")
    if baselines is None:
        baselines = []
    if isinstance(baselines, Mapping) or not isinstance(baselines, (list, tuple)):
        raise ValueError(
            f"baselines must be a list of dicts, got {type(baselines).__name__}"
        )
    for i, row in enumerate(baselines):
        if not isinstance(row, Mapping):
            raise ValueError(f"baselines[{i}] must be a dict, got {type(row).__name__}")
    if history is None:
        history = []
    if isinstance(history, Mapping) or not isinstance(history, (list, tuple)):
        raise ValueError(
            f"history must be a list of dicts, got {type(history).__name__}"
        )
    if (originals is None) != (reconstructions is None):
        raise ValueError(
            "originals and reconstructions must be given together, got "
            f"originals.shape={None if originals is None else np.shape(originals)} "
            f"and reconstructions.shape="
            f"{None if reconstructions is None else np.shape(reconstructions)}"
        )
    if originals is not None and np.shape(originals) != np.shape(reconstructions):
        raise ValueError(
            "originals and reconstructions must have the same shape, got "
            f"originals.shape={np.shape(originals)} and "
            f"reconstructions.shape={np.shape(reconstructions)}"
        )
    if labels is not None and codes is None:
        raise ValueError("labels were given without codes")
    extras = _check_mapping(extra_figures, name="extra_figures")
    for name, png in extras.items():
        if not isinstance(png, (bytes, bytearray)) or not bytes(png).startswith(
            PNG_SIGNATURE
        ):
            raise ValueError(f"extra figure {name!r} is not PNG bytes")
    if model_summary is not None and not isinstance(model_summary, str):
        raise ValueError(
            f"model_summary must be a str, got {type(model_summary).__name__}"
        )

    # Render everything first, so that a failure writes nothing.
    stem = out.stem
    figs: list[tuple[str, str, bytes]] = []  # (title, filename, png)
    if originals is not None:
        figs.append(("Reconstructions", f"{stem}_reconstructions.png",
                     _figures.reconstruction_grid(originals, reconstructions)))
    if len(history) > 0:
        figs.append(("Loss curves", f"{stem}_loss.png",
                     _figures.loss_curves(list(history))))
    if codes is not None:
        figs.append(("Latent space", f"{stem}_latent.png",
                     _figures.latent_map(codes, labels)))
    used = {f for _, f, _ in figs}
    for name, png in extras.items():
        base = f"{stem}_{slugify(name)}"
        filename, i = f"{base}.png", 2
        while filename in used:
            filename, i = f"{base}_{i}.png", i + 1
        used.add(filename)
        figs.append((str(name), filename, bytes(png)))

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        '<p class="muted">Generated by aekit on '
        f"{_esc(_dt.datetime.now().strftime('%Y-%m-%d %H:%M:%S'))}</p>",
    ]
    for section, heading, data, table in (
        ("summary", "Summary", summary, lambda d: _key_value_table(d, css_class="summary")),
        ("metrics", "Metrics", metrics, lambda d: _key_value_table(d, css_class="metrics")),
        ("baselines", baselines_title, list(baselines), _baselines_table),
    ):
        if data:
            parts += [f'<section id="{section}">', f"<h2>{_esc(heading)}</h2>", table(data), "</section>"]
    if figs:
        parts.append('<section id="figures">')
        parts.append("<h2>Figures</h2>")
        for fig_title, filename, png in figs:
            parts.append(f"<h3>{_esc(fig_title)}</h3>")
            parts.append(_figure_html(fig_title, png, filename=filename))
        parts.append("</section>")
    if model_summary is not None:
        parts.append('<section id="model">')
        parts.append("<h2>Model</h2>")
        parts.append(f"<pre>{_esc(model_summary)}</pre>")
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    document = "\n".join(parts)

    out.parent.mkdir(parents=True, exist_ok=True)
    for _, filename, png in figs:
        atomic_write_bytes(out.parent / filename, lambda f, data=png: f.write(data))
    atomic_write_bytes(out, lambda f: f.write(document.encode("utf-8")))
    return out
