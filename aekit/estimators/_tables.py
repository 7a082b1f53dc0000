"""The coding tables of the learned codecs (Compressor, ImageCodec), saved and loaded with the model's tensors."""
from __future__ import annotations

import numpy as np
import torch

from aekit.codec import EntropyTables


class TablesInFolder:
    """A codec's ``entropy_tables_`` saved and loaded with the model's tensors (mixed into the codecs)."""

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        t = self.entropy_tables_
        return {"entropy_low": torch.from_numpy(t.low.astype(np.int64)),
                "entropy_probs": torch.from_numpy(t.probs.astype(np.float64))}

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "entropy_low" not in tensors or "entropy_probs" not in tensors:
            raise ValueError("the folder has no entropy tables (entropy_low, entropy_probs)")
        self.entropy_tables_ = EntropyTables(tensors["entropy_low"].numpy().astype(np.int64),
                                             tensors["entropy_probs"].numpy().astype(np.float64))
