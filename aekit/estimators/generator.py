"""Generate new samples: from a VAE's prior, a VQ-VAE's autoregressive prior over codes, or a plain
autoencoder whose codes are given a fitted density (a Gaussian mixture).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; van den Oord et al., "Neural Discrete
Representation Learning", NeurIPS 2017; Ghosh et al., "From Variational to Deterministic Autoencoders",
ICLR 2020 (ex-post density estimation on a plain autoencoder's codes with a Gaussian mixture).
"""
from __future__ import annotations

import numpy as np
import torch

from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.seeding import resolve_seed, resolve_seeds
from aekit.validation import Either, Integer, Options, check_params
from aekit.operations import Operation, codes

_DENSITIES = ("auto", "prior", "gmm")
_NOISES = ("auto", "none", "residual")
NOISE_LEVELS = 129  # quantiles of the training residuals kept per channel for noise="residual"


@register_estimator("generator")
class Generator(AutoencoderEstimator):
    """Fit a generative autoencoder, then ``sample`` new data and ``interpolate`` between samples.

    Parameters
    ----------
    latent_dim : int, default 16
    model : str, default "auto"
        "auto": ``vae-conv`` for images whose sides divide by 4, else ``vae``. Also ``vq-vae`` (samples
        from its prior over codes) or any plain model (``conv``, ``mlp``, ...) with ``density="gmm"``.
        A sequence-only model (``vae-seq``, ``conv1d-seq`` / ``lstm-seq`` with ``density="gmm"``) reads
        ``X`` as windows ``(n, C, T)`` or ``(n, T)`` (data kind "sequence") rather than as images.
    density : {"auto", "prior", "gmm"}, default "auto"
        Where samples come from: the model's own prior (VAE, VQ-VAE) or a Gaussian mixture fitted to
        the codes of the training data ("auto": the prior when the model has one, else "gmm"; "gmm" for
        sequences, whose codes the prior fits badly).
    n_components : int or "auto", default "auto"
        Mixture components for ``density="gmm"``; "auto": 20 for sequences, else 10 (20 brought the samples
        of all four NAB series of benchmarks/series_generation.py closer to real ones than 10 did).
    noise : {"auto", "none", "residual"}, default "auto"
        What ``sample`` returns: the decoder's output for each code (its mean: smooth, the usual choice for
        images), or that plus observation noise -- for each element independently, a draw from its channel's
        distribution of training residuals (inputs minus their reconstructions, kept as ``NOISE_LEVELS``
        quantiles per channel). The decoder's likelihood made empirical: noisy signals such as sensor series
        look real only with their noise. "auto": "residual" for sequences, else "none". For sequences the
        ``vae-seq`` model also defaults to ``beta=1e-4``: these three defaults took the sequence VAE's
        discriminative score below an AR model's on four NAB series (benchmarks/series_generation.py).
    batch_size : int or "auto", default "auto"
        "auto": 64 for sequences (twice the steps of 128 per epoch: on the four NAB series of
        benchmarks/series_generation.py their samples were harder to tell from real windows), else 128.
    model_params, epochs, lr, max_time, validation_fraction, scaler, random_state, device, verbose
        As in :class:`aekit.Reducer`.

    Attributes
    ----------
    autoencoder_ : aekit.TrainedAutoencoder
    density_ : str
        "prior" or "gmm".
    gmm_ : sklearn.mixture.GaussianMixture or None
        The code density when ``density_ == "gmm"``.
    noise_quantiles_ : np.ndarray or None
        ``(NOISE_LEVELS, C)``: quantiles 0, 1/128, ..., 1 of each channel's (feature's, for tables) training
        residuals in raw units, when ``noise="residual"``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Generator
    >>> X = load_digits().images
    >>> gen = Generator(latent_dim=8, model="conv", density="gmm", epochs=3).fit(X[:300])
    >>> gen.sample(4).shape
    (4, 8, 8)
    """

    _constraints = {**AutoencoderEstimator._constraints,
                              "density": Options(*_DENSITIES), "n_components": Either(Integer(1), Options("auto")),
                              "noise": Options(*_NOISES), "batch_size": Either(Integer(1), Options("auto"))}

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "generation"
    operations = (
        Operation("sample", "count", ("samples",), "new samples",
                  lambda est, n, seed=None: est.sample(n, random_state=seed)),
        Operation("encode", "samples", ("code",), "the codes", codes),
    )

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    _conformance = {"data": "table", "params": {"latent_dim": 2, "epochs": 2},
                    "sklearn": [{"latent_dim": 2, "epochs": 3, "batch_size": 32},
                                {"latent_dim": 2, "model": "mlp", "density": "gmm", "n_components": 2, "epochs": 3,
                                 "batch_size": 32}]}

    def __init__(self, latent_dim: int = 16, *, model: str = "auto", density: str = "auto",
                 n_components: int | str = "auto",
                 noise: str = "auto", model_params: dict | None = None, epochs: int = 50,
                 batch_size: int | str = "auto", lr: float = 3e-3, max_time: float | None = None,
                 validation_fraction: float = 0.1,
                 scaler: str = "auto", random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.model = model
        self.density = density
        self.n_components = n_components
        self.noise = noise
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    corruption = None  # generators train on clean data

    @property
    def _data_kind(self) -> str | None:
        """"sequence" when ``model`` accepts only sequences (``vae-seq``), else None (kind from the rank)."""
        if isinstance(self.model, str) and self.model != "auto":
            from aekit.models import model_class

            try:
                kinds = tuple(model_class(self.model).input_kinds)
            except (ValueError, KeyError):  # an unknown name: the fit reports it when it builds the model
                return None
            if kinds == ("sequence",):
                return "sequence"
        return None

    def _model_name(self, input_shape):
        if self.model != "auto":
            return self.model
        name = super()._model_name(input_shape)
        return "vae-conv" if name == "conv" else "vae"

    def _default_model_params(self, name, input_shape):
        params = super()._default_model_params(name, input_shape)
        if name in ("vae", "vae-conv"):  # data scaled to [0, 1]: a Bernoulli decoder gives sharp samples
            params.update(likelihood="bernoulli")
        if name == "vae-seq":  # beta 1 collapses the codes of series windows (benchmarks/series_generation.py)
            params.update(beta=1e-4)
        return params

    def _n_components(self) -> int:
        if self.n_components == "auto":
            return 20 if self._sequences else 10
        return int(self.n_components)

    def _batch_size(self) -> int:
        if self.batch_size == "auto":
            return 64 if self._sequences else 128
        return int(self.batch_size)

    @property
    def _sequences(self) -> bool:
        return getattr(self, "layout_", None) is not None and self.layout_.kind == "sequence"

    def fit(self, X, y=None):
        """Train on ``X`` (``y`` is ignored) and fit the code density. Returns ``self``."""
        self._check_params()
        x = self._validate(X, reset=True)
        name = self._model_name(tuple(x.shape[1:]))
        bernoulli = {**self._default_model_params(name, tuple(x.shape[1:])), **(self.model_params or {})}.get(
            "likelihood") == "bernoulli"
        seeds = resolve_seeds(self.random_state)
        self._fit_autoencoder(x, seeds=seeds, objective="bce" if bernoulli else "mse")
        model = self.autoencoder_.model
        has_prior = callable(getattr(model, "sample", None))
        if self.density == "prior" and not has_prior:
            raise ValueError(f"Generator: density='prior' needs a model with a prior (vae, vae-conv, vq-vae); "
                             f"{name!r} has none, use density='gmm'")
        self.density_ = "prior" if self.density == "auto" and has_prior and not self._sequences else (
            "gmm" if self.density == "auto" else self.density)
        self.gmm_ = None
        if self.density_ == "gmm":
            if not model.can_decode or len(model.code_shape) != 1:
                raise ValueError(f"Generator: density='gmm' needs a model with a flat code that it can decode; "
                                 f"{name!r} has code shape {model.code_shape}")
            from sklearn.mixture import GaussianMixture

            codes = self._encode(x)
            k = min(self._n_components(), len(codes))
            self.gmm_ = GaussianMixture(k, covariance_type="full", reg_covar=1e-4,
                                        random_state=seeds.init).fit(codes)
        self.noise_quantiles_ = None
        self.noise_ = ("residual" if self._sequences else "none") if self.noise == "auto" else self.noise
        if self.noise_ == "residual":
            res = (x - self._reconstruct(x)).astype(np.float64)                    # (n, C, ...) raw units
            per_channel = np.moveaxis(res, 1, 0).reshape(res.shape[1], -1)          # (C, n * ...)
            self.noise_quantiles_ = np.quantile(per_channel, np.linspace(0, 1, NOISE_LEVELS), axis=1)  # (Q, C)
        return self

    def sample(self, n_samples: int = 1, *, random_state=None) -> np.ndarray:
        """``n_samples`` new samples shaped like the training data, in raw units."""
        self._check_fitted()
        check_params("Generator.sample", {"n_samples": n_samples}, {"n_samples": Integer(1)})
        seed = resolve_seed(self.random_state if random_state is None else random_state)
        model = self.autoencoder_.model
        if self.density_ == "gmm":
            rng = np.random.default_rng(seed)
            w = np.asarray(self.gmm_.weights_, dtype=np.float64)
            comp = rng.choice(len(w), size=n_samples, p=w / w.sum())
            # float64 whatever the mixture was fitted in, so a reloaded model (its JSON reads back as float64)
            # draws exactly the same samples
            chol = np.linalg.cholesky(np.asarray(self.gmm_.covariances_, dtype=np.float64))   # (K, d, d)
            eps = rng.standard_normal((n_samples, chol.shape[-1]))                  # (n, d)
            means = np.asarray(self.gmm_.means_, dtype=np.float64)
            z = means[comp] + np.einsum("nij,nj->ni", chol[comp], eps)              # (n, d)
            out = self._decode(z.astype(np.float32))
        else:
            gen = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                out = model.sample(int(n_samples), generator=gen).float().numpy()
            scaler = self.autoencoder_.scaler
            out = scaler.inverse_transform(out) if scaler is not None else out
        if getattr(self, "noise_quantiles_", None) is not None:
            out = out + self._draw_noise(out.shape, np.random.default_rng([seed, 1]))
        return self._to_user_layout(out)

    def _draw_noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Noise shaped ``shape`` (model layout): inverse-CDF draws from each channel's residual quantiles."""
        q = np.asarray(self.noise_quantiles_, dtype=np.float64)                   # (Q, C)
        levels = np.linspace(0, 1, len(q))
        u = rng.random(shape)                                                     # (n, C, ...)
        noise = np.stack([np.interp(u[:, c], levels, q[:, c]) for c in range(shape[1])], axis=1)
        return noise.astype(np.float32)

    def interpolate(self, x_a, x_b, *, steps: int = 8) -> np.ndarray:
        """Decode ``steps`` points on the line between the codes of two samples: ``(steps, *sample_shape)``."""
        self._check_fitted()
        check_params("Generator.interpolate", {"steps": steps}, {"steps": Integer(2)})
        ends = self._validate(np.stack([np.asarray(x_a), np.asarray(x_b)]), reset=False)
        model = self.autoencoder_.model
        if not model.can_decode:
            raise ValueError(f"the {model.name!r} model cannot decode codes alone")
        z = self._encode(ends)                                         # (2, *code_shape)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(-1, *([1] * (z.ndim - 1)))
        return self._to_user_layout(self._decode((1 - t) * z[:1] + t * z[1:]))

    # persistence: the mixture's parameters are JSON
    def _get_state(self) -> dict:
        state = {**super()._get_state(), "density_": self.density_}
        if getattr(self, "noise_quantiles_", None) is not None:
            state["noise_quantiles_"] = self.noise_quantiles_
        if self.gmm_ is not None:
            state["gmm_"] = {"weights_": self.gmm_.weights_, "means_": self.gmm_.means_,
                             "covariances_": self.gmm_.covariances_}
        return state

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.density_ = state["density_"]
        self.noise_quantiles_ = np.asarray(state["noise_quantiles_"]) if "noise_quantiles_" in state else None
        self.noise_ = "none" if self.noise_quantiles_ is None else "residual"
        self.gmm_ = None
        if "gmm_" in state:
            from sklearn.mixture import GaussianMixture

            g = state["gmm_"]
            self.gmm_ = GaussianMixture(len(g["weights_"]), covariance_type="full")
            self.gmm_.weights_ = np.asarray(g["weights_"])
            self.gmm_.means_ = np.asarray(g["means_"])
            self.gmm_.covariances_ = np.asarray(g["covariances_"])
            from scipy.linalg import solve_triangular  # the same parametrisation scikit-learn computes in fit

            self.gmm_.precisions_cholesky_ = np.stack([
                solve_triangular(np.linalg.cholesky(c), np.eye(len(c)), lower=True).T for c in self.gmm_.covariances_])
