"""Anomaly detection with autoencoders, as a scikit-learn outlier detector.

An autoencoder trained on (mostly) normal data reconstructs normal samples well and anomalies badly, so
the reconstruction error is an anomaly score (Japkowicz, Myers & Gluck, "A novelty detection approach to
classification", IJCAI 1995; Sakurada & Yairi, "Anomaly detection using autoencoders with nonlinear
dimensionality reduction", MLSDA 2014). The density of the codes under a Gaussian mixture adds what the
error misses: an anomaly that the decoder reconstructs well but that lands where normal codes are rare
(Zong et al., "Deep autoencoding Gaussian mixture model for unsupervised anomaly detection", ICLR 2018,
fit the mixture jointly; here it is fitted after training). An ensemble of autoencoders with different
seeds averages out the variance of single networks (Chen et al., "Outlier detection with autoencoder
ensembles", SDM 2017); on tables the default is such an ensemble trained as one batched network
(``mlp-ensemble``: per-member feature subsets and bootstrap weights, a short training that adapts to the
table's size), each member's error normalised per feature and joined by the distance of the code to its
nearest training codes (kNN in the code space, which catches anomalies the decoder reconstructs well but
that lie where the normal codes are sparse; Ramaswamy et al., SIGMOD 2000, scored on raw features). On contaminated training data the robust mode drops the training samples with the
largest errors and trains again on the rest (trimmed fitting, as in Rousseeuw's least trimmed squares).
"""
from __future__ import annotations

import copy
import warnings
import weakref

import numpy as np
import torch
from sklearn.base import OutlierMixin

from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.seeding import Seeds, resolve_seeds
from aekit.training.fitting import split_validation
from aekit.estimators.scoring import (ThresholdWarning, list_score_types, list_threshold_rules, score_type,
                                      threshold_rule)
from aekit.validation import Either, Instance, Integer, NoneOr, Options, Real, check_params
from aekit.operations import Operation, codes, verdict

MODES = ("clean", "contaminated")


@register_estimator("anomaly-detector")
class AnomalyDetector(OutlierMixin, AutoencoderEstimator):
    """Score, threshold and explain anomalies with an autoencoder (ensemble) trained on normal data.

    Parameters
    ----------
    latent_dim : int or "auto", default "auto"
        Code size; "auto": 16 for images, ``clip(round(sqrt(n_features)), 2, 16)`` for tables.
    score_type : {"auto", "reconstruction", "latent", "combined", "error+knn"}, default "auto"
        "reconstruction": the mean squared reconstruction error (scaled units; on tables each feature's error
        is divided by its mean on the training data, so that every feature counts alike); "latent": the
        negative log-density of the code under a Gaussian mixture fitted to the training codes; "combined":
        the sum of both after standardising each by its mean and standard deviation on the training data
        (the error in log scale); "error+knn": the standardised error plus the standardised distance of the
        code to its ``n_neighbors``-th nearest training code. "auto": "error+knn" for tables, "reconstruction"
        for images. Score types are registered objects (``aekit.estimators.scoring``).
    n_estimators : int or "auto", default "auto"
        Ensemble members; their standardised scores are averaged. With the ``mlp-ensemble`` model (the
        default for tables) they are the members of one batched network, else separate autoencoders trained
        with different seeds. "auto": 8 for tables, 1 for images.
    n_neighbors : int, default 5
        Neighbours for the "error+knn" score.
    mode : {"clean", "contaminated"}, default "clean"
        "clean": the training data is taken as all normal. "contaminated": after a first fit, the
        ``trim_fraction`` of training samples with the largest reconstruction errors is dropped and
        the autoencoders are trained again on the rest.
    trim_fraction : float, optional
        Fraction dropped in the contaminated mode; default: ``contamination`` when it is a float, else 0.1.
    contamination : "auto" or float in (0, 0.5], default "auto"
        Expected fraction of anomalies; with a float, the threshold flags that fraction of the
        training data (scikit-learn convention).
    threshold : {"auto", "contamination", "percentile", "sigma", "robust", "max"}, default "auto"
        How ``threshold_`` is set from the training anomaly scores: "contamination" the
        ``1 - contamination`` quantile; "percentile" the ``percentile``-th percentile; "sigma" mean +
        ``n_sigma`` standard deviations; "robust" the start of a separate high mode of the scores when they
        have one (anomalies that make up much of the training data), else median + ``n_sigma`` robust
        standard deviations (from the median absolute deviation); "max" the largest training score (flags
        nothing in the training data). "auto": "contamination" when ``contamination`` is a float, else
        "robust". Rules are registered objects (``aekit.estimators.scoring``; ``register_threshold_rule``
        adds one). :meth:`set_threshold` changes it after fitting (also by the best F1 on labelled data).
        A ThresholdWarning says when a threshold flags none or all of the scores it was set on.
    percentile : float, default 99.0
    n_sigma : float, default 3.0
    gmm_components : int, default 4
        Components of the Gaussian mixture on the codes ("latent" and "combined" scores).
    error_sigma : float or "auto", default "auto"
        Images: smooth the residual with a Gaussian of this many pixels before squaring it (errors and
        error maps), so that spatially coherent errors count more than scattered pixel noise. "auto": 1.0.
    model : str, default "auto"
        A registered model; "auto": ``mlp-ensemble`` (hidden width ``clip(n_features, 16, 64)``) for tables,
        ``mlp`` (hidden [256, 64]) for images and sequences.
    model_params : dict, optional
        Extra model arguments, e.g. ``{"hidden": [64, 32]}``.
    epochs : int or "auto", default "auto"
        "auto": 20 for images; 3 for tables, or more when ``min_steps`` needs them (a short training keeps
        the anomalies in contaminated training data from being learnt).
    batch_size : int or "auto", default "auto"
        "auto": 128 for tables, 64 for images.
    lr, max_time : training budget of each autoencoder.
    min_steps : int, default 100
        Small data sets train for more epochs, so that each autoencoder takes at least this many steps.
    validation_fraction : float, default 0.0
        Held out for early stopping (0: train exactly ``epochs`` epochs).
    scaler : {"auto", "minmax", "standard", "range", "none"}, default "auto"
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    threshold_ : float
        Anomaly scores above it are anomalies.
    offset_ : float
        ``-threshold_``; ``decision_function = score_samples - offset_`` (scikit-learn convention).
    train_scores_ : ndarray of shape (n_samples,)
        Anomaly scores of the training data.
    autoencoder_ : aekit.TrainedAutoencoder
        The first autoencoder and the scaler; ``members_`` lists all the autoencoders.
    history_ : list of dict
        Per-epoch losses of the first autoencoder.
    class_error_history_ : list of dict
        Per-epoch mean reconstruction error per label of the ``monitor`` data given to :meth:`fit`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import AnomalyDetector
    >>> X, y = load_digits(return_X_y=True)
    >>> det = AnomalyDetector(contamination=0.05).fit(X[y == 0])
    >>> labels = det.predict(X)            # +1 normal, -1 anomaly
    >>> float((labels[y == 0] == -1).mean()) <= 0.1
    True
    """

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "anomaly detection"
    operations = (
        Operation("detect", "samples", ("anomaly_score", "is_anomaly"),
                  "anomaly score and verdict (is_anomaly: score > threshold)", verdict),
        Operation("score", "samples", ("anomaly_score", "is_anomaly", "error_map"), "anomaly score, verdict (score > "
                  "threshold) and per-feature or per-pixel squared error; asking only for anomaly_score / is_anomaly "
                  "skips the error map", lambda est, x: {**verdict(est, x), "error_map": est.error_map(x)}),
        Operation("reconstruct", "samples", ("reconstruction",), "reconstructions by the first member, raw units",
                  "reconstruct"),
        Operation("encode", "samples", ("code",), "codes of the first member", codes),
    )

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    _conformance = {"data": "table", "params": {"latent_dim": 2, "n_estimators": 2, "epochs": 2, "min_steps": 0},
                    "sklearn": [{"latent_dim": 2, "n_estimators": 2, "gmm_components": 2, "min_steps": 0, "epochs": 3,
                                 "batch_size": 32}]}

    def __init__(self, latent_dim="auto", *, score_type: str = "auto", n_estimators="auto", n_neighbors: int = 5,
                 mode: str = "clean", trim_fraction: float | None = None, contamination="auto", threshold: str = "auto",
                 percentile: float = 99.0, n_sigma: float = 3.0, gmm_components: int = 4, error_sigma="auto",
                 model: str = "auto", model_params: dict | None = None, epochs="auto", batch_size="auto",
                 lr: float = 3e-3, min_steps: int = 100, max_time: float | None = None,
                 validation_fraction: float = 0.0, scaler: str = "auto", random_state=0, device: str = "cpu",
                 verbose: bool = False):
        self.latent_dim = latent_dim
        self.score_type = score_type
        self.n_estimators = n_estimators
        self.n_neighbors = n_neighbors
        self.mode = mode
        self.trim_fraction = trim_fraction
        self.contamination = contamination
        self.threshold = threshold
        self.percentile = percentile
        self.n_sigma = n_sigma
        self.gmm_components = gmm_components
        self.error_sigma = error_sigma
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.min_steps = min_steps
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    corruption = None  # the base class reads it; anomaly detectors train on clean inputs
    _default_rule = "robust"  # threshold="auto" without a float contamination

    _constraints = {
        **AutoencoderEstimator._constraints,
        "latent_dim": Either(Integer(1), Options("auto")),
        "score_type": Instance(str, what="'auto' or a registered score type (list_score_types())"),
        "n_estimators": Either(Integer(1), Options("auto")),
        "n_neighbors": Integer(1),
        "mode": Options(*MODES),
        "trim_fraction": NoneOr(Real(0, 0.5, closed="left")),
        "contamination": Either(Options("auto"), Real(0, 0.5, closed="right")),
        "threshold": Instance(str, what="'auto' or a registered threshold rule (list_threshold_rules())"),
        "percentile": Real(0, 100, closed="right"),
        "n_sigma": Real(0),
        "gmm_components": Integer(1),
        "error_sigma": Either(Real(0), Options("auto")),
        "epochs": Either(Integer(1), Options("auto")),
        "batch_size": Either(Integer(1), Options("auto")),
        "min_steps": Integer(0),
    }

    # ------------------------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        super()._check_params()
        rules = [r for r in list_threshold_rules() if not threshold_rule(r).needs_labels]
        check_params(type(self).__name__, {"score_type": self.score_type, "threshold": self.threshold},
                     {"score_type": Options("auto", *list_score_types()), "threshold": Options("auto", *rules)})
        if self.threshold == "contamination" and self.contamination == "auto":
            raise ValueError(f"{type(self).__name__}: threshold='contamination' needs a float contamination, "
                             f"got 'auto'")

    def _latent_dim(self) -> int:
        if self.latent_dim != "auto":
            return int(self.latent_dim)
        if self._is_image:
            return 16
        return int(np.clip(round(np.sqrt(self.n_features_in_)), 2, 16))

    # the "auto" settings, by data kind: tables get the batched ensemble with a short training, images the
    # configuration measured on one-class MNIST (benchmarks/anomaly.py)
    @property
    def _is_table(self) -> bool:
        return self.layout_.kind == "table"

    def _score_type(self) -> str:
        return self.score_type if self.score_type != "auto" else ("error+knn" if self._is_table else "reconstruction")

    def _n_members(self) -> int:
        return int(self.n_estimators) if self.n_estimators != "auto" else (8 if self._is_table else 1)

    def _error_sigma(self) -> float:
        return float(self.error_sigma) if self.error_sigma != "auto" else 1.0

    def _batch_size(self) -> int:
        return int(self.batch_size) if self.batch_size != "auto" else (128 if self._is_table else 64)

    def _model_name(self, input_shape: tuple[int, ...]) -> str:
        if self.model != "auto":
            return self.model
        return "mlp-ensemble" if len(input_shape) == 1 else "mlp"

    def _default_model_params(self, name: str, input_shape: tuple[int, ...]) -> dict:
        if name == "mlp-ensemble":
            return {"hidden": [int(np.clip(input_shape[0], 16, 64))], "n_members": self._n_members()}
        if name == "mlp" and len(input_shape) > 1:
            return {"hidden": [256, 64]}
        return super()._default_model_params(name, input_shape)

    # ------------------------------------------------------------------------------------ fitting
    def fit(self, X, y=None, *, monitor=None):
        """Train on ``X`` (``y`` is ignored) and set the threshold from the training scores.

        ``monitor``: optional ``(X_mon, labels)``; after every epoch of the first autoencoder the mean
        reconstruction error of each label is recorded in ``class_error_history_``. Returns ``self``.
        """
        self._check_params()
        if self._is_stream(X):
            return self._fit_stream(X)
        x = self._validate(X, reset=True)
        seeds = resolve_seeds(self.random_state)
        scaler = self._make_scaler(x)
        xs = scaler.transform(x).astype(np.float32)
        mon = None
        if monitor is not None:
            xm, ym = monitor
            mon = (scaler.transform(self._validate(xm, reset=False)).astype(np.float32), np.asarray(ym))
        self.class_error_history_ = []
        members, histories = self._train_members(xs, seeds, mon)
        self.n_trimmed_ = 0
        if self.mode == "contaminated":
            trim = self.trim_fraction if self.trim_fraction is not None else (
                float(self.contamination) if self.contamination != "auto" else 0.1)
            n_drop = int(np.floor(trim * len(xs)))
            if n_drop > 0 and len(xs) - n_drop >= 2:
                err = np.mean([self._errors(m, xs) for m in members], axis=0)
                keep = np.sort(np.argsort(err, kind="stable")[:len(xs) - n_drop])
                self.class_error_history_ = []
                members, histories = self._train_members(xs[keep], seeds, mon)
                self.n_trimmed_ = n_drop
                fit_x = xs[keep]
            else:
                fit_x = xs
        else:
            fit_x = xs
        self._keep_members(members, histories[0], scaler)
        self._fit_scoring(fit_x, xs, seeds)
        return self

    def _keep_members(self, members: list, history: list, scaler) -> None:
        from aekit.persistence import TrainedAutoencoder

        self.extra_members_ = members[1:]
        self.autoencoder_ = TrainedAutoencoder(members[0], scaler, metadata={"model": members[0].name})
        self.history_, self.n_iter_ = history, len(history)

    def _fit_scoring(self, fit_x: np.ndarray, xs: np.ndarray, seeds: Seeds) -> None:
        """The score statistics from ``fit_x``, then ``train_scores_`` of ``xs`` and the threshold from them
        (scaled data; ``fit_x`` is ``xs`` less what a contaminated fit trimmed)."""
        self._fit_score_stats(fit_x, seeds)
        self.train_scores_ = self._anomaly_scores(xs)
        self._set_threshold_from(self.train_scores_, self._rule())

    def _fit_stream(self, stream, max_reference: int = 20_000):
        """``fit`` on a stream larger than memory: the scaler in one pass, every member trained on the shuffled
        stream (no validation split), and the score statistics, kNN reference codes and threshold computed on
        ``max_reference`` rows drawn uniformly from it (``reference_sample_size_``)."""
        seeds = resolve_seeds(self.random_state)
        scaled, scaler = self._stream_setup(stream)
        members, histories = self._train_members(scaled, seeds, None, validation_fraction=0.0)
        self._keep_members(members, histories[0], scaler)
        self.class_error_history_, self.n_trimmed_ = [], 0
        xs = scaled.sample(max_reference, seed=seeds.split)
        self.reference_sample_size_ = len(xs)
        self._fit_scoring(xs, xs, seeds)
        return self

    def score_to(self, stream, path):
        """``anomaly_score`` of every row of a stream, in file order, written to the ``.npy`` file ``path``
        piece by piece (memory bounded whatever the stream's size); returns the path."""
        return self._write_stream(stream, path, self.anomaly_score)

    def partial_fit(self, X, y=None):
        """Go on training on a new batch ``X`` (the first call fits; ``y`` is ignored).

        Every member trains ``epochs`` more epochs on ``X`` (``min_steps`` only sets the least training of a
        first fit), with the scaler of the first fit and a new optimizer per call. Then everything the scores are built
        from is recomputed on ``X`` alone: the per-feature error scales, the score statistics, the training
        codes of the kNN distance (``reference_codes_``), ``train_scores_`` and the threshold (by the same
        rule as ``fit``). So the detector describes the latest batch: for batches drawn from the same data
        that is the whole data; for drifting data, the present. ``mode="contaminated"`` does not trim here.
        Returns ``self``.
        """
        if not hasattr(self, "autoencoder_"):
            return self.fit(X)
        self._check_params()
        x = self._validate(X, reset=False)
        xs = self.autoencoder_.scaler.transform(x).astype(np.float32)
        seeds = self._next_batch_seeds()
        for i, model in enumerate(self.members_):  # more epochs (min_steps only holds for a first fit)
            fitted = self._train(xs, seeds=seeds.member(i), model=model.train(), scaler=None, objective="mse")
            if i == 0:
                self.history_ = self.history_ + fitted.result.history
                self.n_iter_ = len(self.history_)
        self._fit_scoring(xs, xs, seeds)
        return self

    def _train_members(self, xs, seeds: Seeds, monitor, validation_fraction: float | None = None):
        """``n_estimators`` autoencoders on the scaled data ``xs`` (an array or a scaled stream), member i with
        ``seeds.member(i)``; each runs at least ``min_steps`` optimisation steps. Returns (models, histories)."""
        shape = tuple(xs.sample_shape) if self._is_stream(xs) else tuple(xs.shape[1:])
        spec = self._model_spec(shape)
        vf = self.validation_fraction if validation_fraction is None else validation_fraction
        members, histories = [], []
        batched = "n_members" in spec.params  # one network holds every member
        for i in range(1 if batched else self._n_members()):
            member = seeds.member(i)
            epochs = self._epochs_for(len(split_validation(len(xs), vf, member.split)[0]))
            callbacks = (lambda model: [self._monitor_callback(model, *monitor)]) if (monitor is not None and i == 0) \
                else ()
            fitted = self._train(xs, seeds=member, model=spec, scaler=None, objective="mse", callbacks=callbacks,
                                 epochs=epochs, validation_fraction=validation_fraction)
            members.append(fitted.model)
            histories.append(fitted.result.history)
        return members, histories

    def _epochs(self) -> int:
        return int(self.epochs) if self.epochs != "auto" else (3 if self._is_table else 20)

    def _monitor_callback(self, model, xm: np.ndarray, ym: np.ndarray):
        def record(epoch: int, logs: dict):
            if "step" in logs:
                return None
            err = self._errors(model, xm, device=next(model.parameters()).device)
            self.class_error_history_.append(
                {"epoch": int(epoch), **{str(c): float(err[ym == c].mean()) for c in np.unique(ym)}})
            return None
        return record

    # ------------------------------------------------------------------------------------ scoring parts
    @torch.no_grad()
    def _forward(self, model, xs: np.ndarray, device=None, batch_size: int = 1024):
        """Reconstructions and codes of scaled inputs xs (model layout). Without ``device`` a float64 copy of
        the model computes them, so that a sample's score does not depend on the batch it comes in."""
        was_training = model.training
        model.eval()
        dtype = torch.float32
        if device is None:
            model, dtype, device = _float64_copy(model), torch.float64, torch.device("cpu")
        recons, codes = [], []
        for i in range(0, len(xs), batch_size):
            out = model(torch.from_numpy(xs[i:i + batch_size]).to(device, dtype))
            recons.append(out.recon.double().cpu().numpy())
            codes.append(out.code.double().cpu().numpy().reshape(len(out.code), -1))
        model.train(was_training)
        return np.concatenate(recons), np.concatenate(codes)

    def _errors(self, model, xs: np.ndarray, device=None) -> np.ndarray:
        recon, _ = self._forward(model, xs, device=device)
        return self._squared(recon - xs).reshape(len(xs), -1).mean(axis=1)

    def _squared(self, r: np.ndarray) -> np.ndarray:
        """A residual (recon - x) squared per feature; for images with ``error_sigma`` > 0 it is smoothed by a
        Gaussian of that many pixels first, so that coherent errors (a missing stroke) outweigh scattered ones."""
        sigma = self._error_sigma()
        if sigma and r.ndim == 4:
            from scipy.ndimage import gaussian_filter

            r = gaussian_filter(r, sigma=(0, 0, sigma, sigma))
        return r ** 2

    # A scoring unit is one member: a whole autoencoder, or one member of a batched ensemble network.
    @torch.no_grad()
    def _unit_parts(self, xs: np.ndarray, batch_size: int = 1024):
        """Per unit, in ``members_`` order: (squared residual (n, *sample), codes (n, k), features it sees (D,)
        bool or None for all). Computed by float64 copies, so a score does not depend on its batch."""
        parts = []
        for model in self.members_:
            net = _float64_copy(model)
            res, codes = [], []
            for i in range(0, len(xs), batch_size):
                x = torch.from_numpy(xs[i:i + batch_size]).double()
                out = net(x)
                if getattr(net, "n_members", None):          # (U, B, D) residuals, (B, U, k) codes
                    res.append((out.pre_output - x.unsqueeze(0)).numpy())
                    codes.append(out.code.transpose(0, 1).numpy())
                else:
                    res.append(out.recon.numpy()[None] - x.numpy()[None])
                    codes.append(out.code.reshape(len(x), -1).numpy()[None])
            res, codes = np.concatenate(res, axis=1), np.concatenate(codes, axis=1)
            masks = net.feature_mask.numpy() > 0 if getattr(net, "n_members", None) else [None] * len(res)
            for r, c, m in zip(res, codes, masks):
                parts.append((self._squared(r), c, m))
        return parts

    def _unit_error(self, sq: np.ndarray, mask, stats: dict) -> np.ndarray:
        """Mean squared error over the unit's features; on tables each feature's divided by its training mean."""
        flat = sq.reshape(len(sq), -1)
        if "feature_scale" in stats:
            flat = flat / np.asarray(stats["feature_scale"])
        return (flat if mask is None else flat[:, mask]).mean(axis=1)

    def _fit_score_stats(self, xs: np.ndarray, seeds: Seeds) -> None:
        """Per unit: the feature scales (tables), the Gaussian mixture of the codes, the training codes for the
        kNN distance, and the mean/std of each score part on ``xs``."""
        from sklearn.mixture import GaussianMixture

        kind = score_type(self._score_type())
        self.score_stats_, refs = [], []
        parts = self._unit_parts(xs)
        for j, (sq, codes, mask) in enumerate(parts):
            stats = {}
            if self._is_table:
                stats["feature_scale"] = (sq.mean(axis=0) + 1e-12).tolist()
            err = self._unit_error(sq, mask, stats)
            log_err = np.log(err + 1e-12)
            stats.update(err_mean=float(log_err.mean()), err_std=float(log_err.std() + 1e-12),
                         err_raw_mean=float(err.mean()), err_raw_std=float(err.std() + 1e-12))
            if kind.uses_density:
                mu, sd = codes.mean(axis=0), codes.std(axis=0) + 1e-6
                z = (codes - mu) / sd
                gmm = GaussianMixture(int(min(self.gmm_components, len(z))), covariance_type="full", reg_covar=1e-3,
                                      n_init=1, max_iter=200, random_state=seeds.init + j).fit(z)
                stats.update(code_mean=mu.tolist(), code_std=sd.tolist(), weights=gmm.weights_.tolist(),
                             means=gmm.means_.tolist(), covariances=gmm.covariances_.tolist())
                nll = _gmm_nll(z, stats)
                stats.update(nll_mean=float(nll.mean()), nll_std=float(nll.std() + 1e-12))
            if kind.uses_neighbours:
                refs.append(codes)
            self.score_stats_.append(stats)
        self.reference_codes_ = np.stack(refs) if refs else None
        self._neighbour_index = None
        if kind.uses_neighbours:
            for stats, d in zip(self.score_stats_, self._knn_distances(parts)):
                stats.update(knn_mean=float(d.mean()), knn_std=float(d.std() + 1e-12))

    def _knn_distances(self, parts) -> list[np.ndarray]:
        """Per unit (``parts``: :meth:`_unit_parts`), the distance of each code to its ``n_neighbors``-th nearest training code (a training row
        counts itself, as any row scored later that equals one does, so that ``fit_predict`` and ``predict``
        agree)."""
        from sklearn.neighbors import NearestNeighbors

        if getattr(self, "_neighbour_index", None) is None:
            self._neighbour_index = [NearestNeighbors().fit(r) for r in self.reference_codes_]
        k = min(int(self.n_neighbors), self.reference_codes_.shape[1])
        return [index.kneighbors(codes, n_neighbors=k)[0][:, -1]
                for index, (_, codes, _) in zip(self._neighbour_index, parts)]

    def _anomaly_scores(self, xs: np.ndarray) -> np.ndarray:
        kind = score_type(self._score_type())
        parts = self._unit_parts(xs)
        knn = self._knn_distances(parts) if kind.uses_neighbours else None
        scores = []
        for j, ((sq, codes, mask), st) in enumerate(zip(parts, self.score_stats_)):
            err = self._unit_error(sq, mask, st)
            nll = _gmm_nll((codes - np.asarray(st["code_mean"])) / np.asarray(st["code_std"]), st) \
                if kind.uses_density else None
            scores.append(kind(err, nll, st, **({"knn": knn[j]} if knn is not None else {})))
        return np.mean(scores, axis=0)

    def _scaled(self, X) -> np.ndarray:
        x = self._validate(X, reset=False)
        return self.autoencoder_.scaler.transform(x).astype(np.float32)

    # ------------------------------------------------------------------------------------ thresholds
    def _rule(self) -> str:
        if self.threshold != "auto":
            return self.threshold
        return "contamination" if self.contamination != "auto" else self._default_rule

    def _set_threshold_from(self, scores: np.ndarray, method: str, *, labels=None, **values) -> None:
        """``threshold_`` from ``scores`` by the registered rule ``method`` (aekit/estimators/scoring.py); the
        rule's value comes from ``values`` when given, else from the estimator's parameter of the same name."""
        rule = threshold_rule(method)
        value = None
        if rule.param is not None:
            value = values.get(rule.param)
            value = getattr(self, rule.param) if value is None else value
            rule.check(value)
        scores = np.asarray(scores, dtype=np.float64)
        self.threshold_ = rule.threshold(scores, value, labels)
        self.offset_ = -self.threshold_
        self.threshold_rule_ = method
        n_flagged = int((scores > self.threshold_).sum())
        if (n_flagged == 0 and not rule.flags_nothing) or n_flagged == len(scores):
            warnings.warn(f"{type(self).__name__}: the {method!r} threshold {self.threshold_:.4g} flags "
                          f"{'none' if n_flagged == 0 else 'all'} of the {len(scores)} samples it was set on; pass "
                          "contamination=<expected fraction of anomalies>, or set_threshold(X_val, y_val) with "
                          "labelled data", ThresholdWarning, stacklevel=3)

    def set_threshold(self, X=None, y=None, *, method: str = "f1", contamination=None, percentile=None,
                      n_sigma=None):
        """Set ``threshold_`` after fitting; returns ``self``.

        ``method``: a registered threshold rule (``aekit.estimators.list_threshold_rules()``). "f1" picks the
        threshold with the best F1 score on labelled data ``X, y`` (``y``: 1 or True for anomalies, 0 for
        normal samples; or scikit-learn's -1 anomaly / +1 normal); "contamination", "percentile", "sigma" and
        "max" apply the rule of the same name (with the given value, else the estimator's parameter) to the
        scores of ``X``, or of the training data when ``X`` is None.
        """
        self._check_fitted()
        check_params("set_threshold", {"method": method}, {"method": Options(*list_threshold_rules())})
        labels = None
        if threshold_rule(method).needs_labels and (X is None or y is None):
            raise ValueError(f"set_threshold(method={method!r}) needs labelled data: set_threshold(X_val, y_val)")
        if X is not None and y is not None:
            labels = _anomaly_labels(y, len(X))
        scores = self.train_scores_ if X is None else self.anomaly_score(X)
        self._set_threshold_from(scores, method, labels=labels, contamination=contamination, percentile=percentile,
                                 n_sigma=n_sigma)
        return self

    # ------------------------------------------------------------------------------------ public scores
    def anomaly_score(self, X) -> np.ndarray:
        """Anomaly score of each sample: higher means more abnormal."""
        self._check_fitted()
        return self._anomaly_scores(self._scaled(X))

    def score_samples(self, X) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn convention: higher means more normal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for normal samples, -1 for anomalies (scores above ``threshold_``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def error_map(self, X) -> np.ndarray:
        """Squared reconstruction error per feature (tables: (n, n_features), each feature's error divided by
        its mean on the training data, so values compare across features: the contributions to the score)
        or per pixel (images: (n, H, W), averaged over channels), in the model's scaled units, averaged over
        the members that see each feature."""
        self._check_fitted()
        xs = self._scaled(X)
        total, seen = 0.0, 0.0
        for (sq, _, mask), st in zip(self._unit_parts(xs), self.score_stats_):
            if "feature_scale" in st:
                sq = sq / np.asarray(st["feature_scale"])
            w = np.ones(sq.shape[1:]) if mask is None else mask.astype(np.float64)
            total, seen = total + sq * w, seen + w
        err = total / np.maximum(seen, 1)
        if self._is_image:
            return err.mean(axis=1)                      # (n, C, H, W) -> (n, H, W)
        return err.reshape(len(err), -1)

    def reconstruct(self, X) -> np.ndarray:
        """Reconstructions by the first autoencoder, shaped like ``X``, raw units."""
        self._check_fitted()
        return self._to_user_layout(self._reconstruct(self._validate(X, reset=False)))

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        return {**super()._get_state(), "threshold_": self.threshold_, "offset_": self.offset_,
                "threshold_rule_": self.threshold_rule_, "score_stats_": self.score_stats_,
                "n_trimmed_": self.n_trimmed_, "class_error_history_": self.class_error_history_,
                "members_config_": [{"name": m.name, "params": m.config} for m in self.members_[1:]]}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.threshold_, self.offset_ = float(state["threshold_"]), float(state["offset_"])
        self.threshold_rule_ = state["threshold_rule_"]
        self.score_stats_ = state["score_stats_"]
        self.n_trimmed_ = int(state["n_trimmed_"])
        self.class_error_history_ = state["class_error_history_"]
        self._members_config = state["members_config_"]

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"train_scores": torch.as_tensor(np.asarray(self.train_scores_, dtype=np.float64))}
        if getattr(self, "reference_codes_", None) is not None:
            tensors["reference_codes"] = torch.as_tensor(self.reference_codes_)
        for i, m in enumerate(self.members_[1:], start=1):
            tensors.update({f"member{i}.{k}": v for k, v in m.state_dict().items()})
        return tensors

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        from aekit.models import create_model

        self.train_scores_ = tensors["train_scores"].numpy()
        self.reference_codes_ = tensors["reference_codes"].numpy() if "reference_codes" in tensors else None
        self._neighbour_index = None
        self.extra_members_ = []
        for i, cfg in enumerate(self._members_config, start=1):
            m = create_model(cfg["name"], **cfg["params"])
            prefix = f"member{i}."
            m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            self.extra_members_.append(m.eval())
        del self._members_config

    @property
    def score_type_(self) -> str:
        """The score type in use: ``score_type``, with "auto" resolved by the data kind."""
        self._check_fitted()
        return self._score_type()

    @property
    def members_(self) -> list:
        """The trained autoencoders (``autoencoder_.model`` first)."""
        self._check_fitted()
        return [self.autoencoder_.model, *self.extra_members_]


def _gmm_nll(z: np.ndarray, stats: dict) -> np.ndarray:
    """Negative log-density of standardised codes ``z`` (n, k) under the saved Gaussian mixture."""
    from scipy.special import logsumexp

    weights = np.asarray(stats["weights"], dtype=np.float64)
    means = np.asarray(stats["means"], dtype=np.float64)
    covs = np.asarray(stats["covariances"], dtype=np.float64)
    z = z.astype(np.float64)
    parts = []
    for w, mu, cov in zip(weights, means, covs):
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol, (z - mu).T)                     # (k, n)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        parts.append(np.log(w + 1e-300) - 0.5 * ((sol ** 2).sum(0) + logdet + z.shape[1] * np.log(2 * np.pi)))
    return -logsumexp(np.stack(parts), axis=0)


def _anomaly_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y).ravel()
    if len(y) != n:
        raise ValueError(f"y has {len(y)} labels for {n} samples")
    values = set(np.unique(y).tolist())
    if values <= {-1, 1} and -1 in values:
        return (y == -1).astype(int)                  # scikit-learn's predict convention
    if not values <= {0, 1, True, False}:
        raise ValueError(f"y must hold 0/1 (1 = anomaly) or -1/+1 (-1 = anomaly) labels, got {sorted(values)[:5]}")
    return y.astype(int)


_FLOAT64_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _float64_copy(model):
    """A float64 CPU copy of ``model`` for scoring, made once and remade only when a parameter or buffer of
    the model changed since (torch counts in-place changes in each tensor's ``_version``): scoring one row
    at a time (``aekit serve``) no longer pays for a deep copy per call."""
    stamp = tuple(t._version for t in (*model.parameters(), *model.buffers()))
    cached = _FLOAT64_COPIES.get(model)
    if cached is None or cached[0] != stamp:
        cached = (stamp, copy.deepcopy(model).cpu().double().eval())
        _FLOAT64_COPIES[model] = cached
    return cached[1]
