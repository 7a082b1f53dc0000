"""What an autoencoder's codes are worth: clustering MNIST and few-label MNIST, all in one process.

    AEKIT_DATA_DIR=../shared/data python benchmarks/representations.py                 # both parts
    AEKIT_DATA_DIR=../shared/data python benchmarks/representations.py --clustering    # one part
    AEKIT_DATA_DIR=../shared/data python benchmarks/representations.py --few-labels

--clustering: MNIST-full (the 70,000 training and test images) and MNIST-test (the 10,000 test images), the
number of clusters given (10). aekit ``Clusterer()`` with its defaults (N2D: codes -> UMAP -> Gaussian
mixture), k-means on the raw pixels, k-means on 10 PCA components, and UMAP on the raw pixels + a Gaussian
mixture (the same UMAP settings as the Clusterer's). ACC (Hungarian matching), NMI and ARI against the digit
labels, and the seconds of each fit. Published: N2D 0.979 / 0.942 (ACC / NMI) on MNIST-full and NMI 0.882 on
MNIST-test (McConville et al., ICPR 2020, Table 2).

--few-labels: 10 and 100 labelled training images per digit (3 draws each; the other training images are
given unlabelled), test accuracy on the 10,000 test images: aekit ``EncoderClassifier()`` with its defaults
(mode "joint"); the pre-trained route (an autoencoder of the same architecture trained once on the 60,000
training images without labels, then ``mode="pretrain"`` fine-tuning per draw); the same network from
scratch on the labels alone, both with the joint mode's network (mlp 1000-500-32) and with
``mode="scratch"``'s own default network (conv); logistic regression on the pixels. Published: ladder
networks 98.94 % with 100 labels (Rasmus et al., NeurIPS 2015, Table 1).

Writes benchmarks/results/representations.md/.json (a part run alone replaces only its own rows).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _mnist(part: str):
    from aekit.data import load_dataset

    ds = load_dataset("mnist")
    if part == "test":
        return ds.test.X, ds.test.y
    return np.concatenate([ds.train.X, ds.test.X]), np.concatenate([ds.train.y, ds.test.y])


def clustering_methods(aekit_params: dict, seed: int = 0) -> dict:
    def aekit(x, k):
        from aekit import Clusterer

        return Clusterer(n_clusters=k, random_state=seed, **aekit_params).fit_predict(x)

    def kmeans_raw(x, k):
        from sklearn.cluster import KMeans

        return KMeans(k, n_init=10, random_state=seed).fit_predict(x.reshape(len(x), -1) / 255.0)

    def kmeans_pca(x, k):
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA

        z = PCA(10, random_state=seed).fit_transform(x.reshape(len(x), -1) / 255.0)
        return KMeans(k, n_init=10, random_state=seed).fit_predict(z)

    def umap_raw(x, k):
        import umap
        from sklearn.mixture import GaussianMixture

        emb = umap.UMAP(n_components=k, n_neighbors=20, min_dist=0.0, random_state=seed).fit_transform(
            x.reshape(len(x), -1) / 255.0)
        return GaussianMixture(k, covariance_type="full", random_state=seed).fit(emb).predict(emb)

    return {"aekit Clusterer": aekit, "k-means on pixels": kmeans_raw, "k-means on PCA-10": kmeans_pca,
            "UMAP on pixels + GMM": umap_raw}


def run_clustering(parts: list[str], aekit_params: dict, only: list[str] | None) -> dict:
    from aekit.metrics import clustering_scores

    rows = []
    for part in parts:
        x, y = _mnist(part)
        for name, fn in clustering_methods(aekit_params).items():
            if only and not any(o in name for o in only):
                continue
            t = time.perf_counter()
            labels = fn(x, 10)
            row = {"data": f"MNIST-{part}", "n": len(x), "method": name, **clustering_scores(y, labels),
                   "seconds": time.perf_counter() - t}
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return {"config": aekit_params, "rows": rows}


def labelled_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])


def run_few_labels(per_class: list[int], draws: int, aekit_params: dict, only: list[str] | None) -> dict:
    from sklearn.linear_model import LogisticRegression

    from aekit import EncoderClassifier, Reducer
    from aekit.data import load_dataset

    ds = load_dataset("mnist")
    xtr, ytr, xte, yte = ds.train.X, ds.train.y, ds.test.X, ds.test.y
    joint = EncoderClassifier(**aekit_params)
    net = {"latent_dim": joint.latent_dim, "model": "mlp", "model_params": {"hidden": [1000, 500]}}
    want = (lambda name: not only or any(o in name for o in only))
    pretrained, pretrain_s = None, 0.0
    if want("pre-trained"):
        t = time.perf_counter()
        pretrained = Reducer(**net, epochs=20, batch_size=256).fit(xtr)
        pretrain_s = time.perf_counter() - t
        print(f"pre-trained the autoencoder once in {pretrain_s:.0f} s", flush=True)

    def fit_joint(idx, seed):
        return EncoderClassifier(**{**aekit_params, "random_state": seed}).fit(xtr[idx], ytr[idx], X_unlabeled=xtr)

    def fit_pretrained(idx, seed):
        return EncoderClassifier(encoder=pretrained, mode="pretrain", random_state=seed).fit(xtr[idx], ytr[idx])

    def fit_scratch_same(idx, seed):
        return EncoderClassifier(**net, mode="scratch", random_state=seed).fit(xtr[idx], ytr[idx])

    def fit_scratch_default(idx, seed):
        return EncoderClassifier(mode="scratch", random_state=seed).fit(xtr[idx], ytr[idx])

    def fit_logistic(idx, seed):
        class Pixels:  # logistic regression on the pixels in [0, 1]
            def __init__(self):
                self.lr = LogisticRegression(max_iter=2000, C=0.1).fit(xtr[idx].reshape(len(idx), -1) / 255.0,
                                                                       ytr[idx])

            def score(self, x, y):
                return self.lr.score(x.reshape(len(x), -1) / 255.0, y)
        return Pixels()

    methods = {"aekit joint (defaults)": fit_joint, "aekit pre-trained, fine-tuned": fit_pretrained,
               "same network (mlp) from scratch": fit_scratch_same,
               "mode='scratch' defaults (conv) from scratch": fit_scratch_default,
               "logistic regression on pixels": fit_logistic}
    rows = []
    for k in per_class:
        for name, fn in methods.items():
            if not want(name):
                continue
            accs, secs = [], []
            for draw in range(draws):
                idx = labelled_subset(ytr, k, draw)
                t = time.perf_counter()
                model = fn(idx, draw)
                secs.append(time.perf_counter() - t)
                accs.append(float(model.score(xte, yte)))
                print(json.dumps({"per_class": k, "method": name, "draw": draw, "accuracy": round(accs[-1], 4),
                                  "seconds": round(secs[-1])}), flush=True)
            rows.append({"per_class": k, "method": name, "accuracy": float(np.mean(accs)),
                         "accuracy_std": float(np.std(accs)), "per_draw": accs, "seconds": float(np.mean(secs))})
    return {"config": aekit_params, "draws": draws, "pretrain_seconds": pretrain_s, "rows": rows}


ABLATIONS = {"no reconstruction term (reconstruction_weight=0)": {"reconstruction_weight": 0.0},
             "no consistency term (consistency_weight=0)": {"consistency_weight": 0.0},
             "a longer schedule (epochs=30)": {"epochs": 30}}


def run_ablation(per_class: int, draw: int) -> dict:
    """The joint mode's choices, one at a time against the defaults, on one labelled draw."""
    from aekit import EncoderClassifier
    from aekit.data import load_dataset

    ds = load_dataset("mnist")
    xtr, ytr, xte, yte = ds.train.X, ds.train.y, ds.test.X, ds.test.y
    idx = labelled_subset(ytr, per_class, draw)
    rows = []
    for name, kw in ABLATIONS.items():  # the defaults' figure for this draw is in the --few-labels table
        t = time.perf_counter()
        clf = EncoderClassifier(random_state=draw, **kw).fit(xtr[idx], ytr[idx], X_unlabeled=xtr)
        rows.append({"variant": name, "params": kw, "accuracy": float(clf.score(xte, yte)),
                     "seconds": time.perf_counter() - t})
        print(json.dumps(rows[-1]), flush=True)
    return {"per_class": per_class, "draw": draw, "rows": rows}


def report(results: dict) -> str:
    load = os.getloadavg()
    lines = ["# What an autoencoder's codes are worth (`python benchmarks/representations.py`)", ""]
    if "clustering" in results:
        lines += clustering_report(results["clustering"])
    if "few_labels" in results:
        lines += few_label_report(results["few_labels"])
    if "ablation" in results:
        ab = results["ablation"]
        lines += [f"### The joint mode's choices (`--ablation`: {ab['per_class']} labels per digit, draw {ab['draw']})",
                  "", "| variant | test accuracy % | seconds |", "|---|---:|---:|"]
        lines += [f"| {r['variant']} | {100 * r['accuracy']:.2f} | {r['seconds']:.0f} |" for r in ab["rows"]]
        lines += [""]
    lines += [f"Load average when written: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); "
              f"{os.cpu_count()} CPU cores."]
    return "\n".join(lines) + "\n"


def few_label_report(result: dict) -> list[str]:
    lines = ["## Few-label MNIST (`--few-labels`)", "",
             f"aekit: `EncoderClassifier(**{json.dumps(result['config'])})` (defaults where not listed); "
             f"{result['draws']} labelled draws per setting, the rest of the 60,000 training images unlabelled; "
             f"test accuracy on the 10,000 test images, mean (std) over the draws; seconds per fit. The pre-trained "
             f"autoencoder was trained once ({result['pretrain_seconds']:.0f} s, not counted per fit). Published: "
             f"ladder networks 98.94 % with 100 labels (Rasmus et al., 2015).", "",
             "| labels per digit | method | test accuracy % | seconds per fit |", "|---:|---|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['per_class']} | {r['method']} | {100 * r['accuracy']:.2f} ({100 * r['accuracy_std']:.2f}) "
                     f"| {r['seconds']:.0f} |")
    return lines + [""]


def clustering_report(result: dict) -> list[str]:
    lines = ["## Clustering MNIST through autoencoder codes (`--clustering`)", "",
             f"aekit: `Clusterer(n_clusters=10, **{json.dumps(result['config'])})` (defaults where not listed). "
             "Published N2D (McConville et al., ICPR 2020): MNIST-full ACC 0.979, NMI 0.942; MNIST-test NMI 0.882.",
             "", "| data | method | ACC | NMI | ARI | seconds |", "|---|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['data']} | {r['method']} | {r['acc']:.3f} | {r['nmi']:.3f} | {r['ari']:.3f} | "
                     f"{r['seconds']:.0f} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clustering", action="store_true", help="only MNIST-full and MNIST-test clustering")
    ap.add_argument("--few-labels", action="store_true", help="only few-label MNIST")
    ap.add_argument("--ablation", action="store_true", help="only the joint mode's choices, one draw of 10 labels")
    ap.add_argument("--parts", default="full,test", help="clustering data, comma-separated: full, test")
    ap.add_argument("--per-class", default="10,100", help="few-label settings, comma-separated")
    ap.add_argument("--draws", type=int, default=3, help="labelled draws per few-label setting")
    ap.add_argument("--methods", help="comma-separated substrings of method names (default: all)")
    ap.add_argument("--aekit", default=None, help="JSON overriding the Clusterer's arguments")
    ap.add_argument("--aekit-classifier", default=None, help="JSON overriding the EncoderClassifier's arguments")
    ap.add_argument("--tag", default="representations")
    args = ap.parse_args()
    both = not (args.clustering or args.few_labels or args.ablation)
    only = args.methods.split(",") if args.methods else None
    path = RESULTS / f"{args.tag}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results = results if "rows" not in results else {"clustering": results}  # the clustering-only format
    if both or args.clustering:
        results["clustering"] = run_clustering(args.parts.split(","), json.loads(args.aekit or "{}"), only)
    if both or args.few_labels:
        results["few_labels"] = run_few_labels([int(k) for k in args.per_class.split(",")], args.draws,
                                               json.loads(args.aekit_classifier or "{}"), only)
    if args.ablation:
        results["ablation"] = run_ablation(10, 0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = report(results)
    (RESULTS / f"{args.tag}.md").write_text(md)
    path.write_text(json.dumps(results, indent=1))
    print(md)


if __name__ == "__main__":
    main()
