"""Reading an ordered code (trained with the ``"ordered-mse"`` objective, :mod:`aekit.objectives`) as one reads PCA:
the reconstruction error from its first ``k`` values for each ``k`` beside PCA-``k``'s, and what each leading unit
adds (a traversal of that unit, the units before it held at the data's median code).

Everything here works in the model's units (scaled data) on a :class:`aekit.persistence.TrainedAutoencoder`'s
model; ``aekit train --loss ordered-mse``'s report and ``aekit evaluate`` call it.
"""
from __future__ import annotations

import numpy as np
import torch

from aekit.objectives import decode_prefix, prefix_sizes


def is_ordered(metadata: dict) -> bool:
    """Whether a model folder's metadata says its code is ordered (``aekit train --loss ordered-mse``, or an
    estimator fitted with ``ordered=True``)."""
    run, est = metadata.get("run"), metadata.get("estimator")
    run, est = (run if isinstance(run, dict) else {}), (est if isinstance(est, dict) else {})
    return (run.get("train") or {}).get("loss") == "ordered-mse" or bool((est.get("params") or {}).get("ordered"))


@torch.no_grad()
def prefix_curve(model, x_train: np.ndarray, x_eval: np.ndarray, sizes=None, *, batch_size: int = 1000) -> dict:
    """The ordered code's MSE on ``x_eval`` (scaled units) from its first ``k`` values, for ``k`` in ``sizes``
    (default :func:`aekit.objectives.prefix_sizes`), beside PCA-``k`` fitted on ``x_train``, and the share of
    ``x_eval``'s variance each explains (1 - MSE / variance): ``{"k", "mse", "explained_variance", "pca_mse",
    "pca_explained_variance"}``, lists by ``k``."""
    from sklearn.decomposition import PCA

    model.eval()
    sizes = [int(k) for k in (sizes if sizes is not None else prefix_sizes(model.latent_dim))]
    x = torch.as_tensor(np.asarray(x_eval, dtype=np.float32))
    codes = torch.cat([model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    mse = [float(sum(((decode_prefix(model, codes[i:i + batch_size], k) - x[i:i + batch_size]) ** 2).sum()
                     for i in range(0, len(x), batch_size)) / x.numel()) for k in sizes]
    flat_train = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
    flat = x.numpy().reshape(len(x), -1)
    variance = float(np.mean((flat - flat.mean(axis=0)) ** 2))
    pca = PCA(n_components=min(max(sizes), *flat_train.shape), random_state=0).fit(flat_train)
    centred = flat - pca.mean_
    scores = centred @ pca.components_.T
    pca_mse = [float(np.mean((centred - scores[:, :k] @ pca.components_[:k]) ** 2)) for k in sizes]
    share = [1.0 - m / variance if variance > 0 else 0.0 for m in mse]
    pca_share = [1.0 - m / variance if variance > 0 else 0.0 for m in pca_mse]
    return {"k": sizes, "mse": mse, "explained_variance": share, "pca_mse": pca_mse,
            "pca_explained_variance": pca_share}


@torch.no_grad()
def traversals(model, x: np.ndarray, *, n_units: int = 8, steps: int = 9) -> np.ndarray:
    """What each leading unit adds: for unit ``j`` < ``n_units``, the decoded codes whose first ``j`` units are the
    median code's, unit ``j`` runs from its 5th to its 95th percentile over ``x`` (scaled units) in ``steps``
    steps, and the later units are absent (decoded from the first ``j + 1`` values). Returns ``(n_units, steps,
    *sample_shape)``."""
    model.eval()
    codes = model.encode(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()      # (n, d)
    n_units = min(n_units, codes.shape[1])
    median = np.median(codes, axis=0)
    rows = []
    for j in range(n_units):
        z = np.zeros((steps, codes.shape[1]), np.float32)
        z[:, :j] = median[:j]
        low, high = np.percentile(codes[:, j], [5, 95])
        z[:, j] = np.linspace(low, high, steps)
        rows.append(decode_prefix(model, torch.from_numpy(z), j + 1).numpy())
    return np.stack(rows)
