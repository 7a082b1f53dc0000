"""AnomalyDetector's "auto" settings, by data kind: tables get the batched ensemble (``mlp-ensemble``) with a
short training and the error + code-kNN score; images the configuration measured on one-class MNIST
(``benchmarks/anomaly.py``). Each setting is resolved once the data kind is known (``layout_``)."""
from __future__ import annotations

import numpy as np

from aekit.estimators.detect.scorers import ScorerContext, list_scorers
from aekit.validation import ListOf, Options, Real, check_params


class KindDefaults:
    """Mixin: the estimator hooks (``_latent_dim``, ``_batch_size``, ``_epochs``, ``_model_name``,
    ``_default_model_params``) and the detector's own settings, each "auto" resolved by the data kind."""

    @property
    def _is_table(self) -> bool:
        return self.layout_.kind == "table"

    def _latent_dim(self) -> int:
        if self.latent_dim != "auto":
            return int(self.latent_dim)
        if self._is_image:
            return 16
        return int(np.clip(round(np.sqrt(self.n_features_in_)), 2, 16))

    def _score_type(self) -> str:
        return self.score_type if self.score_type != "auto" else ("parts" if self._is_table else "reconstruction")

    def _score_parts(self) -> dict[str, float]:
        """The parts the "parts" score sums, with their weights: a list weighs its parts alike. "auto": the
        reconstruction error and the code's kNN distance, and two parts that see one extreme feature (the
        inputs' empirical tails, 0.5, and isolation depth, 1.5); one set of weights for every table, chosen on
        the 28 ADBench tables of the shared data x 3 seeds (benchmarks/anomaly.py --adbench)."""
        parts = self.score_parts
        if isinstance(parts, str) and parts == "auto":
            return {"error": 1.0, "neighbours": 1.0, "tails": 0.5, "isolation": 1.5}
        return {str(k): float(v) for k, v in parts.items()} if isinstance(parts, dict) else dict.fromkeys(parts, 1.0)

    def _check_score_parts(self) -> None:
        parts = self.score_parts
        if isinstance(parts, str) and parts == "auto":
            return
        names = list(parts) if isinstance(parts, dict) else parts
        check_params(type(self).__name__, {"score_parts": names}, {"score_parts": ListOf(Options(*list_scorers()),
                                                                                         min_len=1)})
        if isinstance(parts, dict):
            check_params(type(self).__name__, {f"score_parts[{k!r}]": v for k, v in parts.items()},
                         {f"score_parts[{k!r}]": Real(0) for k in parts})

    def _sample_rows(self, x: np.ndarray, seed: int) -> np.ndarray:
        """``x``, or ``max_samples`` of its rows drawn without replacement (in their order) when it has more."""
        limit = self._max_samples()
        if limit is None or len(x) <= limit:
            return x
        return x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]

    def _max_samples(self) -> int | None:
        if self.max_samples != "auto":
            return None if self.max_samples is None else int(self.max_samples)
        return 10_000 if self._is_table else None

    def _n_members(self) -> int:
        return int(self.n_estimators) if self.n_estimators != "auto" else (8 if self._is_table else 1)

    def _error_sigma(self) -> float:
        return float(self.error_sigma) if self.error_sigma != "auto" else 1.0

    def _trim_fraction(self) -> float:
        if self.trim_fraction is not None:
            return float(self.trim_fraction)
        return float(self.contamination) if self.contamination != "auto" else 0.1

    def _scorer_context(self, seed: int = 0) -> ScorerContext:
        """What the scorer parts read: errors per feature on tables, the seed, the detector's parameters."""
        return ScorerContext(per_feature=self._is_table, seed=int(seed), params=self.get_params(deep=False),
                             parts=self._score_parts())

    def _batch_size(self) -> int:
        return int(self.batch_size) if self.batch_size != "auto" else (128 if self._is_table else 64)

    def _epochs(self) -> int:
        return int(self.epochs) if self.epochs != "auto" else (3 if self._is_table else 20)

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
