"""Coding tables from a learned density: how the learned codecs turn their entropy model into the per-channel
symbol ranges and probabilities that :mod:`aekit.codec` codes with."""
from __future__ import annotations

import numpy as np
import torch

from aekit.codec import EntropyTables

TAIL_MASS = 1e-6      # each side's probability mass beyond a channel's coded symbol range (clipped to its ends)
MAX_REACH = 4096      # symbols searched on each side of zero for a channel's range


def density_tables(density, *, tail: float = TAIL_MASS, reach: int = MAX_REACH) -> EntropyTables:
    """Coding tables from a learned per-channel density (``LogisticMixtureDensity`` of M channels).

    Channel ``c`` codes the integers ``v`` with ``cdf(v + 1/2) > tail`` and ``cdf(v - 1/2) < 1 - tail``, each
    with its bin's mass; the mass beyond the ends is added to the end symbols, which is where the
    quantiser clips values beyond them (the escape of the factorized prior)."""
    v = torch.arange(-reach, reach + 1, dtype=torch.float64)[:, None]                # (V, 1)
    m = density.logits.shape[0]
    with torch.no_grad():
        upper = density.cdf((v + 0.5).expand(-1, m)).double().numpy()                # (V, M) cdf(v + 1/2)
        lower = density.cdf((v - 0.5).expand(-1, m)).double().numpy()                # (V, M) cdf(v - 1/2)
    values = v[:, 0].numpy().astype(np.int64)
    lows, rows = [], []
    for c in range(m):
        keep = np.flatnonzero((upper[:, c] > tail) & (lower[:, c] < 1.0 - tail))
        if len(keep) == 0:   # all mass within one bin: code that bin alone
            keep = np.array([int(np.argmax(upper[:, c] - lower[:, c]))])
        a, b = keep[0], keep[-1]
        mass = upper[a:b + 1, c] - lower[a:b + 1, c]
        mass[0] += lower[a, c]                  # values below the range are clipped to its first symbol
        mass[-1] += 1.0 - upper[b, c]           # and values above it to its last
        mass = np.maximum(mass, 1e-12)
        lows.append(values[a])
        rows.append(mass / mass.sum())
    width = max(len(r) for r in rows)
    probs = np.zeros((m, width))
    for c, r in enumerate(rows):
        probs[c, :len(r)] = r
    return EntropyTables(np.array(lows, dtype=np.int64), probs)
