"""AnomalyDetector's fitted parts as attributes and in its folder: the member autoencoders (``members_``) and
the fitted scorer parts (``score_stats_``, ``reference_codes_``) read as properties, and their saved form.

The folder layout is the one AnomalyDetector has always written: the scorer parts' statistics as
``score_stats_`` and the extra members' configuration as ``members_config_`` in ``config.json``, their tensors
(the kNN reference codes, the extra members' weights) beside the weights. The rest of the detector's fitted
state is declared in its ``_fitted`` (:mod:`aekit.estimators._state`) and saved by the base class.
"""
from __future__ import annotations

import numpy as np
import torch

from aekit.estimators.detect.ensemble import MemberEnsemble
from aekit.estimators.detect.scorers import FittedScorer


class FittedParts:
    """Mixin of :class:`aekit.AnomalyDetector`: its members and scorer parts read and saved (module docstring)."""

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

    @property
    def score_stats_(self) -> list[dict]:
        """Per scoring unit, the statistics of the fitted scorer parts (the records the score type reads)."""
        return self.scorer_.stats

    @property
    def reference_codes_(self) -> np.ndarray | None:
        """``(units, n, k)`` training codes of the kNN distance (None when the score type uses none)."""
        return getattr(self.scorer_.parts.get("neighbours"), "reference_codes", None)

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        return {**super()._get_state(), "score_stats_": self.scorer_.to_state()[0],
                "members_config_": MemberEnsemble(self.members_).to_state()[0]}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._saved = {"score_stats_": state["score_stats_"], "members_config_": state["members_config_"]}

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        return {**super()._get_tensors(), **self.scorer_.to_state()[1], **MemberEnsemble(self.members_).to_state()[1]}

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super()._set_tensors(tensors)
        saved = self.__dict__.pop("_saved")
        self.scorer_ = FittedScorer.from_state(self._score_type(), saved["score_stats_"], tensors,
                                               self._scorer_context())
        self.extra_members_ = MemberEnsemble.members_from_state(saved["members_config_"], tensors)
