"""Figures for the run report, returned as PNG bytes.

The functions in this module only *draw* results that were computed
elsewhere; they never train or evaluate models.  matplotlib is imported
lazily, and figures are created through :class:`matplotlib.figure.Figure`
with an explicit Agg canvas, so no pyplot global state is touched.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from aekit.embedding import EMBEDDINGS, embedding_method, neighbour_embedding

__all__ = [
    "figure_to_png",
    "new_figure",
    "reconstruction_grid",
    "loss_curves",
    "latent_map",
    "side_by_side",
]

#: Maximum number of points drawn by :func:`latent_map`.
MAX_LATENT_POINTS = 5000
#: Maximum number of points embedded by t-SNE / UMAP (about 2 s for t-SNE on one core).
MAX_EMBED_POINTS = 1000
#: 2-D embeddings of codes with more than 2 dimensions; "auto" is UMAP when installed, else t-SNE.
_EMBEDDING_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
#: Maximum number of table samples drawn by :func:`reconstruction_grid`.
MAX_TABLE_SAMPLES = 5
#: Up to this many distinct labels are drawn as categories with a legend.
MAX_CATEGORIES = 20

_DPI = 100


def new_figure(*, figsize: tuple[float, float] = (6.4, 4.8)) -> Any:
    """Create a matplotlib figure attached to an Agg canvas.

    Parameters
    ----------
    figsize : tuple of float, optional
        Figure size in inches ``(width, height)``.

    Returns
    -------
    matplotlib.figure.Figure
        A figure that is independent of pyplot's global state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Any, *, dpi: int = _DPI) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.  If it has no canvas (or a non-Agg one), an
        Agg canvas is attached.
    dpi : int, optional
        Resolution of the PNG.

    Returns
    -------
    bytes
        The PNG-encoded image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(getattr(fig, "canvas", None), FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# --------------------------------------------------------------------------
# reconstruction grid
# --------------------------------------------------------------------------


def _as_float_array(x: Any, *, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like: {exc}") from exc
    return arr


def reconstruction_grid(
    originals: np.ndarray, reconstructions: np.ndarray, *, n: int = 10
) -> bytes:
    """Draw inputs next to their reconstructions.

    Parameters
    ----------
    originals : numpy.ndarray
        Either images shaped ``(N, C, H, W)`` with ``C`` in ``{1, 3}`` and
        values in ``[0, 1]`` (out-of-range values are clipped), or tabular
        data shaped ``(N, D)``.
    reconstructions : numpy.ndarray
        Reconstructions, same shape as `originals`.
    n : int, optional
        Number of samples to show.  For tables at most 5 are shown.

    Returns
    -------
    bytes
        PNG image.  Images give two titled rows (input / reconstruction);
        tables give one small axis per sample comparing input and
        reconstruction feature by feature.

    Raises
    ------
    ValueError
        If the shapes differ, are not 2-D or 4-D, the channel count is not
        1 or 3, the arrays are empty, or `n` < 1.
    """
    orig = _as_float_array(originals, name="originals")
    recon = _as_float_array(reconstructions, name="reconstructions")
    if orig.shape != recon.shape:
        raise ValueError(
            "originals and reconstructions must have the same shape, got "
            f"originals.shape={orig.shape} and reconstructions.shape={recon.shape}"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if orig.ndim not in (2, 4):
        raise ValueError(
            "expected images shaped (N, C, H, W) or tables shaped (N, D), got "
            f"originals.shape={orig.shape}"
        )
    if orig.shape[0] == 0 or orig.size == 0:
        raise ValueError(f"originals is empty: shape {orig.shape}")
    if orig.ndim == 4:
        if orig.shape[1] not in (1, 3):
            raise ValueError(
                f"image channel count must be 1 or 3, got shape {orig.shape}"
            )
        return _image_grid(orig, recon, n=int(n))
    return _table_grid(orig, recon, n=int(n))


def _to_hwc(img: np.ndarray) -> np.ndarray:
    img = np.nan_to_num(img, nan=0.0, posinf=1.0, neginf=0.0)
    img = np.clip(img, 0.0, 1.0)
    if img.shape[0] == 1:
        return img[0]
    return np.transpose(img, (1, 2, 0))


def tile_images(images: np.ndarray, *, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """Tile images (N, H, W) or (N, C, H, W) with values in [0, 1] into one uint8 picture (rows of ``ncols``),
    shaped (rows*(H+pad), ncols*(W+pad)) for grey, with a trailing channel axis for RGB."""
    x = _as_float_array(images, name="images")
    if x.ndim == 3:
        x = x[:, None]                                           # (N, 1, H, W)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"tile_images expects (N, H, W) or (N, C, H, W) with C in (1, 3) and N > 0, got {x.shape}")
    n, c, h, w = x.shape
    ncols = max(1, min(int(ncols), n))
    rows = -(-n // ncols)
    canvas = np.ones((rows * (h + pad) + pad, ncols * (w + pad) + pad, c), dtype=np.float32)
    for i, img in enumerate(x):
        r, col = divmod(i, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = \
            np.transpose(np.clip(np.nan_to_num(img), 0, 1), (1, 2, 0))
    out = (canvas * 255 + 0.5).astype(np.uint8)
    return out[..., 0] if c == 1 else out


def _image_grid(orig: np.ndarray, recon: np.ndarray, *, n: int) -> bytes:
    return image_rows({"input": orig, "reconstruction": recon}, n=n,
                      title="Inputs (top) and reconstructions (bottom)")


def image_rows(rows: dict[str, np.ndarray], *, n: int = 10, title: str = "") -> bytes:
    """One labelled row of images per entry of ``rows`` (each (N, C, H, W), C in {1, 3}, values in [0, 1]).

    Used for reconstructions, samples from a generative model, interpolations and denoising results.
    """
    arrays = {label: _as_float_array(a, name=label) for label, a in rows.items()}
    if not arrays:
        raise ValueError("image_rows needs at least one row")
    for label, a in arrays.items():
        if a.ndim != 4 or a.shape[1] not in (1, 3) or a.shape[0] == 0:
            raise ValueError(f"row {label!r}: expected images shaped (N, C, H, W) with C in (1, 3), got {a.shape}")
    first = next(iter(arrays.values()))
    k = min(n, min(a.shape[0] for a in arrays.values()))
    gray = first.shape[1] == 1
    h, w = first.shape[2], first.shape[3]
    cell = 1.2
    aspect = w / h if h else 1.0
    fig = new_figure(figsize=(max(3.0, k * cell * aspect + 1.2), len(arrays) * cell + 0.6))
    axes = fig.subplots(len(arrays), k, squeeze=False)
    for row, (label, data) in enumerate(arrays.items()):
        for j in range(k):
            ax = axes[row][j]
            kwargs = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if gray else {}
            ax.imshow(_to_hwc(data[j]), interpolation="nearest", **kwargs)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[row][0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.99, top=1 - 0.35 / (len(arrays) * cell + 0.6) - 0.05,
                        bottom=0.02, wspace=0.05, hspace=0.08)
    return figure_to_png(fig)


def side_by_side(images: dict[str, np.ndarray], *, width: int = 1060, min_size: int = 256) -> bytes:
    """Images of one size, ``(H, W)`` or ``(H, W, 3)`` in [0, 1], side by side under their labels, at a size
    where details can be judged (before / restored / original).

    The PNG is at most `width` px wide (a report shows it unscaled), each image in a square panel of
    ``(width - gaps) / n`` px: smaller images are enlarged by whole pixels to at least `min_size` px,
    larger ones are shrunk to the panel and followed by a row of their centre crops at 1:1.
    """
    arrays = {label: (np.clip(np.nan_to_num(_as_float_array(a, name=label)), 0, 1) * 255).round().astype(np.uint8)
              for label, a in images.items()}
    shapes = {a.shape for a in arrays.values()}
    shape = next(iter(shapes), ())
    if len(shapes) != 1 or not (len(shape) == 2 or shape[2:] == (3,)):
        raise ValueError(f"side_by_side needs images of one shape (H, W) or (H, W, 3), got {sorted(shapes)}")
    from PIL import Image

    gap, band = 8, 24                                      # px between panels; px of label above each row
    n = len(arrays)
    h, w = shape[:2]
    panel = max(min_size, (width - gap * (n + 1)) // n)
    big = max(h, w) > panel
    factor = panel / max(h, w) if big else max(1, -(-min_size // max(h, w)))
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    method = Image.LANCZOS if big else Image.NEAREST
    rows = [[(label + (f" (whole, {factor:.0%})" if big else f" (x{factor})" if factor > 1 else ""),
              np.asarray(Image.fromarray(a).resize(size, method)))
             for label, a in arrays.items()]]
    if big:
        top, left = (h - min(h, panel)) // 2, (w - min(w, panel)) // 2
        rows.append([(f"{label} (centre, 1:1)", a[top:top + panel, left:left + panel]) for label, a in arrays.items()])
    row_h = [max(img.shape[0] for _, img in row) for row in rows]
    canvas_w = gap + n * (max(img.shape[1] for row in rows for _, img in row) + gap)
    canvas = np.full((sum(row_h) + len(rows) * band + gap, canvas_w, 3), 255, dtype=np.uint8)
    fig = new_figure(figsize=(canvas_w / _DPI, canvas.shape[0] / _DPI))
    y = 0
    for row, height in zip(rows, row_h):
        x = gap
        for label, img in row:
            rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
            canvas[y + band:y + band + rgb.shape[0], x:x + rgb.shape[1]] = rgb
            fig.text(x / canvas_w, 1 - (y + band - 6) / canvas.shape[0], label, fontsize=10, va="bottom")
            x += (canvas_w - gap) // n
        y += band + height
    fig.figimage(canvas, 0, 0, origin="upper")
    return figure_to_png(fig)


def bar_chart(values: np.ndarray, *, title: str, xlabel: str, ylabel: str) -> bytes:
    """A bar per entry (codebook usage, per-unit activation rates, ...)."""
    v = _as_float_array(values, name="values").ravel()
    fig = new_figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(len(v)), v, width=1.0, color="#4477aa")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return figure_to_png(fig)


def _table_grid(orig: np.ndarray, recon: np.ndarray, *, n: int) -> bytes:
    k = min(n, MAX_TABLE_SAMPLES, orig.shape[0])
    d = orig.shape[1]
    fig = new_figure(figsize=(max(4.0, 2.6 * k), 2.8))
    axes = fig.subplots(1, k, squeeze=False, sharey=True)[0]
    x = np.arange(d)
    for j in range(k):
        ax = axes[j]
        if d <= 30:
            width = 0.4
            ax.bar(x - width / 2, orig[j], width=width, label="input",
                   color="tab:blue")
            ax.bar(x + width / 2, recon[j], width=width, label="reconstruction",
                   color="tab:orange")
        else:
            ax.plot(x, orig[j], "-", lw=1.0, label="input", color="tab:blue")
            ax.plot(x, recon[j], "--", lw=1.0, label="reconstruction",
                    color="tab:orange")
        ax.set_title(f"sample {j}", fontsize=9)
        ax.set_xlabel("feature", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("value", fontsize=8)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Input vs reconstruction per feature", fontsize=10)
    fig.tight_layout()
    return figure_to_png(fig)


# --------------------------------------------------------------------------
# loss curves
# --------------------------------------------------------------------------


def _finite_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _same_curve(a: tuple[list[float], list[float]], b: tuple[list[float], list[float]]) -> bool:
    return a[0] == b[0] and np.allclose(a[1], b[1], rtol=1e-6, atol=0.0)


def loss_curves(history: list[dict]) -> bytes:
    """Plot training curves from a per-epoch history.

    Parameters
    ----------
    history : list of dict
        One dict per epoch, e.g. ``{"epoch": 1, "train_loss": 0.05,
        "val_loss": 0.04, "lr": 3e-3, "time": 2.1, "train_recon": 0.05}``.
        ``train_loss`` and ``val_loss`` (when present) are drawn as the
        main lines; any other ``train_*`` / ``val_*`` keys are drawn as
        thinner dashed lines, except a term equal to its total at every epoch
        (the only term of a plain autoencoder), which is named in the total's
        legend entry instead (``train loss (= recon)``).  If ``epoch`` is
        missing, the 1-based position in the list is used.  Non-numeric or
        non-finite values are skipped.

    Returns
    -------
    bytes
        PNG image.  The y-axis is logarithmic when every plotted value is
        positive.  Lines carry no markers, except a single-epoch series,
        which is drawn as one.

    Raises
    ------
    ValueError
        If `history` is empty, contains non-dict entries, or has no
        ``train_*`` / ``val_*`` values to plot.
    """
    if isinstance(history, dict) or not isinstance(history, (list, tuple)):
        raise ValueError(
            f"history must be a list of dicts, got {type(history).__name__}"
        )
    if len(history) == 0:
        raise ValueError("history is empty")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise ValueError(
                f"history[{i}] must be a dict, got {type(row).__name__}"
            )

    keys: list[str] = []
    for row in history:
        for key in row:
            if (
                isinstance(key, str)
                and key.startswith(("train_", "val_"))
                and key not in keys
            ):
                keys.append(key)
    main = [k for k in ("train_loss", "val_loss") if k in keys]
    extra = [k for k in keys if k not in main]

    series: dict[str, tuple[list[float], list[float]]] = {}
    for key in main + extra:
        xs: list[float] = []
        ys: list[float] = []
        for i, row in enumerate(history):
            y = _finite_float(row.get(key))
            if y is None:
                continue
            x = _finite_float(row.get("epoch"))
            xs.append(x if x is not None else float(i + 1))
            ys.append(y)
        if ys:
            series[key] = (xs, ys)
    if not series:
        raise ValueError(
            "history has no numeric train_* / val_* values to plot; keys: "
            f"{sorted({str(k) for row in history for k in row})}"
        )

    labels = {key: key.replace("_", " ") for key in series}
    for key in list(series):
        prefix, _, term = key.partition("_")
        total = f"{prefix}_loss"
        if key != total and total in series and _same_curve(series[key], series[total]):
            labels[total] += f" (= {term.replace('_', ' ')})"
            del series[key]

    all_y = [y for _, ys in series.values() for y in ys]
    log_y = all(y > 0 for y in all_y)

    fig = new_figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    main_styles = {"train_loss": ("tab:blue", "o"), "val_loss": ("tab:orange", "s")}
    extra_colors = ["tab:green", "tab:red", "tab:purple", "tab:brown",
                    "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
    ci = 0
    for key, (xs, ys) in series.items():
        if key in main_styles:
            color, marker = main_styles[key]
            ax.plot(xs, ys, "-", color=color, lw=2.0, label=labels[key],
                    marker=marker if len(xs) == 1 else None, ms=5)
        else:
            color = extra_colors[ci % len(extra_colors)]
            ci += 1
            ax.plot(xs, ys, "--" if key.startswith("train_") else ":",
                    color=color, lw=1.2, alpha=0.9, label=labels[key],
                    marker="." if len(xs) == 1 else None, ms=6)
    if log_y:
        ax.set_yscale("log")
    if len(history) == 1:
        x0 = next(iter(series.values()))[0][0]
        ax.set_xlim(x0 - 1, x0 + 1)
    all_x = [x for xs, _ in series.values() for x in xs]
    if all(float(x).is_integer() for x in all_x):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)" if log_y else "loss")
    ax.set_title("Training curves")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return figure_to_png(fig)


# --------------------------------------------------------------------------
# latent map
# --------------------------------------------------------------------------


def latent_map(
    codes: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    max_points: int = MAX_LATENT_POINTS,
    embedding: str = "auto",
    seed: int = 0,
) -> bytes:
    """Draw the latent codes.

    Parameters
    ----------
    codes : numpy.ndarray
        Latent codes shaped ``(N, k)`` (a 1-D array is treated as
        ``(N, 1)``).  ``k == 1``: code vs sample index; ``k == 2``: direct
        scatter; ``k > 2``: scatter of a 2-D embedding (see `embedding`),
        named in the title.
    labels : numpy.ndarray or None, optional
        One label per sample.  With at most 20 distinct values the points
        are coloured categorically (``tab10`` / ``tab20``) with a legend;
        numeric labels with more distinct values use a colorbar.  ``None``
        draws every point in a single colour.
    max_points : int, optional
        Points are randomly subsampled to at most this many (and to at most
        ``MAX_EMBED_POINTS`` for t-SNE / UMAP, so a report takes seconds).
    embedding : {"auto", "tsne", "umap", "pca"}, optional
        The 2-D view of codes with ``k > 2``: t-SNE (scikit-learn, PCA
        initialisation) keeps neighbourhoods, so clusters show, and is what
        ``"auto"`` picks for the at most ``MAX_EMBED_POINTS`` points drawn
        (UMAP, which does too, compiles for ~15 s first: see
        :func:`aekit.embedding.embedding_method`); PCA is the linear
        projection of largest variance.
    seed : int, optional
        Seed of the subsampling and of the embedding.

    Returns
    -------
    bytes
        PNG image.

    Raises
    ------
    ValueError
        If `codes` is not 1-D/2-D, is empty, `labels` does not have one
        entry per sample, or `embedding` is unknown.
    """
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding={embedding!r}; expected one of {EMBEDDINGS}")
    z = _as_float_array(codes, name="codes")
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(f"codes must be shaped (N, k), got shape {z.shape}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"codes is empty: shape {z.shape}")
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim != 1 or lab.shape[0] != z.shape[0]:
            lab = lab.reshape(-1) if lab.size == z.shape[0] else None
            if lab is None:
                raise ValueError(
                    "labels must have one entry per code, got "
                    f"codes.shape={np.shape(codes)} and "
                    f"labels.shape={np.shape(labels)}"
                )
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")

    method = embedding_method(embedding, min(z.shape[0], max_points, MAX_EMBED_POINTS)) \
        if z.ndim == 2 and z.shape[1] > 2 else None
    if method in ("tsne", "umap"):
        max_points = min(max_points, MAX_EMBED_POINTS)
    index = np.arange(z.shape[0])
    if z.shape[0] > max_points:
        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(z.shape[0], size=max_points, replace=False))
        z = z[index]
        if lab is not None:
            lab = lab[index]
    z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    k = z.shape[1]
    ticks = True  # off for t-SNE / UMAP, whose coordinates mean nothing
    if k == 1:
        xs, ys = index.astype(float), z[:, 0]
        xlabel, ylabel = "sample index", "code z[0]"
        title = "Latent code (k=1)"
    elif k == 2:
        xs, ys = z[:, 0], z[:, 1]
        xlabel, ylabel = "z[0]", "z[1]"
        title = "Latent space (k=2)"
    elif method == "pca" or len(z) < 10:  # too few points for a neighbour embedding
        xs, ys, ratio = _pca_2d(z)
        xlabel = f"PCA component 1 of {k}-D codes ({ratio[0]:.1%} var.)"
        ylabel = f"PCA component 2 ({ratio[1]:.1%} var.)"
        title = f"Latent space (k={k}, PCA projection to 2-D)"
    else:
        xs, ys = neighbour_embedding(z, method, seed=seed).T
        name = _EMBEDDING_NAMES[method]
        xlabel, ylabel = f"{name} 1", f"{name} 2"
        title = f"Latent space (k={k}, {name} embedding of {len(z)} codes)"
        ticks = False

    fig = new_figure(figsize=(6.4, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    size = 12 if len(xs) <= 1000 else 4
    if lab is None:
        ax.scatter(xs, ys, s=size, color="tab:blue", alpha=0.7, linewidths=0)
    else:
        classes = _unique_labels(lab)
        numeric = np.issubdtype(lab.dtype, np.number) and not np.issubdtype(
            lab.dtype, np.bool_
        )
        if len(classes) <= MAX_CATEGORIES or not numeric:
            _categorical_scatter(fig, ax, xs, ys, lab, classes, size=size)
        else:
            sc = ax.scatter(xs, ys, s=size, c=lab.astype(float),
                            cmap="viridis", alpha=0.8, linewidths=0)
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    if ticks:
        ax.grid(True, alpha=0.3)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return figure_to_png(fig)


def _unique_labels(lab: np.ndarray) -> list[Any]:
    try:
        return list(np.unique(lab))
    except TypeError:  # mixed, unorderable objects
        seen: dict[str, Any] = {}
        for v in lab:
            seen.setdefault(repr(v), v)
        return list(seen.values())


def _categorical_scatter(fig, ax, xs, ys, lab, classes, *, size) -> None:
    from matplotlib import colormaps

    many = len(classes) > MAX_CATEGORIES
    if many:
        # Non-numeric labels with too many classes: cycle tab20, no legend.
        cmap = colormaps["tab20"]
    else:
        cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    lab_str = np.array([repr(v) for v in lab], dtype=object)
    for i, cls in enumerate(classes):
        mask = lab_str == repr(cls)
        ax.scatter(xs[mask], ys[mask], s=size, color=cmap(i % cmap.N),
                   alpha=0.8, linewidths=0, label=None if many else str(cls))
    if not many:
        ax.legend(title="label", fontsize=7, title_fontsize=8, markerscale=1.5,
                  loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _pca_2d(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    n_comp = min(2, z.shape[0], z.shape[1])
    proj = PCA(n_components=n_comp).fit(z)
    out = proj.transform(z)
    ratio = np.zeros(2)
    ratio[:n_comp] = np.nan_to_num(proj.explained_variance_ratio_)
    if n_comp < 2:
        out = np.concatenate([out, np.zeros((out.shape[0], 2 - n_comp))], axis=1)
    return out[:, 0], out[:, 1], ratio
