"""Few-label joint training of :class:`aekit.EncoderClassifier` (``mode="joint"``), a part of the classifier.

One network (the autoencoder with a classification head, :class:`~aekit.estimators._classifier_nets._JointNet`)
is trained on all the data at once: the head on the labelled rows (repeated to make up ``labelled_fraction``
of the data), the reconstruction of every row, and the agreement of the head's answers on a strongly and a
weakly corrupted copy of each unlabelled row (the ``"joint-classification"`` objective,
:class:`aekit.objectives.JointClassification`; Sohn et al., "FixMatch", NeurIPS 2020). It reads the
classifier's parameters (``corruption``, ``labelled_fraction``, the loss weights, ``threshold``) and its
``_new_head`` and ``_train``.
"""
from __future__ import annotations

import numpy as np

from aekit.estimators._classifier_nets import _JointNet, _JointViews
from aekit.seeding import Seeds


class JointTraining:
    """Mixin of :class:`aekit.EncoderClassifier`: its ``"joint"`` mode (module docstring)."""

    def _corruptions(self, x: np.ndarray):
        """The (strong, weak) corruptions of joint training for data shaped like ``x``: for images, a random
        affine distortion whose shift is 2 pixels at 28 x 28 (scaled with the image), + masking for the
        strong view."""
        from aekit.corruption import Chain, MaskingNoise, RandomAffine, make_corruption

        if x.ndim != 4:
            return make_corruption("mask:0.2" if self.corruption == "auto" else self.corruption), None
        weak = RandomAffine(shift=2.0 * min(x.shape[2:]) / 28)
        strong = Chain((weak, MaskingNoise(0.5))) if self.corruption == "auto" else make_corruption(self.corruption)
        return strong, weak

    def _fit_joint(self, x: np.ndarray, y_idx: np.ndarray, xu: np.ndarray | None, seeds: Seeds) -> None:
        """Head, reconstruction and consistency trained together on the labelled rows (repeated to make up
        ``labelled_fraction`` of the data) and the unlabelled ones; each record's ``label`` is the class index
        (int64), -1 for an unlabelled row."""
        from aekit.objectives import JointClassification

        ae = self.autoencoder_
        n_u = 0 if xu is None else len(xu)
        repeats = max(1, round(self.labelled_fraction / (1 - self.labelled_fraction) * n_u / len(x)))
        rows = np.concatenate([np.tile(x, (repeats,) + (1,) * (x.ndim - 1)), *([] if xu is None else [xu])])
        labels = np.concatenate([np.tile(y_idx, repeats), np.full(n_u, -1)]).astype(np.int64)
        xs = ae.scaler.transform(rows).astype(np.float32) if ae.scaler is not None else rows.astype(np.float32)
        model = ae.model.train()
        head = self._new_head(model, xs, seeds)
        net = _JointNet(model, head, len(self.classes_))
        objective = JointClassification(reconstruction_weight=self.reconstruction_weight,
                                        consistency_weight=self.consistency_weight, threshold=self.threshold)
        history = self._train(xs, seeds=seeds, model=net, scaler=None, objective=objective,
                              augment=_JointViews(*self._corruptions(x)), fields={"label": labels},
                              validation_fraction=0.0).result.history
        self.head_ = head.eval()
        model.eval()
        self.history_, self.n_iter_ = history, len(history)
