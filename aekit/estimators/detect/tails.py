"""Scorer parts on the inputs themselves, beside the autoencoder's: what a 2-3-value code hides.

An autoencoder with a small code rebuilds well a row whose one feature alone is extreme when that feature
carries little of the table's shared structure, and the distance of its code to the training codes does not
see it either. Two parts of a table detector's score look at each input feature directly:

* ``tails``: the empirical tail probabilities of each feature (ECOD: Li et al., "ECOD: unsupervised outlier
  detection using empirical cumulative distribution functions", IEEE TKDE 2022): per feature the tail
  probability of the value on the side of the feature's skewness under the training data's distribution,
  ``-log`` summed over the features (ECOD's skewness-corrected score, O_auto). ECOD itself takes the largest of
  that sum and the all-left and all-right sums; the skewness side alone measured better, alone and in the
  detector's score (ADBench, 28 tables x 3 seeds: ROC-AUC 75.8 vs 75.2 alone, AP 37.7 vs 32.8;
  ``benchmarks/results/anomaly-adbench-variants.md``). The training distribution is kept as ``tail_grid``
  quantiles per feature (bounded state);
* ``isolation``: the mean depth at which the trees of an isolation forest (Liu, Ting & Zhou, ICDM 2008;
  fitted by scikit-learn's ``IsolationForest``) isolate the row, as ``2 ** (-depth / c(max_samples))``: axis
  cuts that isolate a row extreme in one feature in few steps. The trees are kept as arrays (children,
  features, thresholds, the expected remaining depth of each leaf), so a saved detector scores without
  pickles; the score equals ``-IsolationForest.score_samples``.

Both are the same for every scoring unit (they read :attr:`Unit.inputs`, the scaled inputs).
"""
from __future__ import annotations

import numpy as np
import torch

from aekit.estimators.detect.scorers import ScorerPart, mean_std, register_scorer


def _inputs(units) -> np.ndarray:
    x = units[0].inputs
    if x is None:
        raise ValueError("this scorer part reads the scaled inputs of its units (Unit.inputs), got None")
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


class InputPart(ScorerPart):
    """A part with one value per sample, computed from the inputs and shared by every unit."""

    def fit(self, units):
        self._fit_inputs(_inputs(units))
        stats = dict(zip(self.keys[-2:], mean_std(self._value(_inputs(units)))))
        self.stats = [dict(stats) for _ in units]
        return self

    def values(self, units):
        v = self._value(_inputs(units))
        return [v] * len(units)

    def _fit_inputs(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register_scorer("tails")
class TailScorer(InputPart):
    """ECOD's skewness-corrected score of the inputs: the summed ``-log`` tail probabilities, each feature's on
    the side of its skewness (right when it is >= 0), each feature's distribution kept as ``tail_grid``
    (default 1000) quantiles."""

    keys = ("tail_mean", "tail_std")

    def __init__(self, context):
        super().__init__(context)
        self.grid: np.ndarray | None = None   # (m, D) quantiles of each feature, ascending
        self.right: np.ndarray | None = None  # (D,) bool: the feature's skewness is >= 0 (its right tail counts)

    def _fit_inputs(self, x):
        from scipy.stats import skew

        m = int(min(len(x), self.context.params.get("tail_grid", 1000)))
        self.grid = sorted_quantiles(x, m)
        self.right = np.nan_to_num(skew(x, axis=0)) >= 0

    def _value(self, x):
        m = len(self.grid)
        count = np.empty_like(x)   # per feature, the grid values at least as far out on the feature's tail side
        for j in range(x.shape[1]):
            if self.right[j]:
                count[:, j] = m - np.searchsorted(self.grid[:, j], x[:, j], side="left")
            else:
                count[:, j] = np.searchsorted(self.grid[:, j], x[:, j], side="right")
        return -np.log((count + 1) / (m + 1)).sum(1)

    def to_state(self):
        return self.stats, {"tail_grid": torch.as_tensor(self.grid),
                            "tail_right": torch.as_tensor(self.right.astype(np.uint8))}

    @classmethod
    def from_state(cls, stats, tensors, context):
        part = super().from_state(stats, tensors, context)
        part.grid, part.right = tensors["tail_grid"].numpy(), tensors["tail_right"].numpy().astype(bool)
        return part


def sorted_quantiles(x: np.ndarray, m: int) -> np.ndarray:
    """``np.quantile(x, linspace(0, 1, m), axis=0)`` (linear interpolation) from one sort of each column:
    numpy's quantile partitions once per requested quantile, which for a fine grid costs many sorts."""
    s = np.sort(x, axis=0).reshape(len(x), -1)
    pos = np.linspace(0.0, len(x) - 1.0, m)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(x) - 1)
    frac = (pos - lo)[:, None]
    return s[lo] + frac * (s[hi] - s[lo])


def average_path_length(n: np.ndarray) -> np.ndarray:
    """``c(n)``: the mean depth of an unsuccessful search in a binary search tree of ``n`` points, the depth a
    leaf of ``n`` training rows still stands for (Liu, Ting & Zhou, ICDM 2008, eq. 1)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.where(n == 2, 1.0, 0.0)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@register_scorer("isolation")
class IsolationScorer(InputPart):
    """The isolation forest score of the inputs (``-IsolationForest(random_state=seed).score_samples``). Each
    tree is kept as a complete binary tree of the forest's depth in heap order (a leaf above that depth
    passes every row on to its left copy), so that scoring is one gather per level for all trees at once:
    ``feature``/``threshold`` ``(trees, 2**depth - 1)`` and ``leaf_depth`` ``(trees, 2**depth)``, the depth of
    each leaf plus the ``c(n)`` of its training rows."""

    keys = ("iso_mean", "iso_std")
    _arrays = ("feature", "threshold", "leaf_depth", "norm")

    def _fit_inputs(self, x):
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(random_state=self.context.seed).fit(x.astype(np.float32))
        trees = [e.tree_ for e in forest.estimators_]
        depth = max(1, max(t.max_depth for t in trees))
        self.feature = np.zeros((len(trees), 2 ** depth - 1), dtype=np.int64)
        self.threshold = np.full((len(trees), 2 ** depth - 1), np.inf)
        self.leaf_depth = np.zeros((len(trees), 2 ** depth))
        for i, (t, feats) in enumerate(zip(trees, forest.estimators_features_)):
            rest = average_path_length(t.n_node_samples)   # each node's c(n): what a leaf there still stands for
            self._place(i, t, feats, rest, node=0, slot=0, level=0, depth=depth, leaf_at=None)
        self.norm = np.asarray([average_path_length(np.asarray([forest.max_samples_]))[0]])

    def _place(self, i, tree, feats, rest, node, slot, level, depth, leaf_at):
        """Copy ``tree``'s ``node`` into heap ``slot`` of tree ``i`` (``leaf_at``: the level of the leaf a slot
        below a leaf continues)."""
        if level == depth:
            reached = level if leaf_at is None else leaf_at
            self.leaf_depth[i, slot - (2 ** depth - 1)] = reached + rest[node]
            return
        is_leaf = tree.children_left[node] < 0
        if is_leaf:   # every row goes left (threshold +inf) down to the leaf level
            leaf_at = level if leaf_at is None else leaf_at
            children = (node, node)
        else:
            self.feature[i, slot], self.threshold[i, slot] = feats[tree.feature[node]], tree.threshold[node]
            children = (tree.children_left[node], tree.children_right[node])
        for side, child in enumerate(children):
            self._place(i, tree, feats, rest, child, 2 * slot + 1 + side, level + 1, depth, leaf_at)

    def _value(self, x, chunk: int = 8192):
        out = [self._depth(x[i:i + chunk].astype(np.float32)) for i in range(0, len(x), chunk)]
        depth = np.concatenate(out) if out else np.zeros(0)
        return 2.0 ** (-depth / (len(self.feature) * self.norm[0]))

    def _depth(self, x: np.ndarray) -> np.ndarray:
        """Summed over the trees: the depth of the leaf each row falls in plus that leaf's ``c(n)``."""
        n_trees, inner = self.feature.shape
        feature, threshold = self.feature.ravel(), self.threshold.ravel()
        flat_x = x.ravel()
        base = (np.arange(n_trees) * inner)[:, None]
        row = (np.arange(len(x)) * x.shape[1])[None, :]
        slot = np.zeros((n_trees, len(x)), dtype=np.int64)
        for _ in range(int(np.log2(inner + 1))):
            at = base + slot
            right = flat_x[row + feature[at]] > threshold[at]
            slot = 2 * slot + 1 + right
        leaves = slot - inner + (np.arange(n_trees) * (inner + 1))[:, None]
        return self.leaf_depth.ravel()[leaves].sum(axis=0)

    def to_state(self):
        return self.stats, {f"isolation_{k}": torch.as_tensor(getattr(self, k)) for k in self._arrays}

    @classmethod
    def from_state(cls, stats, tensors, context):
        part = super().from_state(stats, tensors, context)
        for k in cls._arrays:
            setattr(part, k, tensors[f"isolation_{k}"].numpy())
        return part
