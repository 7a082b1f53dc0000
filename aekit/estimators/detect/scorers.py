"""Fitted scorer parts: the statistics of the training units that a score type turns into anomaly scores.

Each part is a small registered object (``@register_scorer``) fitted on the scoring units of the training
data (:class:`aekit.estimators.detect.ensemble.Unit`), that gives per unit one value per sample and saves its
own statistics (:meth:`ScorerPart.to_state` / :meth:`ScorerPart.from_state`):

* ``error``: the reconstruction error (on tables each feature's error divided by its mean on the training
  data, so that every feature counts alike) and the mean/std of the error and of its log;
* ``density``: the negative log-density of the code under a Gaussian mixture fitted to the standardised
  training codes (Zong et al., "Deep autoencoding Gaussian mixture model", ICLR 2018, fitted jointly there);
* ``neighbours``: the distance of the code to its ``n_neighbors``-th nearest code of a bounded reference: at most
  ``max_reference`` training codes drawn at random (Ramaswamy et al., SIGMOD 2000, on raw features), so that
  fitting and scoring cost grows linearly with the rows, and the saved state does not grow with them;
* ``tails`` and ``isolation`` (:mod:`aekit.estimators.detect.tails`): the inputs' per-feature empirical tails
  (ECOD) and an isolation forest, which see a row extreme in one feature that the code hides.

A score type (:mod:`aekit.estimators.scoring`) names the parts it needs (``needs``) and combines their values;
:class:`FittedScorer` fits those parts, scores with them, and saves them as the per-unit statistics records
and tensors of the model folder (``score_stats_``, ``reference_codes``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from aekit.estimators.detect.ensemble import Unit
from aekit.estimators.scoring import score_type
from aekit.threads import one_blas_thread
from aekit.registry import Registry

_SCORERS: Registry[type["ScorerPart"]] = Registry("scorer part")


def register_scorer(name: str):
    """Class decorator: a :class:`ScorerPart` that score types can name in their ``needs``."""
    return _SCORERS.register(name)


def list_scorers() -> list[str]:
    return _SCORERS.names()


def part_standardisation(name: str) -> tuple[str, str]:
    """The statistics keys of a part's training mean and standard deviation (its last two ``keys``)."""
    mean_key, std_key = _SCORERS.get(name).keys[-2:]
    return mean_key, std_key


@dataclass
class ScorerContext:
    """What a part may read when it is fitted or rebuilt: whether errors are per feature (tables), the fit's
    seed, the detector's parameters (``gmm_components``, ``n_neighbors``, or a new part's own) and the parts a
    score type that combines any parts (``needs_parts``) is to combine."""

    per_feature: bool
    seed: int = 0
    params: dict = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)   # part name -> its weight in the sum


class ScorerPart:
    """A fitted statistic per scoring unit. ``stats``: one JSON-able dict per unit, holding only the part's own
    ``keys`` (they are merged with the other parts' into the records a score type reads); the last two keys are
    the mean and standard deviation of the part's values on the training data (what a score type that
    standardises each part reads)."""

    name: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: ScorerContext):
        self.context = context
        self.stats: list[dict] = []

    def fit(self, units: list[Unit]) -> "ScorerPart":
        raise NotImplementedError

    def values(self, units: list[Unit]) -> list[np.ndarray]:
        """Per unit, one value per sample."""
        raise NotImplementedError

    def to_state(self) -> tuple[list[dict], dict[str, torch.Tensor]]:
        return self.stats, {}

    @classmethod
    def from_state(cls, stats: list[dict], tensors: dict[str, torch.Tensor], context: ScorerContext) -> "ScorerPart":
        part = cls(context)
        part.stats = [{k: s[k] for k in cls.keys if k in s} for s in stats]
        return part


def mean_std(v: np.ndarray) -> tuple[float, float]:
    """Mean and (never zero) standard deviation of a part's training values."""
    return float(v.mean()), float(v.std() + 1e-12)


@register_scorer("error")
class ErrorScorer(ScorerPart):
    """The mean squared error over the unit's features (tables: each feature's divided by its training mean)."""

    keys = ("feature_scale", "err_mean", "err_std", "err_raw_mean", "err_raw_std")  # ends with the raw error's

    def fit(self, units):
        self.stats = []
        for u in units:
            st = {"feature_scale": (u.sq.mean(axis=0) + 1e-12).tolist()} if self.context.per_feature else {}
            err = self._error(u, st)
            (m, s), (rm, rs) = mean_std(np.log(err + 1e-12)), mean_std(err)
            self.stats.append({**st, "err_mean": m, "err_std": s, "err_raw_mean": rm, "err_raw_std": rs})
        return self

    def values(self, units):
        return [self._error(u, st) for u, st in zip(units, self.stats)]

    def feature_map(self, units: list[Unit]) -> np.ndarray:
        """``(n, *sample_shape)`` squared residual per feature (on tables each divided by its training mean),
        averaged over the units that see each feature."""
        total, seen = 0.0, 0.0
        for u, st in zip(units, self.stats):
            sq = u.sq / np.asarray(st["feature_scale"]) if "feature_scale" in st else u.sq
            w = np.ones(u.sq.shape[1:]) if u.mask is None else u.mask.astype(np.float64)
            total, seen = total + sq * w, seen + w
        return total / np.maximum(seen, 1)

    @staticmethod
    def _error(u: Unit, st: dict) -> np.ndarray:
        flat = u.sq.reshape(len(u.sq), -1)
        if "feature_scale" in st:
            flat = flat / np.asarray(st["feature_scale"])
        return (flat if u.mask is None else flat[:, u.mask]).mean(axis=1)


@register_scorer("density")
class DensityScorer(ScorerPart):
    """The negative log-density of the standardised code under a Gaussian mixture of the training codes
    (``gmm_components`` full-covariance components, unit ``j`` seeded ``seed + j``)."""

    keys = ("code_mean", "code_std", "weights", "means", "covariances", "nll_mean", "nll_std")

    def fit(self, units):
        from sklearn.mixture import GaussianMixture

        self.stats = []
        for j, u in enumerate(units):
            mu, sd = u.codes.mean(axis=0), u.codes.std(axis=0) + 1e-6
            z = (u.codes - mu) / sd
            n = int(min(self.context.params.get("gmm_components", 4), len(z)))
            with one_blas_thread():
                gmm = GaussianMixture(n, covariance_type="full", reg_covar=1e-3, n_init=1, max_iter=200,
                                      random_state=self.context.seed + j).fit(z)
            st = {"code_mean": mu.tolist(), "code_std": sd.tolist(), "weights": gmm.weights_.tolist(),
                  "means": gmm.means_.tolist(), "covariances": gmm.covariances_.tolist()}
            m, s = mean_std(gmm_nll(z, st))
            self.stats.append({**st, "nll_mean": m, "nll_std": s})
        return self

    def values(self, units):
        return [gmm_nll((u.codes - np.asarray(st["code_mean"])) / np.asarray(st["code_std"]), st)
                for u, st in zip(units, self.stats)]


@register_scorer("neighbours")
class NeighbourScorer(ScorerPart):
    """The distance of each code to its ``n_neighbors``-th nearest reference code: the training codes, or
    ``max_reference`` of them (default 1024) drawn without replacement (unit ``j`` seeded ``seed + j``) when
    there are more. A reference row counts itself, as any row scored later that equals one does; training
    scores are computed as any later scores, so ``fit_predict`` and ``predict`` agree."""

    keys = ("knn_mean", "knn_std")

    def __init__(self, context: ScorerContext):
        super().__init__(context)
        self.reference_codes: np.ndarray | None = None   # (U, n_reference, k)
        self._index = None

    def fit(self, units):
        n, m = len(units[0].codes), int(self.context.params.get("max_reference", 1024))
        rows = [np.sort(np.random.default_rng(self.context.seed + j).choice(n, m, replace=False)) if n > m
                else slice(None) for j in range(len(units))]
        self.reference_codes = np.stack([u.codes[r] for u, r in zip(units, rows)])
        self._index = None
        self.stats = [dict(zip(("knn_mean", "knn_std"), mean_std(d))) for d in self.values(units)]
        return self

    def values(self, units):
        from sklearn.neighbors import NearestNeighbors

        if self._index is None:
            self._index = [NearestNeighbors(algorithm="brute").fit(r) for r in self.reference_codes]
        k = min(int(self.context.params.get("n_neighbors", 5)), self.reference_codes.shape[1])
        return [index.kneighbors(u.codes, n_neighbors=k)[0][:, -1] for index, u in zip(self._index, units)]

    def to_state(self):
        return self.stats, {"reference_codes": torch.as_tensor(self.reference_codes)}

    @classmethod
    def from_state(cls, stats, tensors, context):
        part = super().from_state(stats, tensors, context)
        part.reference_codes = tensors["reference_codes"].numpy()
        return part


class FittedScorer:
    """The parts a score type needs, fitted on the same units, and the score they make together: per unit
    ``score_type.combine(values, stats)``, averaged over the units."""

    def __init__(self, kind: str, parts: dict[str, ScorerPart], weights: dict[str, float] | None = None):
        self.kind, self.parts, self.weights = kind, parts, dict(weights or {})

    @classmethod
    def fit(cls, kind: str, units: list[Unit], context: ScorerContext) -> "FittedScorer":
        return cls(kind, {name: _SCORERS.get(name)(context).fit(units) for name in _needs(kind, context)},
                   context.parts)

    @property
    def stats(self) -> list[dict]:
        """Per unit, every part's statistics in one record (what the score type reads; saved as ``score_stats_``)."""
        return [{k: v for part in self.parts.values() for k, v in part.stats[j].items()}
                for j in range(len(next(iter(self.parts.values())).stats))]

    def score(self, units: list[Unit]) -> np.ndarray:
        kind = score_type(self.kind)
        if kind.needs_parts:   # this scorer's own copy: the registered instance is shared by every detector
            kind = copy.copy(kind)
            kind.weights = self.weights
            kind.standardisation = {name: part_standardisation(name) for name in self.parts}
        values = {name: part.values(units) for name, part in self.parts.items()}
        return np.mean([kind.combine({name: v[j] for name, v in values.items()}, st)
                        for j, st in enumerate(self.stats)], axis=0)

    def to_state(self) -> tuple[list[dict], dict[str, torch.Tensor]]:
        tensors = {}
        for part in self.parts.values():
            tensors.update(part.to_state()[1])
        return self.stats, tensors

    @classmethod
    def from_state(cls, kind: str, stats: list[dict], tensors: dict[str, torch.Tensor],
                   context: ScorerContext) -> "FittedScorer":
        return cls(kind, {name: _SCORERS.get(name).from_state(stats, tensors, context)
                          for name in _needs(kind, context)}, context.parts)


def _needs(kind: str, context: ScorerContext) -> tuple[str, ...]:
    """The parts a score type combines: its own ``needs``, or the context's parts for a type that takes any."""
    st = score_type(kind)
    if not st.needs_parts:
        return st.needs
    if not context.parts:
        raise ValueError(f"score type {kind!r} combines the parts it is given, got none (registered: {list_scorers()})")
    for name in context.parts:
        _SCORERS.get(name)
    return tuple(context.parts)


def gmm_nll(z: np.ndarray, stats: dict) -> np.ndarray:
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
