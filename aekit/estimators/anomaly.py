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
(``mlp-ensemble``, a short training on at most ``max_samples`` rows), scored by the standardised sum of
registered scorer parts: each member's error normalised per feature, the kNN distance of its code to a
bounded sample of training codes (what the decoder rebuilds but lies where codes are sparse; Ramaswamy et
al., SIGMOD 2000, on raw features), and two parts on the inputs that see one extreme feature a small code
hides (ECOD's empirical tails, an isolation forest: ``detect/tails.py``). On
contaminated training data the robust mode drops the training samples with the largest errors and trains again
on the rest (trimmed fitting, as in Rousseeuw's least trimmed squares).

The detector is built from parts (:mod:`aekit.estimators.detect`): the members (``ensemble``), the fitted
scorer parts that a score type combines (``scorers``) and the threshold part it shares with
:class:`~aekit.TimeSeriesAnomalyDetector` (``thresholds``); ``defaults`` resolves the "auto" settings by data kind;
this module holds the parameters, the public API and the order in which the parts are fitted.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import OutlierMixin

from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.estimators.detect.defaults import KindDefaults
from aekit.estimators._state import INT, JSON
from aekit.estimators.detect.ensemble import MemberEnsemble, class_error_monitor
from aekit.estimators.detect.fitted import FittedParts
from aekit.estimators.detect.scorers import FittedScorer
from aekit.estimators.detect.thresholds import THRESHOLD_CONSTRAINTS, THRESHOLD_STATE, Thresholded
from aekit.estimators.scoring import list_score_types
from aekit.persistence import TrainedAutoencoder
from aekit.seeding import Seeds, resolve_seeds
from aekit.validation import Either, Instance, Integer, ListOf, NoneOr, Options, Real, check_params
from aekit.operations import Operation, codes, verdict

MODES = ("clean", "contaminated")


@register_estimator("anomaly-detector")
class AnomalyDetector(Thresholded, KindDefaults, FittedParts, OutlierMixin, AutoencoderEstimator):
    """Score, threshold and explain anomalies with an autoencoder (ensemble) trained on normal data.

    Parameters
    ----------
    latent_dim : int or "auto", default "auto"
        Code size; "auto": 16 for images, ``clip(round(sqrt(n_features)), 2, 16)`` for tables.
    score_type : {"auto", "reconstruction", "latent", "combined", "error+knn", "parts"}, default "auto"
        "reconstruction": the mean squared reconstruction error (scaled units; on tables each feature's error
        is divided by its mean on the training data, so that every feature counts alike); "latent": the
        negative log-density of the code under a Gaussian mixture fitted to the training codes; "combined":
        the sum of both after standardising each by its mean and standard deviation on the training data
        (the error in log scale); "error+knn": the standardised error plus the standardised distance of the
        code to its ``n_neighbors``-th nearest reference code; "parts": the sum of the standardised
        ``score_parts``. "auto": "parts" for tables, "reconstruction" for images (``aekit.estimators.scoring``).
    score_parts : "auto", list of str or dict, default "auto"
        Registered scorer parts (``aekit.estimators.detect.list_scorers()``) the "parts" score sums, alike (list)
        or weighted (dict name -> weight): "error", "neighbours" (code kNN), "density" (code mixture), "tails"
        (inputs' empirical tails, ECOD), "isolation" (isolation forest on the inputs). "auto": ``{"error": 1,
        "neighbours": 1, "tails": 0.5, "isolation": 1.5}``; leave a part out to switch it off.
    n_estimators : int or "auto", default "auto"
        Ensemble members; their standardised scores are averaged. With the ``mlp-ensemble`` model (the
        default for tables) they are the members of one batched network, else separate autoencoders trained
        with different seeds. "auto": 8 for tables, 1 for images.
    n_neighbors, max_reference : int, default 5, 1024
        The "neighbours" part's k, and the most training codes (drawn at random) it measures to: linear cost.
    max_samples : int, "auto" or None, default "auto"
        Fit (train, fit the scorer parts and the threshold; ``train_scores_``) on at most this many training rows
        drawn at random, so a fit costs the same on any larger table. "auto": 10,000 for tables (ADBench's cap),
        no limit for images; None: no limit.
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
    scorer_ : aekit.estimators.detect.FittedScorer
        The fitted scorer parts the score type combines; ``score_stats_`` holds their statistics per member.
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

    def __init__(self, latent_dim="auto", *, score_type: str = "auto", score_parts="auto", n_estimators="auto",
                 n_neighbors: int = 5, max_reference: int = 1024, max_samples="auto", mode: str = "clean",
                 trim_fraction: float | None = None, contamination="auto", threshold: str = "auto",
                 percentile: float = 99.0, n_sigma: float = 3.0, gmm_components: int = 4, error_sigma="auto",
                 model: str = "auto", model_params: dict | None = None, epochs="auto", batch_size="auto",
                 lr: float = 3e-3, min_steps: int = 100, max_time: float | None = None,
                 validation_fraction: float = 0.0, scaler: str = "auto", random_state=0, device: str = "cpu",
                 verbose: bool = False):
        self.latent_dim = latent_dim
        self.score_type = score_type
        self.score_parts = score_parts
        self.n_estimators = n_estimators
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.max_samples = max_samples
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
    _default_rule = "robust"  # threshold="auto" without a float contamination (detect/thresholds.py)
    # declared fitted state; the members' and scorer parts' saved form is FittedParts' (detect/fitted.py)
    _fitted = {**AutoencoderEstimator._fitted, **THRESHOLD_STATE, "n_trimmed_": INT, "class_error_history_": JSON}

    _constraints = {
        **AutoencoderEstimator._constraints,
        "latent_dim": Either(Integer(1), Options("auto")),
        "score_type": Instance(str, what="'auto' or a registered score type (list_score_types())"),
        "n_estimators": Either(Integer(1), Options("auto")),
        "score_parts": Either(Options("auto"), ListOf(Instance(str), min_len=1), Instance(dict)),
        "n_neighbors": Integer(1),
        "max_reference": Integer(1),
        "max_samples": NoneOr(Either(Integer(2), Options("auto"))),
        "mode": Options(*MODES),
        "trim_fraction": NoneOr(Real(0, 0.5, closed="left")),
        **THRESHOLD_CONSTRAINTS,
        "gmm_components": Integer(1),
        "error_sigma": Either(Real(0), Options("auto")),
        "epochs": Either(Integer(1), Options("auto")),
        "batch_size": Either(Integer(1), Options("auto")),
        "min_steps": Integer(0),
    }

    # ------------------------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        super()._check_params()
        check_params(type(self).__name__, {"score_type": self.score_type},
                     {"score_type": Options("auto", *list_score_types())})
        self._check_score_parts()
        self._check_threshold_params()

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
        xs = scaler.transform(self._sample_rows(x, seeds.split)).astype(np.float32)
        mon = None if monitor is None else (
            scaler.transform(self._validate(monitor[0], reset=False)).astype(np.float32), np.asarray(monitor[1]))
        self.class_error_history_ = []
        ensemble, history = self._train_ensemble(xs, seeds, mon)
        keep = ensemble.trimmed(xs, self._trim_fraction(), self._error_sigma()) if self.mode == "contaminated" else None
        self.n_trimmed_, fit_x = 0, xs
        if keep is not None:  # the contaminated mode: train again without the largest errors
            self.class_error_history_.clear()
            ensemble, history = self._train_ensemble(xs[keep], seeds, mon)
            self.n_trimmed_, fit_x = len(xs) - len(keep), xs[keep]
        self._keep_ensemble(ensemble, history, scaler)
        self._fit_scoring(fit_x, xs, seeds)
        return self

    def _train_ensemble(self, xs, seeds: Seeds, monitor, validation_fraction: float | None = None):
        shape = tuple(xs.sample_shape) if self._is_stream(xs) else tuple(xs.shape[1:])
        vf = self.validation_fraction if validation_fraction is None else validation_fraction
        callbacks = None if monitor is None else class_error_monitor(self.class_error_history_, *monitor,
                                                                     error_sigma=self._error_sigma())
        return MemberEnsemble.train(self, xs, seeds, spec=self._model_spec(shape), n_members=self._n_members(),
                                    validation_fraction=float(vf), monitor=callbacks)

    def _keep_ensemble(self, ensemble: MemberEnsemble, history: list, scaler) -> None:
        first = ensemble.models[0]
        self.autoencoder_ = TrainedAutoencoder(first, scaler, metadata={"model": first.name})
        self.extra_members_ = ensemble.models[1:]
        self.history_, self.n_iter_ = history, len(history)

    def _fit_scoring(self, fit_x: np.ndarray, xs: np.ndarray, seeds: Seeds) -> None:
        """Scorer parts fitted on ``fit_x`` (scaled ``xs`` less trimmed rows), then ``train_scores_`` and threshold."""
        fit_units = self._units(fit_x)
        self.scorer_ = FittedScorer.fit(self._score_type(), fit_units, self._scorer_context(seeds.init))
        self.train_scores_ = self.scorer_.score(fit_units if fit_x is xs else self._units(xs))
        self._set_threshold_from(self.train_scores_, self._rule())

    def _fit_stream(self, stream, max_reference: int = 20_000):
        """``fit`` on a stream larger than memory: the scaler in one pass, every member trained on the shuffled
        stream (no validation split), and the scorer parts and threshold fitted on ``max_reference`` rows
        drawn uniformly from it (``reference_sample_size_``)."""
        seeds = resolve_seeds(self.random_state)
        scaled, scaler = self._stream_setup(stream)
        self._keep_ensemble(*self._train_ensemble(scaled, seeds, None, validation_fraction=0.0), scaler)
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
        first fit), with the scaler of the first fit and a new optimizer per call. Then everything the scores
        are built from is recomputed on ``X`` alone: the per-feature error scales, the score statistics, the
        training codes of the kNN distance (``reference_codes_``), ``train_scores_`` and the threshold (by the
        same rule as ``fit``). So the detector describes the latest batch: for batches drawn from the same data
        that is the whole data; for drifting data, the present. ``mode="contaminated"`` does not trim here.
        Returns ``self``.
        """
        if not hasattr(self, "autoencoder_"):
            return self.fit(X)
        self._check_params()
        xs = self._scaled(X)
        seeds = self._next_batch_seeds()
        self.history_ = self.history_ + MemberEnsemble(self.members_).train_more(self, xs, seeds)
        self.n_iter_ = len(self.history_)
        self._fit_scoring(xs, xs, seeds)
        return self

    # ------------------------------------------------------------------------------------ scoring
    def _units(self, xs: np.ndarray):
        return MemberEnsemble(self.members_).units(xs, self._error_sigma())

    def _scaled(self, X) -> np.ndarray:
        return self.autoencoder_.scaler.transform(self._validate(X, reset=False)).astype(np.float32)

    def anomaly_score(self, X, chunk: int = 65_536) -> np.ndarray:
        """Anomaly score of each sample, higher is more abnormal (``chunk`` rows at a time: bounded memory)."""
        self._check_fitted()
        xs = self._scaled(X)
        return np.concatenate([self.scorer_.score(self._units(xs[i:i + chunk]))
                               for i in range(0, max(len(xs), 1), chunk)])

    def error_map(self, X) -> np.ndarray:
        """Squared reconstruction error per feature (tables: (n, n_features), each feature's error divided by
        its mean on the training data, so values compare across features: the contributions to the score)
        or per pixel (images: (n, H, W), averaged over channels), in the model's scaled units, averaged over
        the members that see each feature."""
        self._check_fitted()
        err = self.scorer_.parts["error"].feature_map(self._units(self._scaled(X)))
        return err.mean(axis=1) if self._is_image else err.reshape(len(err), -1)  # (n, C, H, W) -> (n, H, W)

    def reconstruct(self, X) -> np.ndarray:
        """Reconstructions by the first autoencoder, shaped like ``X``, raw units."""
        self._check_fitted()
        return self._to_user_layout(self._reconstruct(self._validate(X, reset=False)))
