"""Evaluation metrics on numpy arrays (per-element MSE, PSNR, masked PSNR, SSIM, the discriminative score of
generated samples)."""
from __future__ import annotations

import numpy as np


def mse(x: np.ndarray, y: np.ndarray, *, chunk: int = 1 << 20) -> float:
    """Mean squared error per element, summed in float64 ``chunk`` values at a time (no float64 copy of a large
    array: the peak memory of ``aekit train`` on MNIST was this function's copies)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"mse: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    fx, fy = x.reshape(-1), y.reshape(-1)
    total = 0.0
    for i in range(0, fx.size, chunk):
        d = fx[i:i + chunk].astype(np.float64) - fy[i:i + chunk]
        total += float(np.dot(d, d))
    return total / fx.size


def psnr(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """Mean over samples of the per-sample PSNR in dB (inputs scaled to ``[0, data_range]``)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ, {x.shape} vs {y.shape}")
    fx, fy = x.reshape(len(x), -1), y.reshape(len(y), -1)
    step = max(1, (1 << 20) // max(fx.shape[1], 1))   # samples per float64 chunk (no copy of a large array)
    per = np.concatenate([np.mean((fx[i:i + step].astype(np.float64) - fy[i:i + step]) ** 2, axis=1)
                          for i in range(0, len(fx), step)]) if len(fx) else np.zeros(0)
    return float(np.mean(10 * np.log10(data_range**2 / np.maximum(per, 1e-12))))


def masked_psnr(x: np.ndarray, y: np.ndarray, mask: np.ndarray, *, data_range: float = 1.0) -> float:
    """PSNR in dB over the pixels where ``mask`` is True only (inpainting scores the missing pixels).

    ``x``, ``y``: (N, ...) samples; ``mask``: x's shape, or (N, H, W) / (N, 1, H, W) for (N, C, H, W)
    images (shared by the channels). Per-sample PSNR over its masked values, averaged over the samples
    that have any.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"masked_psnr: shapes differ, {x.shape} vs {y.shape}")
    m = np.asarray(mask, bool)
    if m.ndim == x.ndim - 1 and x.ndim == 4:
        m = m[:, None]
    try:
        m = np.broadcast_to(m, x.shape)
    except ValueError:
        raise ValueError(f"masked_psnr: mask of shape {np.shape(mask)} does not fit samples of shape "
                         f"{x.shape}") from None
    err = ((x - y) ** 2 * m).reshape(len(x), -1).sum(1)
    count = m.reshape(len(x), -1).sum(1)
    keep = count > 0
    if not keep.any():
        raise ValueError("masked_psnr: the mask selects no pixel")
    per = err[keep] / count[keep]
    return float(np.mean(10 * np.log10(data_range**2 / np.maximum(per, 1e-12))))


def ssim(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
    """Mean over samples of the structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004),
    computed by ``skimage.metrics.structural_similarity`` (7x7 windows, fewer on smaller images).

    ``x``, ``y``: (N, H, W) grey or (N, C, H, W) images.
    """
    from skimage.metrics import structural_similarity

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ, {x.shape} vs {y.shape}")
    if x.ndim not in (3, 4):
        raise ValueError(f"ssim: expected images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    win = min(7, x.shape[-1], x.shape[-2])
    win -= 1 - win % 2  # odd
    if win < 3:
        raise ValueError(f"ssim: images of {x.shape[-2]}x{x.shape[-1]} pixels are too small (3x3 at least)")
    kw = {"data_range": data_range, "win_size": win}
    if x.ndim == 4:
        kw["channel_axis"] = 0
    return float(np.mean([structural_similarity(a, b, **kw) for a, b in zip(x, y)]))


def pca_baseline(train: np.ndarray, test: np.ndarray, n_components: int, *, clip: tuple[float, float] | None = None,
                 random_state: int = 0) -> dict:
    """Test MSE of scikit-learn's PCA with ``n_components`` fitted on ``train`` (the anchor to beat)."""
    import time

    from sklearn.decomposition import PCA

    tr = np.asarray(train, np.float32).reshape(len(train), -1)
    te = np.asarray(test, np.float32).reshape(len(test), -1)
    k = min(n_components, tr.shape[0], tr.shape[1])
    t0 = time.perf_counter()
    pca = PCA(n_components=k, random_state=random_state).fit(tr)
    fit_time = time.perf_counter() - t0
    rec = pca.inverse_transform(pca.transform(te))
    out = {"method": "PCA", "code_size": k, "test_mse": mse(te, rec), "fit_time": fit_time}
    if clip is not None:
        out["test_mse_clipped"] = mse(te, np.clip(rec, *clip))
    return out


def mean_iou(pred_classes, target_classes, num_classes: int) -> float:
    """Mean intersection-over-union of two integer class maps, over the classes present in either.

    ``pred_classes`` (e.g. ``logits.argmax(1)``) and ``target_classes``: same shape, values in
    0..num_classes-1 (numpy arrays or tensors). A class absent from both is left out of the mean.
    """
    p = np.asarray(pred_classes.detach().cpu() if hasattr(pred_classes, "detach") else pred_classes)
    t = np.asarray(target_classes.detach().cpu() if hasattr(target_classes, "detach") else target_classes)
    if p.shape != t.shape:
        raise ValueError(f"mean_iou: shapes differ, {p.shape} vs {t.shape}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"mean_iou: num_classes={num_classes!r} must be a positive integer")
    p, t = p.astype(np.int64).ravel(), t.astype(np.int64).ravel()
    for name, a in (("pred_classes", p), ("target_classes", t)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"mean_iou: {name} holds values in [{a.min()}, {a.max()}], expected 0..{num_classes - 1}")
    confusion = np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present])) if present.any() else float("nan")


def clustering_agreement(x_raw: np.ndarray, codes: np.ndarray, y, *, n_clusters: int | None = None,
                         random_state=0) -> dict[str, float]:
    """k-means on autoencoder codes, on the raw data and on PCA codes of the same size, each scored
    against known labels ``y``: ``{"<space>_ari", "<space>_nmi"}`` for space in aekit, raw, pca."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y = np.asarray(y)
    if len(y) != len(x_raw):
        raise ValueError(f"y has {len(y)} labels for {len(x_raw)} samples")
    k = n_clusters or len(np.unique(y))
    spaces = {"aekit": codes, "raw": x_raw,
              "pca": PCA(min(codes.shape[1], *x_raw.shape), random_state=0).fit_transform(x_raw)}
    out = {}
    for name, feats in spaces.items():
        labels = KMeans(k, n_init=10, random_state=random_state).fit_predict(feats)
        out[f"{name}_ari"] = float(adjusted_rand_score(y, labels))
        out[f"{name}_nmi"] = float(normalized_mutual_info_score(y, labels))
    return out


def clustering_scores(y, labels) -> dict[str, float]:
    """Agreement of a clustering ``labels`` with known classes ``y``: ``{"acc", "nmi", "ari"}``.

    ``acc``: the accuracy under the best one-to-one matching of clusters to classes (the Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``, as deep-clustering papers report it); ``nmi``: normalised mutual
    information; ``ari``: adjusted Rand index (scikit-learn)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    table, _, _ = contingency(y, labels)
    rows, cols = linear_sum_assignment(-table)
    return {"acc": float(table[rows, cols].sum() / max(table.sum(), 1)),
            "nmi": float(normalized_mutual_info_score(y, labels)), "ari": float(adjusted_rand_score(y, labels))}


def contingency(y, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(table, classes, clusters): ``table[i, j]`` counts the samples of class ``classes[i]`` in cluster
    ``clusters[j]``."""
    y, labels = np.asarray(y).ravel(), np.asarray(labels).ravel()
    if len(y) != len(labels):
        raise ValueError(f"y has {len(y)} labels for {len(labels)} cluster labels")
    classes, yi = np.unique(y, return_inverse=True)
    clusters, li = np.unique(labels, return_inverse=True)
    table = np.zeros((len(classes), len(clusters)), dtype=np.int64)
    np.add.at(table, (yi, li), 1)
    return table, classes, clusters


def discriminative_score(real, fake, *, test_fraction: float = 0.3, random_state=0) -> float:
    """Held-out accuracy of a classifier trained to tell ``real`` samples from generated ones (``fake``):
    0.5 means it cannot tell them apart (the ideal), 1.0 that every sample gives itself away.

    The "discriminative score" of Yoon, Jarrett & van der Schaar, "Time-series Generative Adversarial
    Networks" (NeurIPS 2019), who report ``|accuracy - 0.5|`` with a recurrent classifier; here scikit-learn's
    ``HistGradientBoostingClassifier`` (200 rounds) on each sample's values, flattened, plus -- for
    samples of rank >= 2 (windows ``(C, T)``, images) -- the differences along the last axis, so that
    smoothness and noise level are easy to see. Both sets are cut to the size of the smaller one (a random
    subset, balanced classes), then split stratified into ``1 - test_fraction`` for training and
    ``test_fraction`` held out.

    ``real``, ``fake``: ``(n, ...)`` arrays with the same sample shape, at least 10 samples each.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if r.shape[1:] != f.shape[1:]:
        raise ValueError(f"discriminative_score: sample shapes differ, {r.shape[1:]} vs {f.shape[1:]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"discriminative_score: test_fraction={test_fraction!r} must lie in (0, 1)")
    n = min(len(r), len(f))
    if n < 10:
        raise ValueError(f"discriminative_score: needs at least 10 samples of each, got {len(r)} real and "
                         f"{len(f)} generated")
    if not (np.isfinite(r).all() and np.isfinite(f).all()):
        raise ValueError("discriminative_score: the samples hold NaN or infinite values")
    rng = np.random.default_rng(random_state)
    r, f = r[rng.choice(len(r), n, replace=False)], f[rng.choice(len(f), n, replace=False)]

    def features(a: np.ndarray) -> np.ndarray:
        parts = [a.reshape(len(a), -1)]
        if a.ndim >= 3 and a.shape[-1] > 1:
            parts.append(np.diff(a, axis=-1).reshape(len(a), -1))
        return np.concatenate(parts, axis=1)

    X = np.concatenate([features(r), features(f)])
    y = np.repeat([1, 0], n)
    seed = int(rng.integers(2**31 - 1))
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(X_tr, y_tr)
    return float(np.mean(clf.predict(X_te) == y_te))


# NAB (Numenta Anomaly Benchmark) scoring for streaming detectors lives in aekit.nab; re-exported here
from aekit.nab import (NAB_PROFILES, FileScore, load_labels, load_windows, normalized_score,  # noqa: E402,F401
                       optimize_threshold, score_corpus, score_file)
