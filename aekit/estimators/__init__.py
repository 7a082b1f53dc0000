"""scikit-learn estimators, one per task, built on the models and the training loop."""
from aekit.estimators._base import AutoencoderEstimator
from aekit.estimators._core import (Estimator, estimator_class, list_estimators, load_estimator, rebuild_estimator,
                                    register_estimator)
from aekit.estimators._image import ImageEstimator
from aekit.estimators._series import SeriesEstimator
from aekit.estimators.anomaly import AnomalyDetector
from aekit.estimators.classifier import EncoderClassifier
from aekit.estimators.detect import list_scorers, register_scorer
from aekit.estimators.clusterer import Clusterer
from aekit.estimators.compressor import Compressor
from aekit.estimators.generator import Generator
from aekit.estimators.image_codec import ImageCodec
from aekit.estimators.reducer import Reducer
from aekit.estimators.restoration_tasks import RestorationTask, list_restoration_tasks, register_restoration_task
from aekit.estimators.restorer import Restorer
from aekit.estimators.scoring import (list_score_types, list_threshold_rules, register_score_type,
                                      register_threshold_rule)
from aekit.estimators.segmenter import Segmenter
from aekit.estimators.series import TimeSeriesAnomalyDetector, anomaly_ranges
from aekit.estimators.translator import DomainTranslator
from aekit.estimators._video import ClipEstimator
from aekit.estimators.video import VideoAnomalyDetector

__all__ = ["AnomalyDetector", "AutoencoderEstimator", "DomainTranslator", "Estimator", "ImageEstimator",
           "SeriesEstimator", "rebuild_estimator", "Clusterer", "Compressor", "EncoderClassifier", "Generator",
           "ImageCodec", "Reducer", "Restorer", "Segmenter", "TimeSeriesAnomalyDetector", "anomaly_ranges",
           "RestorationTask", "estimator_class", "list_estimators", "list_restoration_tasks", "load_estimator",
           "register_estimator", "register_restoration_task", "list_score_types", "list_threshold_rules",
           "register_score_type", "register_threshold_rule", "list_scorers", "register_scorer"]
__all__ += ["ClipEstimator", "VideoAnomalyDetector"]
