"""2-D maps of codes for plotting: UMAP (umap-learn, imported lazily: the ``cluster`` extra), t-SNE
(scikit-learn) or PCA. Used by the reports' latent maps, ``Reducer.map_2d`` and ``Clusterer.map_2d``.

``"auto"`` takes t-SNE for maps of up to :data:`UMAP_MIN_POINTS` points, UMAP (when installed) above: UMAP's
numba functions compile afresh in every process (about 15 s, more than t-SNE takes on a few thousand points),
so a small map, such as every report's, is drawn without waiting for a compiler."""
from __future__ import annotations

import numpy as np

EMBEDDINGS = ("auto", "tsne", "umap", "pca")
UMAP_MIN_POINTS = 5000  # "auto" maps more points than this with UMAP (when installed): its compile pays off


def embed_2d(codes: np.ndarray, *, embedding: str = "auto", seed: int = 0) -> np.ndarray:
    """A 2-D map of codes ``(N, k)``: UMAP (what ``"auto"`` picks for more than :data:`UMAP_MIN_POINTS` codes
    when umap-learn is installed, else t-SNE), t-SNE or PCA; codes of 2 or fewer dimensions are returned as they are
    (padded to 2)."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding={embedding!r}; expected one of {EMBEDDINGS}")
    z = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    method = embedding_method(embedding, len(z))
    if method == "pca" or len(z) < 10:
        from sklearn.decomposition import PCA

        return PCA(n_components=2).fit_transform(z)
    return neighbour_embedding(z, method, seed=seed)


def embedding_method(embedding: str, n_points: int) -> str:
    """The method ``embedding`` names for a map of ``n_points`` codes: "auto" is UMAP above
    :data:`UMAP_MIN_POINTS` points when umap-learn is installed, else t-SNE (no compilation)."""
    if embedding != "auto":
        return embedding
    import importlib.util

    return "umap" if n_points > UMAP_MIN_POINTS and importlib.util.find_spec("umap") is not None else "tsne"


def neighbour_embedding(z: np.ndarray, method: str, *, seed: int) -> np.ndarray:
    """(N, k) -> (N, 2) by t-SNE or UMAP (imported lazily: umap-learn is optional)."""
    if method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ValueError("embedding='umap' needs umap-learn (pip install umap-learn)") from exc
        return umap.UMAP(n_components=2, n_neighbors=min(15, len(z) - 1), random_state=seed).fit_transform(z)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(z) - 1) / 3)
    return TSNE(n_components=2, init="pca", perplexity=perplexity, max_iter=500,
                random_state=seed).fit_transform(z)
