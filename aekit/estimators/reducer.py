"""Dimensionality reduction with an autoencoder, as a scikit-learn transformer.

Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks", Science 2006.
"""
from __future__ import annotations

import os

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from aekit.corruption import Corruption
from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.seeding import resolve_seeds
from aekit.validation import Instance, NoneOr
from aekit.operations import Operation


@register_estimator("reducer")
class Reducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, AutoencoderEstimator):
    """Learn a ``latent_dim``-dimensional code of tables or images (a non-linear PCA).

    Parameters
    ----------
    latent_dim : int, default 2
        Size of the code (``transform`` output width).
    model : str, default "auto"
        A registered model (``aekit.list_models()``); "auto" picks ``conv`` for images whose sides
        divide by 4, else ``mlp``.
    model_params : dict, optional
        Extra model arguments, e.g. ``{"hidden": [256, 64]}``.
    epochs, batch_size, lr, max_time : training budget (``max_time`` in seconds, optional).
    validation_fraction : float, default 0.1
        Held out for early stopping (when there are at least 20 samples).
    corruption : str, optional
        Train as a denoising autoencoder, e.g. ``"gaussian:0.2"``.
    scaler : {"auto", "minmax", "standard", "range", "none"}, default "auto"
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    autoencoder_ : aekit.TrainedAutoencoder
        The trained model and its scaler.
    history_ : list of dict
        Per-epoch losses.
    n_features_in_, sample_shape_ : input width and one sample's shape.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Reducer
    >>> X = load_digits().data
    >>> red = Reducer(latent_dim=2, epochs=5).fit(X)
    >>> red.transform(X).shape
    (1797, 2)
    """

    _constraints = {**AutoencoderEstimator._constraints,
                              "corruption": NoneOr(Instance(str, Corruption, what="a corruption spec such as "
                                                                                   "'gaussian:0.2' or a Corruption"))}

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "dimensionality reduction"
    operations = (
        Operation("encode", "samples", ("code",), "the codes", "transform"),
        Operation("reconstruct", "samples", ("reconstruction",), "reconstructions, raw units", "reconstruct"),
    )

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    _conformance = {"data": "table", "params": {"latent_dim": 2, "epochs": 2},
                    "sklearn": [{"latent_dim": 2, "epochs": 3, "batch_size": 32}]}

    def __init__(self, latent_dim: int = 2, *, model: str = "auto", model_params: dict | None = None,
                 epochs: int = 50, batch_size: int = 128, lr: float = 3e-3, max_time: float | None = None,
                 validation_fraction: float = 0.1, corruption: str | None = None, scaler: str = "auto",
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.corruption = corruption
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the autoencoder on ``X``; ``y`` is ignored. Returns ``self``.

        ``X`` may be a stream larger than memory (:class:`aekit.data.streaming.ArrayStream`): the scaler is
        fitted in one pass over it, and training reads it shuffled block by block with bounded memory; no
        validation data is held out (the budget is ``epochs``)."""
        self._check_params()
        seeds = resolve_seeds(self.random_state)
        if self._is_stream(X):
            from aekit.corruption import make_corruption

            stream, scaler = self._stream_setup(X)
            fitted = self._train(stream, seeds=seeds, model=self._model_spec(tuple(stream.sample_shape)),
                                 scaler=None, corruption=make_corruption(self.corruption), validation_fraction=0.0)
            fitted.scaler = scaler
            self._keep(fitted)
            return self
        self._fit_autoencoder(self._validate(X, reset=True), seeds=seeds)
        return self

    def transform_to(self, stream, path) -> "os.PathLike":
        """Codes of every row of a stream, in file order, written to the ``.npy`` file ``path`` piece by
        piece (memory bounded whatever the stream's size); returns the path."""
        return self._write_stream(stream, path, self.transform)

    def reconstruct_to(self, stream, path) -> "os.PathLike":
        """Reconstructions of every row of a stream, in file order, written to the ``.npy`` file ``path``
        piece by piece; returns the path."""
        return self._write_stream(stream, path, self.reconstruct)

    def partial_fit(self, X, y=None):
        """Go on training on a new batch ``X`` (the first call fits): ``epochs`` more passes over ``X``, with
        the scaler of the first fit (a later batch's values are scaled as the first batch's were), a new
        optimizer and learning-rate schedule per call, and early stopping on ``validation_fraction`` of
        ``X``. ``history_`` grows; ``n_batches_`` counts the calls. Returns ``self``."""
        if not hasattr(self, "autoencoder_"):
            return self.fit(X)
        self._check_params()
        self._fit_autoencoder(self._validate(X, reset=False), seeds=self._next_batch_seeds(), more=True)
        return self

    def transform(self, X) -> np.ndarray:
        """Codes of ``X``: (n_samples, latent_dim) (grid codes are flattened)."""
        self._check_fitted()
        codes = self._encode(self._validate(X, reset=False))
        return codes.reshape(len(codes), -1)

    def map_2d(self, X, *, embedding: str = "auto", random_state=0) -> np.ndarray:
        """A 2-D map of the codes of ``X`` for plotting, whatever ``latent_dim``: (n_samples, 2), by UMAP when
        umap-learn is installed (``pip install aekit[cluster]``), else t-SNE (``embedding``: "umap", "tsne" or
        "pca"); a 2-D code is returned as it is."""
        from aekit.embedding import embed_2d

        return embed_2d(self.transform(X), embedding=embedding, seed=int(random_state))

    def inverse_transform(self, X) -> np.ndarray:
        """Decode codes back to samples shaped like the training data."""
        self._check_fitted()
        Z = np.asarray(X, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self._n_features_out:
            raise ValueError(f"inverse_transform expects codes of shape (n_samples, {self._n_features_out}), "
                             f"got {Z.shape}")
        if not self.autoencoder_.model.can_decode:
            raise ValueError(f"the {self.autoencoder_.model.name!r} model cannot decode codes alone")
        return self._to_user_layout(self._decode(Z.reshape(len(Z), *self.autoencoder_.model.code_shape)))

    def reconstruct(self, X) -> np.ndarray:
        """Encode and decode ``X``; same shape as ``X``, raw units."""
        self._check_fitted()
        return self._to_user_layout(self._reconstruct(self._validate(X, reset=False)))

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error of ``X`` in raw units (higher is better); ``X`` may be
        a stream (read in order, a piece at a time)."""
        self._check_fitted()
        if self._is_stream(X):
            total, count = 0.0, 0
            for chunk in X.chunks():
                x = self._validate(chunk, reset=False)
                total += float(np.sum((self._reconstruct(x) - x).astype(np.float64) ** 2))
                count += x.size
            return -total / count
        x = self._validate(X, reset=False)
        return -float(np.mean((self._reconstruct(x) - x) ** 2))

    def cluster_agreement(self, X, y, *, n_clusters: int | None = None, random_state=0) -> dict[str, float]:
        """k-means on the codes vs on the raw data vs on PCA codes of the same size: adjusted Rand index
        and normalised mutual information of each clustering with the known labels ``y``."""
        from aekit.metrics import clustering_agreement

        self._check_fitted()
        x = self._validate(X, reset=False)
        return clustering_agreement(x.reshape(len(x), -1), self.transform(X), y, n_clusters=n_clusters,
                                    random_state=random_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # codes are float32, as the network computes them
        return tags

    @property
    def _n_features_out(self) -> int:
        return int(np.prod(self.autoencoder_.model.code_shape))
