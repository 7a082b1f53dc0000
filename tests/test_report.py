"""Tests for aekit.report (HTML run report and figures)."""

from __future__ import annotations

import importlib.util
import io
import re
import sys

import numpy as np
import pytest

from aekit.report import anomaly as anomaly_figures
from aekit.report import figures
from aekit.report import (
    figure_to_png,
    latent_map,
    loss_curves,
    reconstruction_grid,
    write_report,
)
from aekit.report.html import format_value, readable_label

PNG_SIG = b"\x89PNG\r\n\x1a\n"
DATA_URI = "data:image/png;base64,"

BASELINES = [
    {"method": "aekit conv", "code_size": 32, "test_mse": 0.0041},
    {"method": "PCA", "code_size": 32, "test_mse": 0.0168},
    {"method": "mean", "test_mse": 0.0712, "notes": "predicts the mean"},
]
HISTORY = [
    {"epoch": e, "train_loss": 0.1 / e, "val_loss": 0.12 / e, "lr": 3e-3,
     "time": 2.1, "train_recon": 0.09 / e, "val_recon": 0.1 / e}
    for e in range(1, 6)
]
METRICS = {"test_mse": 0.0041234567, "psnr_db": 23.98765, "n_params": 12345}
SUMMARY = {"dataset": "digits", "model": "conv", "latent dim": 32,
           "epochs": 5, "training time (s)": 10.52}


def _images(seed=0, shape=(20, 1, 8, 8)):
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    return x, np.clip(x + 0.05 * rng.standard_normal(shape), -0.2, 1.2)


def _tables(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, 5))
    return x, x + 0.1 * rng.standard_normal((20, 5))


def _report(tmp_path, name="run.html", **kw):
    args = dict(title="My run", summary=SUMMARY, metrics=METRICS,
                baselines=BASELINES, history=HISTORY)
    args.update(kw)
    return write_report(tmp_path / name, **args)


def _assert_self_contained(text):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", text, re.I)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()


def _assert_png(path):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIG


# ----------------------------------------------------------------- figures


def test_figure_functions_return_png():
    x, r = _images()
    assert reconstruction_grid(x, r, n=4)[:8] == PNG_SIG
    rgb_x, rgb_r = _images(shape=(3, 3, 6, 5))
    assert reconstruction_grid(rgb_x, rgb_r)[:8] == PNG_SIG  # n > N is fine
    t, tr = _tables()
    assert reconstruction_grid(t, tr, n=10)[:8] == PNG_SIG  # capped at 5
    assert loss_curves(HISTORY)[:8] == PNG_SIG
    rng = np.random.default_rng(0)
    for k in (1, 2, 5):
        assert latent_map(rng.standard_normal((30, k)), None)[:8] == PNG_SIG
    assert latent_map(rng.standard_normal((30, 3)),
                      np.array(["a", "b", "c"] * 10))[:8] == PNG_SIG


def test_figure_to_png_with_plain_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    assert figure_to_png(fig)[:8] == PNG_SIG


def test_no_pyplot_state():
    x, r = _images()
    reconstruction_grid(x, r, n=3)
    loss_curves(HISTORY[:2])
    latent_map(np.random.default_rng(0).standard_normal((10, 2)), None)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # imported by something else: must hold no figures
        assert pyplot.get_fignums() == []


def test_loss_curves_single_epoch_and_non_positive():
    assert loss_curves([{"epoch": 1, "train_loss": 0.05}])[:8] == PNG_SIG
    # no epoch key, negative values (linear scale), missing val at some epochs
    hist = [{"train_loss": -1.0, "val_loss": 0.5}, {"train_loss": 0.2},
            {"train_kl": float("nan"), "train_loss": 0.1}]
    assert loss_curves(hist)[:8] == PNG_SIG


def test_loss_curves_bad_input():
    with pytest.raises(ValueError):
        loss_curves([])
    with pytest.raises(ValueError):
        loss_curves([{"epoch": 1, "lr": 0.1}])


def test_latent_map_many_points_and_classes():
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((6000, 4))  # subsampled to 5000
    assert latent_map(codes, rng.integers(0, 15, 6000), embedding="pca")[:8] == PNG_SIG
    assert latent_map(codes[:200], rng.random(200))[:8] == PNG_SIG  # colorbar


def test_latent_map_label_length_mismatch():
    with pytest.raises(ValueError, match=r"\(10, 2\).*\(9,\)"):
        latent_map(np.zeros((10, 2)), np.zeros(9))


# ------------------------------------------------------------------ report


@pytest.mark.parametrize("kind", ["images", "tables"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_report_full(tmp_path, kind, k):
    x, r = _images() if kind == "images" else _tables()
    rng = np.random.default_rng(k)
    codes = rng.standard_normal((20, k))
    labels = np.arange(20) % 3
    extra = {"Error histogram / test": loss_curves(HISTORY[:2])}
    out = _report(tmp_path, originals=x, reconstructions=r, codes=codes,
                  labels=labels, extra_figures=extra,
                  model_summary="Encoder(\n  conv <1>\n)")
    assert out == tmp_path / "run.html"
    text = out.read_text(encoding="utf-8")
    assert text.count(DATA_URI) == 4
    _assert_self_contained(text)
    # metrics (4 significant digits) and summary
    assert "0.004123" in text and "23.99" in text and "12345" in text
    assert "digits" in text and "latent dim" in text
    # baselines: union of columns in order of first appearance
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", text).group(1)
    assert re.findall(r"<th>(.*?)</th>", head) == [
        "method", "code size", "test MSE", "notes"]
    assert "0.0168" in text and "PCA" in text and "predicts the mean" in text
    # model summary escaped in <pre>
    assert "<pre>Encoder(\n  conv &lt;1&gt;\n)</pre>" in text
    # figure order and PNG files next to the HTML
    names = ["run_reconstructions.png", "run_loss.png", "run_latent.png",
             "run_error_histogram_test.png"]
    positions = [text.index(n) for n in names]
    assert positions == sorted(positions)
    for n in names:
        _assert_png(tmp_path / n)


def test_report_best_baseline_marked(tmp_path):
    rows = [{"method": "PCA", "test_mse": 0.0168},
            {"method": "aekit conv", "test_mse": 0.0041},
            {"method": "broken", "test_mse": float("nan")},
            {"method": "no mse"}]
    text = _report(tmp_path, baselines=rows).read_text(encoding="utf-8")
    best = re.findall(r'<tr class="best"[^>]*>(.*?)</tr>', text)
    assert len(best) == 1
    assert "aekit conv" in best[0] and "0.0041" in best[0]


def test_report_minimal_without_figures(tmp_path):
    out = write_report(tmp_path / "sub" / "r.html", title="t", summary={},
                       metrics={}, baselines=[], history=[])
    text = out.read_text(encoding="utf-8")
    assert DATA_URI not in text
    assert "<section" not in text  # no empty sections
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["r.html"]


def test_report_history_only_and_codes_without_labels(tmp_path):
    codes = np.random.default_rng(0).standard_normal((20, 2))
    out = _report(tmp_path, codes=codes)
    text = out.read_text(encoding="utf-8")
    assert text.count(DATA_URI) == 2
    _assert_png(tmp_path / "run_loss.png")
    _assert_png(tmp_path / "run_latent.png")
    assert not (tmp_path / "run_reconstructions.png").exists()


def test_report_escapes_user_strings(tmp_path):
    evil = "<script>alert('x')</script>"
    out = _report(tmp_path, title=evil, summary={evil: evil},
                  metrics={"m<b>": 1.0},
                  baselines=[{"method": evil, "test_mse": 0.1}],
                  extra_figures={evil: loss_curves(HISTORY[:1])},
                  model_summary=evil)
    text = out.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "m&lt;b&gt;" in text
    _assert_png(tmp_path / "run_script_alert_x_script.png")


def test_report_is_atomic_no_temp_files(tmp_path):
    x, r = _images()
    for _ in range(2):  # overwrite an existing report too
        _report(tmp_path, originals=x, reconstructions=r)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.html", "run_loss.png", "run_reconstructions.png"]
    assert not any(p.name.endswith(".tmp") or p.name.startswith(".")
                   for p in tmp_path.iterdir())


def test_report_shape_mismatch_raises_and_writes_nothing(tmp_path):
    x, _ = _images()
    r = np.zeros((20, 1, 8, 7))
    with pytest.raises(ValueError, match=r"\(20, 1, 8, 8\).*\(20, 1, 8, 7\)"):
        _report(tmp_path, originals=x, reconstructions=r)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"\(20, 1, 8, 8\).*\(20, 1, 8, 7\)"):
        reconstruction_grid(x, r)


def test_report_bad_inputs(tmp_path):
    x, r = _images()
    with pytest.raises(ValueError, match="together"):
        _report(tmp_path, originals=x)
    with pytest.raises(ValueError, match="channel"):
        _report(tmp_path, originals=np.zeros((4, 2, 8, 8)),
                reconstructions=np.zeros((4, 2, 8, 8)))
    with pytest.raises(ValueError, match="PNG"):
        _report(tmp_path, extra_figures={"bad": b"not a png"})
    with pytest.raises(ValueError, match="list of dicts"):
        _report(tmp_path, baselines={"method": "PCA"})
    assert list(tmp_path.iterdir()) == []


def test_report_requires_keyword_arguments(tmp_path):
    with pytest.raises(TypeError):
        write_report(tmp_path / "r.html", "title", {}, {}, [], [])  # noqa


# ------------------------------------------------------- what a reader sees


def _drawn(monkeypatch, module, draw):
    """The matplotlib figure that ``draw()`` renders through ``module.new_figure``."""
    made, real = [], figures.new_figure

    def spy(**kw):
        made.append(real(**kw))
        return made[-1]

    monkeypatch.setattr(module, "new_figure", spy)
    draw()
    return made[-1]


def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_loss_curves_draw_a_term_equal_to_the_total_once(monkeypatch):
    hist = [{"epoch": e, "train_loss": 1 / e, "train_recon": 1 / e, "val_loss": 1.2 / e,
             "val_recon": 1.1 / e, "train_kl": 0.1 / e} for e in range(1, 6)]
    fig = _drawn(monkeypatch, figures, lambda: loss_curves(hist))
    assert _legend(fig) == ["train loss (= recon)", "val loss", "val recon", "train kl"]
    assert len(fig.axes[0].get_lines()) == 4
    assert {line.get_marker() for line in fig.axes[0].get_lines()} == {"None"}  # no marker per epoch
    one = _drawn(monkeypatch, figures, lambda: loss_curves(hist[:1]))
    assert "None" not in {line.get_marker() for line in one.axes[0].get_lines()}  # one epoch stays visible


def test_detect_figures_one_auc_format_and_no_markers(monkeypatch):
    truth = np.r_[np.zeros(50), np.ones(50)]
    scores = truth + np.random.default_rng(0).normal(0, 0.7, 100)
    from sklearn.metrics import roc_auc_score

    fig = _drawn(monkeypatch, anomaly_figures, lambda: anomaly_figures.roc_curve_figure(truth, scores))
    assert _legend(fig) == [f"aekit (AUC {format_value(roc_auc_score(truth, scores))})"]  # as in the metrics table
    hist = [{"epoch": e, "0": 1 / e, "1": 2 / e} for e in range(1, 8)]
    fig = _drawn(monkeypatch, anomaly_figures, lambda: anomaly_figures.class_error_curves(hist))
    assert {line.get_marker() for line in fig.axes[0].get_lines()} == {"None"}


@pytest.mark.parametrize("key, label", [("test_mse", "test MSE"), ("pca_test_mse", "PCA test MSE"),
                                        ("wall_time_s", "wall time (s)"), ("n_samples", "number of samples"),
                                        ("roc_auc", "ROC AUC"), ("f1", "F1"), ("mean_iou", "mean IoU"),
                                        ("training time (s)", "training time (s)"), ("latent dim", "latent dim")])
def test_readable_labels(key, label):
    assert readable_label(key) == label


def test_report_sections_drop_when_empty_and_tables_are_titled(tmp_path):
    text = _report(tmp_path, baselines=[], history=[]).read_text(encoding="utf-8")
    assert "<h2>Summary</h2>" in text and "<h2>Metrics</h2>" in text
    assert 'id="baselines"' not in text and 'id="figures"' not in text
    text = _report(tmp_path, baselines_title="Per image").read_text(encoding="utf-8")
    assert "<h2>Per image</h2>" in text and "Comparison with baselines" not in text


def _embedding_calls(monkeypatch, *, umap_installed):
    calls = []
    monkeypatch.setattr(figures, "neighbour_embedding",
                        lambda z, method, *, seed: calls.append((method, z.shape)) or z[:, :2])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, package=None: (object() if umap_installed else None) if name == "umap"
                        else real(name, package))
    return calls


# a report's map is small: t-SNE, whether or not UMAP (which compiles for ~15 s in every process) is installed
@pytest.mark.parametrize("umap_installed, method", [(False, "tsne"), (True, "tsne")])
def test_latent_map_embeds_wide_codes_on_a_bounded_subsample(monkeypatch, umap_installed, method):
    calls = _embedding_calls(monkeypatch, umap_installed=umap_installed)
    codes = np.random.default_rng(0).standard_normal((3000, 8))
    latent_map(codes, np.arange(3000) % 10)
    assert calls == [(method, (figures.MAX_EMBED_POINTS, 8))]
    latent_map(codes, embedding="pca")        # linear projection on request
    latent_map(codes[:, :2])                  # 2-D codes are drawn as they are
    assert len(calls) == 1
    with pytest.raises(ValueError, match="embedding='isomap'"):
        latent_map(codes, embedding="isomap")


@pytest.mark.quality
def test_tsne_view_of_digit_codes_keeps_the_classes_pca_mixes():
    from sklearn.decomposition import PCA
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from tests.helpers import digits

    X, y = digits()
    z = PCA(8, random_state=0).fit_transform(X.reshape(len(X), -1))[:figures.MAX_EMBED_POINTS]  # an 8-D code
    y = y[:figures.MAX_EMBED_POINTS]

    def knn(view):
        return cross_val_score(KNeighborsClassifier(5), view, y, cv=3).mean()

    tsne = knn(figures.neighbour_embedding(z, "tsne", seed=0))
    pca = knn(np.column_stack(figures._pca_2d(z)[:2]))
    assert tsne > 0.85 and tsne > pca + 0.2, (tsne, pca)


def test_side_by_side_shows_small_images_large_and_large_ones_at_1_to_1():
    from PIL import Image

    small = np.random.default_rng(0).random((8, 8))
    img = np.asarray(Image.open(io.BytesIO(figures.side_by_side({"before": small, "after": small}))))
    assert img.shape[0] >= 256 and img.shape[1] >= 2 * 256  # each panel at least 256 px

    big = np.random.default_rng(1).random((512, 600))
    png = figures.side_by_side({"before": big, "restored": big, "original": big})
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert grey.shape[1] <= 1060  # shown unscaled in the report
    # a centre crop appears pixel for pixel: find the middle of its middle row in the picture
    row = np.round(big[256, 200:400] * 255).astype(np.uint8).tobytes()
    assert any(row in line.tobytes() for line in grey)


@pytest.mark.parametrize("n, umap_installed, method", [(5000, True, "tsne"), (5001, True, "umap"),
                                                        (5001, False, "tsne")])
def test_auto_embedding_compiles_nothing_for_small_maps(monkeypatch, n, umap_installed, method):
    from aekit.embedding import embedding_method

    _embedding_calls(monkeypatch, umap_installed=umap_installed)
    assert embedding_method("auto", n) == method
    assert embedding_method("pca", n) == "pca"
