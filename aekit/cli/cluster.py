"""``aekit cluster``: cluster data through an autoencoder's codes; clusters.csv, the model and a report.

    aekit cluster --data digits --n-clusters 10 --out runs/digits-clusters
    aekit cluster --data table.csv --n-clusters auto --epochs 50 --out runs/groups
    aekit cluster --model runs/groups/model --data more.csv --out runs/more-groups     # apply a saved one

Fits a :class:`aekit.Clusterer` (codes -> UMAP -> Gaussian mixture) on every sample of the data (train and
test parts; ``--fit DATA``: on other data), or applies a saved one (``--model``), and writes ``clusters.csv``
(index, cluster, and the known label when the data has labels), ``model/`` (when it fits) and
``report.html``: the 2-D map of the codes colored by cluster and, with labels, by label; the cluster sizes;
with labels, the contingency table and ACC (Hungarian matching) / NMI / ARI beside k-means on the raw data.
Labels are never used to fit.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aekit.cli.common import CLIError, add_output_folder, bounded, is_stream, load_all, make_estimator, output_folder, \
    pieces, take
from aekit.cli.grammar import add_fit_flags, add_model_source, refuse_fit_flags

MAP_ROWS = 2000   # the report's map of streamed data: codes of this many rows drawn at random


def add_parser(sub) -> None:
    p = sub.add_parser("cluster", help="cluster data through autoencoder codes (N2D); writes clusters.csv, model/, "
                       "report.html")
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, ...) or a path (.npy, .npz, .csv, "
                   "image folder); all its samples (train and test parts) are clustered")
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR)")
    p.add_argument("--n-clusters", help="when fitting: number of clusters, or 'auto' (lowest BIC of the mixture "
                   "on the embedding, 2 to --param max_clusters); default 10")
    p.add_argument("--limit", type=int, help="use only the first N samples of each part of the data")
    add_model_source(p, "clusterer", registered="clusterer", fit_help="fit the clusterer on DATA instead of --data "
                     "(dataset name or path), then cluster --data; written to OUT/model")
    add_fit_flags(p, "clusterer", registered="clusterer", when="without --model")
    add_output_folder(p, "output folder: clusters.csv, model/ (when it fits), report.html")
    p.set_defaults(handler=run)


def _n_clusters(text: str):
    if text == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(f"--n-clusters {text!r}: expected a positive integer or 'auto'")
    return k


def run(args: argparse.Namespace) -> int:
    from aekit.estimators import Clusterer

    if args.model is None:
        clusterer = make_estimator(Clusterer, args, n_clusters=_n_clusters(args.n_clusters or "10"))
    else:
        if args.fit is not None:
            raise CLIError(f"--model {args.model} applies a saved clusterer and --fit {args.fit} fits a new one; "
                           "pass one")
        if args.n_clusters is not None:
            raise CLIError(f"--n-clusters {args.n_clusters} sets a fit, but --model {args.model} is applied; a saved "
                           "clusterer keeps its clusters")
        refuse_fit_flags(args, why=f"--model {args.model} is applied, not fitted")
        clusterer = _load(args.model)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        return _cluster(args, out, clusterer)


def _load(path: str):
    import aekit
    from aekit.estimators import Clusterer

    est = aekit.load(path)
    if not isinstance(est, Clusterer):
        raise CLIError(f"{path} holds a {type(est).__name__}, not a Clusterer (aekit cluster ... writes one to "
                       "OUT/model)")
    return est


def _cluster(args: argparse.Namespace, out: Path, clusterer) -> int:
    from aekit.fileio import atomic_write_bytes
    from aekit.metrics import clustering_scores, contingency
    from aekit.report.figures import latent_map
    from aekit.report.html import write_report

    ds, X, y = load_all(args.data, args.data_dir, args.limit, stream=True)   # a stream when larger than memory
    fitted_here = args.model is None and args.fit is None
    if fitted_here and not is_stream(X):
        labels = clusterer.fit_predict(X)
    else:
        if args.model is None:   # data too large to hold are clustered on a sample; every row is then assigned
            clusterer.fit(bounded(X if args.fit is None else load_all(args.fit, args.data_dir, args.limit,
                                                                      stream=True)[1], "the Clusterer is fitted"))
        labels = np.concatenate([clusterer.predict(part) for part in pieces(X)])
    if args.model is None:
        clusterer.autoencoder_.metadata["fitted_on"] = {"dataset": args.fit or args.data, "data_dir": args.data_dir,
                                                        "limit": args.limit}
        clusterer.save(out / "model")
    atomic_write_bytes(out / "clusters.csv", lambda f: _write_clusters(f, labels, y))

    sizes = np.bincount(labels, minlength=clusterer.n_clusters_)
    metrics = {"n_samples": len(X), "n_clusters": clusterer.n_clusters_, "largest_cluster": int(sizes.max()),
               "smallest_cluster": int(sizes.min())}
    shown = np.arange(len(X))
    if is_stream(X):
        shown = np.sort(np.random.default_rng(0).choice(len(X), size=min(len(X), MAP_ROWS), replace=False))
        picture = clusterer.map_2d(take(X, shown))
    else:
        picture = clusterer.map_2d() if fitted_here else clusterer.map_2d(X)
    extra = {"2-D map of the codes, coloured by cluster": latent_map(picture, labels[shown])}
    baselines = []
    if y is not None:
        from sklearn.cluster import KMeans

        flat = clusterer._validate(X, reset=False).reshape(len(X), -1)
        metrics.update(clustering_scores(y, labels))
        raw = KMeans(clusterer.n_clusters_, n_init=10, random_state=0).fit_predict(flat)
        baselines = [{"method": "aekit Clusterer", **clustering_scores(y, labels)},
                     {"method": "k-means on the raw data", **clustering_scores(y, raw)}]
        extra["2-D map of the codes, coloured by known label"] = latent_map(picture, y)
        extra["Contingency table (rows: labels, columns: clusters)"] = _contingency_figure(*contingency(y, labels))
    summary = {"data": ds.name, "samples": len(X), "model": clusterer.autoencoder_.model.name,
               "latent_dim": clusterer.latent_dim, "embedding": clusterer.embedding, "method": clusterer.method}
    write_report(out / "report.html", title="aekit clustering", summary=summary, metrics=metrics,
                 baselines=baselines, history=clusterer.history_, extra_figures=extra)
    print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2))
    print(f"wrote {out}/clusters.csv and {out}/report.html", file=sys.stderr)
    return 0


def _write_clusters(f, labels: np.ndarray, y, rows: int = 100_000) -> None:
    """clusters.csv (index, cluster and the known label), ``rows`` lines at a time."""
    f.write(("index,cluster" + (",label" if y is not None else "") + "\n").encode())
    for a in range(0, len(labels), rows):
        f.write("".join(f"{i},{labels[i]}" + (f",{y[i]}" if y is not None else "") + "\n"
                        for i in range(a, min(a + rows, len(labels)))).encode())


def _contingency_figure(table: np.ndarray, classes, clusters) -> bytes:
    from aekit.report.figures import figure_to_png, new_figure

    fig = new_figure(figsize=(1.2 + 0.45 * len(clusters), 1.0 + 0.4 * len(classes)))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(table, cmap="Blues", aspect="auto")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, str(table[i, j]), ha="center", va="center", fontsize=6,
                    color="white" if table[i, j] > 0.6 * table.max() else "black")
    ax.set_xticks(range(len(clusters)), [str(c) for c in clusters], fontsize=7)
    ax.set_yticks(range(len(classes)), [str(c) for c in classes], fontsize=7)
    ax.set_xlabel("cluster")
    ax.set_ylabel("label")
    fig.tight_layout()
    return figure_to_png(fig)
