"""Dimensionality reduction with an autoencoder, as a scikit-learn transformer.

Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks", Science 2006.
"""
from __future__ import annotations

import os

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from aekit.corruption import Corruption
from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.models.prefix import BASES as PREFIX_BASES
from aekit.seeding import resolve_seeds
from aekit.validation import Boolean, Instance, NoneOr
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
    ordered : bool, default False
        Learn an ordered code (the ``"ordered-mse"`` objective, :mod:`aekit.objectives`): its first ``k`` values
        give the best reconstruction the model can for every ``k``, as PCA's first components do, so
        ``transform``, ``reconstruct`` and ``inverse_transform`` take any ``n_components`` up to ``latent_dim``
        without retraining; ``reconstruction_curve`` gives the error at each size. The model is the
        ``prefix-code`` family (aekit/models/prefix.py) around ``model``'s: its encoder, and its decoder for
        each code size 1, 2, 4, ..., ``latent_dim``, each reading the code's first values.
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
    >>> ordered = Reducer(latent_dim=8, ordered=True, epochs=5).fit(X)
    >>> ordered.transform(X, n_components=2).shape
    (1797, 2)
    """

    _constraints = {**AutoencoderEstimator._constraints,
                              "corruption": NoneOr(Instance(str, Corruption, what="a corruption spec such as "
                                                                                   "'gaussian:0.2' or a Corruption")),
                  "ordered": Boolean()}

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
                 validation_fraction: float = 0.1, corruption: str | None = None, ordered: bool = False,
                 scaler: str = "auto", random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.corruption = corruption
        self.ordered = ordered
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
                                 scaler=None, objective=self._objective(), corruption=make_corruption(self.corruption),
                                 validation_fraction=0.0)
            fitted.scaler = scaler
            self._keep(fitted)
            return self
        self._fit_autoencoder(self._validate(X, reset=True), seeds=seeds, objective=self._objective())
        return self

    def _model_spec(self, input_shape: tuple[int, ...], model_kwargs: dict | None = None):
        base = super()._model_spec(input_shape, model_kwargs)   # the family and its arguments
        if not self.ordered or base.name not in PREFIX_BASES:
            return base
        return type(base)("prefix-code", base.latent_dim, {"base": base.name, "base_params": base.params})

    def _objective(self) -> str | None:
        """The ordered objective when ``ordered``, else None (the model family's reconstruction loss)."""
        return "ordered-mse" if self.ordered else None

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
        self._fit_autoencoder(self._validate(X, reset=False), seeds=self._next_batch_seeds(), more=True,
                              objective=self._objective())
        return self

    def transform(self, X, *, n_components: int | None = None) -> np.ndarray:
        """Codes of ``X``: (n_samples, latent_dim) (grid codes are flattened); with ``n_components`` (an ordered
        code only), their first ``n_components`` values."""
        self._check_fitted()
        k = self._prefix(n_components)
        codes = self._encode(self._validate(X, reset=False))
        return codes.reshape(len(codes), -1)[:, :k]

    def _prefix(self, n_components: int | None) -> int:
        """How many leading code values to keep: all for None; else ``n_components``, checked."""
        d = self._n_features_out
        if n_components is None:
            return d
        if not self.ordered:
            raise ValueError(f"n_components={n_components!r} needs an ordered code: fit with ordered=True (the first "
                             f"values of an unordered code are no better than any other {n_components})")
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
                or not 1 <= n_components <= d:
            raise ValueError(f"n_components={n_components!r}; expected a whole number from 1 to latent_dim={d}")
        return int(n_components)

    def map_2d(self, X, *, embedding: str = "auto", random_state=0) -> np.ndarray:
        """A 2-D map of the codes of ``X`` for plotting, whatever ``latent_dim``: (n_samples, 2), by UMAP when
        umap-learn is installed (``pip install aekit[cluster]``), else t-SNE (``embedding``: "umap", "tsne" or
        "pca"); a 2-D code is returned as it is."""
        from aekit.embedding import embed_2d

        return embed_2d(self.transform(X), embedding=embedding, seed=int(random_state))

    def inverse_transform(self, X) -> np.ndarray:
        """Decode codes back to samples shaped like the training data; an ordered code may be truncated to its
        first ``k`` values (decoded by its decoder for them; a family ``prefix-code`` does not wrap reads the
        rest as zero, as it was trained)."""
        self._check_fitted()
        Z, d = np.asarray(X, dtype=np.float32), self._n_features_out
        model = self.autoencoder_.model
        if Z.ndim == 2 and getattr(model, "decodes_prefixes", False) and 1 <= Z.shape[1] <= d:
            return self._to_user_layout(self._decode(Z))   # its decoder of the first k values
        if Z.ndim == 2 and self.ordered and 1 <= Z.shape[1] < d:
            Z = np.pad(Z, ((0, 0), (0, d - Z.shape[1])))   # a family prefix-code does not wrap: absent = zero
        if Z.ndim != 2 or Z.shape[1] != d:
            widths = f"from 1 to {d}" if self.ordered else str(d)
            raise ValueError(f"inverse_transform expects codes of shape (n_samples, {widths}), got {Z.shape}")
        if not self.autoencoder_.model.can_decode:
            raise ValueError(f"the {self.autoencoder_.model.name!r} model cannot decode codes alone")
        return self._to_user_layout(self._decode(Z.reshape(len(Z), *self.autoencoder_.model.code_shape)))

    def reconstruct(self, X, *, n_components: int | None = None) -> np.ndarray:
        """Encode and decode ``X``; same shape as ``X``, raw units. With ``n_components`` (an ordered code only),
        decoded from the first ``n_components`` code values."""
        self._check_fitted()
        if n_components is not None:
            return self.inverse_transform(self.transform(X, n_components=n_components))
        return self._to_user_layout(self._reconstruct(self._validate(X, reset=False)))

    def reconstruction_curve(self, X, *, sizes=None) -> dict[str, list]:
        """An ordered code's mean squared reconstruction error of ``X`` (raw units) from its first ``k`` values,
        for each ``k`` in ``sizes`` (default 1, 2, 4, ..., latent_dim), and the share of ``X``'s variance it
        explains, 1 - MSE / variance (PCA's explained variance, read off the reconstructions):
        ``{"k": [...], "mse": [...], "explained_variance": [...]}``."""
        from aekit.objectives import prefix_sizes

        self._check_fitted()
        x = np.asarray(X, dtype=np.float32)
        total = float(np.mean((x - x.mean(axis=0)) ** 2))
        ks = [self._prefix(int(k)) for k in (sizes if sizes is not None else prefix_sizes(self._n_features_out))]
        mse = [float(np.mean((self.reconstruct(x, n_components=k) - x) ** 2)) for k in ks]
        return {"k": ks, "mse": mse, "explained_variance": [1.0 - m / total if total > 0 else 0.0 for m in mse]}

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
