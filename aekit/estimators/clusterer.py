"""Clustering through an autoencoder's codes: codes -> a neighbourhood-preserving embedding -> a mixture.

The N2D recipe (McConville et al., "N2D: (Not Too) Deep Clustering via Clustering the Local Manifold of an
Autoencoded Embedding", ICPR 2020): train an autoencoder, embed its codes with UMAP (McInnes et al. 2018,
through the ``umap-learn`` library; ``min_dist=0`` packs clusters tightly, as many components as clusters),
then fit a Gaussian mixture (or k-means) to the embedding. k-means on the codes alone finds the clusters no
better than k-means on the pixels: the codes keep the data's geometry, and the embedding is what separates
the manifolds.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClusterMixin

from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.seeding import resolve_seeds
from aekit.threads import one_blas_thread
from aekit.validation import Either, Integer, Options, Real
from aekit.operations import Operation, pca_map

EMBEDDINGS = ("umap", "none")
METHODS = ("gmm", "kmeans")


@register_estimator("clusterer")
class Clusterer(ClusterMixin, AutoencoderEstimator):
    """Cluster tables or images by their autoencoder codes (N2D: codes -> UMAP -> Gaussian mixture).

    Parameters
    ----------
    n_clusters : int or "auto", default 10
        "auto": the number in ``[2, max_clusters]`` whose mixture on the embedding has the lowest BIC
        (Bayesian information criterion; k-means is then fitted with that number too).
    latent_dim : int, default 10
        Code size.
    embedding : {"umap", "none"}, default "umap"
        "umap": a UMAP embedding of the codes (needs ``umap-learn``: ``pip install aekit[cluster]``);
        "none": cluster the codes themselves.
    n_components : int or "auto", default "auto"
        Dimensions of the embedding; "auto": the number of clusters (N2D), at least 2.
    n_neighbors : int, default 20
        UMAP's neighbourhood size.
    min_dist : float, default 0.0
    method : {"gmm", "kmeans"}, default "gmm"
        A Gaussian mixture (full covariances) or k-means on the embedding.
    max_clusters : int, default 20
    model : str, default "auto"
        "auto": ``mlp`` with hidden widths [500, 500, 2000] (N2D's autoencoder) for every kind of data.
    epochs : int, default 30
    min_steps : int, default 2400
        Small data sets train for more epochs, so that the autoencoder takes at least this many steps (MNIST's
        10,000 test images: 60 epochs; all 70,000: 30, about 7 minutes on 2 cores with the embedding).
    batch_size : int, default 256
    lr : float, default 1e-3
    model_params, max_time, validation_fraction, scaler, random_state, device, verbose :
        as in :class:`aekit.Reducer`.

    Attributes
    ----------
    labels_ : ndarray (n_samples,)
        The cluster of each training sample.
    n_clusters_ : int
    embedding_ : ndarray (n_samples, n_components)
        The training samples' embedding (their codes when ``embedding="none"``).
    codes_ : ndarray (n_samples, latent_dim)
        The training samples' codes; :meth:`predict` gives a new sample the cluster most of its 10 nearest
        training codes have (UMAP's own transform is not needed, so a saved clusterer predicts alike).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Clusterer
    >>> X = load_digits().data
    >>> quick = {"epochs": 5, "min_steps": 0, "model_params": {"hidden": [64]}}     # the defaults train longer
    >>> labels = Clusterer(n_clusters=10, embedding="none", **quick).fit_predict(X)
    >>> labels.shape
    (1797,)
    """

    _constraints = {
        **AutoencoderEstimator._constraints,
        "n_clusters": Either(Integer(1), Options("auto")),
        "embedding": Options(*EMBEDDINGS),
        "n_components": Either(Integer(1), Options("auto")),
        "n_neighbors": Integer(2),
        "min_dist": Real(0),
        "method": Options(*METHODS),
        "max_clusters": Integer(2),
        "min_steps": Integer(0),
    }

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "clustering"
    operations = (
        Operation("assign", "samples", ("cluster",), "the cluster of each sample", "predict"),
        Operation("codes", "samples", ("code",), "the codes", "transform"),
        Operation("map", "samples", ("map",), "2-D positions on the map of the training codes (their principal axes)",
                  lambda est, x: pca_map(est.codes_, est.transform(x))),
    )

    # tiny settings and a data family for tests/test_conformance.py (no scikit-learn checks: a transform without
    # TransformerMixin's tags, which they require)
    _conformance = {"data": "table", "params": {"n_clusters": 3, "latent_dim": 4, "embedding": "none", "epochs": 1,
                                                "min_steps": 0, "model_params": {"hidden": [16]}}}

    def __init__(self, n_clusters=10, *, latent_dim: int = 10, embedding: str = "umap", n_components="auto",
                 n_neighbors: int = 20, min_dist: float = 0.0, method: str = "gmm", max_clusters: int = 20,
                 model: str = "auto", model_params: dict | None = None, epochs: int = 30, min_steps: int = 2400,
                 batch_size: int = 256,
                 lr: float = 1e-3, max_time: float | None = None, validation_fraction: float = 0.0,
                 scaler: str = "auto", random_state=0, device: str = "cpu", verbose: bool = False):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.embedding = embedding
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.method = method
        self.max_clusters = max_clusters
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    corruption = None

    def _model_name(self, input_shape):
        return self.model if self.model != "auto" else "mlp"

    def _default_model_params(self, name, input_shape):
        return {"hidden": [500, 500, 2000]} if name == "mlp" else super()._default_model_params(name, input_shape)

    def fit(self, X, y=None):
        """Train the autoencoder, embed the codes and fit the mixture; ``y`` is ignored. Returns ``self``."""
        self._check_params()
        x = self._validate(X, reset=True)
        seeds = resolve_seeds(self.random_state)
        if self.n_clusters != "auto" and int(self.n_clusters) > len(x):
            raise ValueError(f"n_clusters={self.n_clusters} is more than the {len(x)} samples")
        self._fit_autoencoder(x, seeds=seeds, epochs=self._epochs_for(len(x)))
        self.codes_ = self._encode(x).reshape(len(x), -1).astype(np.float32)
        self.embedding_ = self._embed(self.codes_, seeds.init)
        self.n_clusters_ = self._choose_k(self.embedding_, seeds.init)
        self.labels_ = self._cluster(self.embedding_, self.n_clusters_, seeds.init)
        self._neighbours = None
        return self

    def _embed(self, codes: np.ndarray, seed: int) -> np.ndarray:
        if self.embedding == "none":
            return codes.astype(np.float64)
        try:
            import umap
        except ImportError:
            raise ImportError("Clusterer(embedding='umap') needs umap-learn: pip install aekit[cluster] (or "
                              "umap-learn); embedding='none' clusters the codes themselves") from None
        dims = self.n_components if self.n_components != "auto" else (
            self.n_clusters if self.n_clusters != "auto" else self.max_clusters)
        dims = int(max(2, min(int(dims), len(codes) - 2)))
        reducer = umap.UMAP(n_components=dims, n_neighbors=int(min(self.n_neighbors, len(codes) - 1)),
                            min_dist=float(self.min_dist), random_state=int(seed), transform_seed=int(seed))
        return reducer.fit_transform(codes).astype(np.float64)

    def _choose_k(self, emb: np.ndarray, seed: int) -> int:
        if self.n_clusters != "auto":
            return int(self.n_clusters)
        from sklearn.mixture import GaussianMixture

        ks = range(2, int(min(self.max_clusters, len(emb) - 1)) + 1)
        with one_blas_thread():
            bic = [GaussianMixture(k, covariance_type="full", random_state=seed).fit(emb).bic(emb) for k in ks]
        self.bic_ = dict(zip(ks, map(float, bic)))
        return int(list(ks)[int(np.argmin(bic))])

    def _cluster(self, emb: np.ndarray, k: int, seed: int) -> np.ndarray:
        if self.method == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(k, n_init=10, random_state=seed).fit_predict(emb)
        from sklearn.mixture import GaussianMixture

        with one_blas_thread():
            return GaussianMixture(k, covariance_type="full", n_init=5, random_state=seed).fit(emb).predict(emb)

    # ------------------------------------------------------------------------------------ applying
    def transform(self, X) -> np.ndarray:
        """Codes of ``X`` (n_samples, latent_dim)."""
        self._check_fitted()
        codes = self._encode(self._validate(X, reset=False))
        return codes.reshape(len(codes), -1)

    def predict(self, X) -> np.ndarray:
        """The cluster of each sample: the one most of its 10 nearest training codes belong to."""
        self._check_fitted()
        if getattr(self, "_neighbours", None) is None:
            from sklearn.neighbors import KNeighborsClassifier

            self._neighbours = KNeighborsClassifier(n_neighbors=min(10, len(self.codes_))).fit(self.codes_,
                                                                                                self.labels_)
        return self._neighbours.predict(self.transform(X))

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def map_2d(self, X=None, *, embedding: str = "auto", random_state=0) -> np.ndarray:
        """A 2-D map of the codes of ``X`` (default: the training samples) for plotting: (n_samples, 2), by
        t-SNE, or UMAP for large maps when umap-learn is installed (:func:`aekit.embedding.embed_2d`;
        ``embedding``: "umap", "tsne" or "pca")."""
        from aekit.embedding import embed_2d

        self._check_fitted()
        codes = self.codes_ if X is None else self.transform(X)
        return embed_2d(codes, embedding=embedding, seed=int(random_state))

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        return {**super()._get_state(), "n_clusters_": int(self.n_clusters_)}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.n_clusters_ = int(state["n_clusters_"])
        self._neighbours = None

    def _get_tensors(self) -> dict:
        return {"codes": torch.as_tensor(self.codes_), "labels": torch.as_tensor(self.labels_.astype(np.int64)),
                "embedding": torch.as_tensor(self.embedding_)}

    def _set_tensors(self, tensors: dict) -> None:
        self.codes_, self.labels_ = tensors["codes"].numpy(), tensors["labels"].numpy()
        self.embedding_ = tensors["embedding"].numpy()
