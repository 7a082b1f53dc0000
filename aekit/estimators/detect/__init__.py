"""The parts both anomaly detectors are composed of.

* :mod:`~aekit.estimators.detect.ensemble`: the members, trained as one batched network or as separate ones,
  and how they are run to score (per-unit residuals and codes, float64);
* :mod:`~aekit.estimators.detect.scorers`: fitted scorer parts (reconstruction error, Gaussian mixture of the
  codes, kNN distance of the codes) that save their own statistics; a score type combines them;
* :mod:`~aekit.estimators.detect.tails`: scorer parts on the inputs (per-feature empirical tails, isolation
  forest) that see a single extreme feature the codes hide;
* :mod:`~aekit.estimators.detect.thresholds`: the threshold part and the outlier API built on it;
* :mod:`~aekit.estimators.detect.defaults`: AnomalyDetector's "auto" settings by data kind;
* :mod:`~aekit.estimators.detect.fitted`: AnomalyDetector's members and scorer parts as attributes and saved;
* :mod:`~aekit.estimators.detect.stream`: the series scorer part (surprise, novelty, suppression) and its state;
* :mod:`~aekit.estimators.detect.likelihood`: the calibrated series scorer part (NAB's anomaly likelihood);
* :mod:`~aekit.estimators.detect.views`: a window's error at more than one time scale;
* :mod:`~aekit.estimators.detect.refit`: the series refit policy part (fine-tuning on the recent past).
"""
from aekit.estimators.detect.scorers import (FittedScorer, ScorerContext, ScorerPart, list_scorers,
                                             register_scorer)
from aekit.estimators.detect import tails  # noqa: F401  (registers the "tails" and "isolation" parts)
from aekit.estimators.detect import likelihood  # noqa: F401  (registers the "likelihood" series scorer part)

__all__ = ["FittedScorer", "ScorerContext", "ScorerPart", "list_scorers", "register_scorer"]
