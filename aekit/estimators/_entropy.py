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


BANK_REACH = 512             # symbols -BANK_REACH .. BANK_REACH in every row of the Laplacian bank
BANK_SCALES = (-6.0, 6.0, 4)  # log2 of the smallest and largest Laplacian scale, rows per octave


def laplace_bank(*, reach: int = BANK_REACH, scales: tuple[float, float, int] = BANK_SCALES) -> EntropyTables:
    """The coding tables an adaptive coder picks from, one row per Laplacian scale: row 0 codes a channel that is
    zero everywhere (all its mass on 0), row ``k >= 1`` a zero-mean Laplacian of scale ``2^(lo + (k-1)/per)``
    discretised on the integers ``-reach .. reach`` (the mass beyond the ends added to them; no symbol without
    mass, so any row codes any symbol in range)."""
    lo, hi, per = scales
    values = np.arange(-reach, reach + 1, dtype=np.float64)
    rows = [np.where(values == 0, 1.0, 0.0)]
    def cdf(v, s):
        tail = 0.5 * np.exp(-np.abs(v) / s)
        return np.where(v >= 0, 1 - tail, tail)

    for s in 2.0 ** np.arange(lo, hi + 1e-9, 1.0 / per):
        upper, lower = cdf(values + 0.5, s), cdf(values - 0.5, s)
        mass = upper - lower
        mass[0] += lower[0]
        mass[-1] += 1.0 - upper[-1]
        rows.append(mass)
    probs = np.maximum(np.array(rows), 1e-12)
    probs /= probs.sum(1, keepdims=True)
    return EntropyTables(np.full(len(probs), -reach, dtype=np.int64), probs)


# ------------------------------------------------------------------------------------------ context-adaptive coding
CONTEXT_CLASSES = 6      # activity classes of a coefficient: 0, 1, 2-3, 4-7, 8-15, 16+ (the sum below)
SIDE_SCALE = 2.0         # the Laplacian scale of the bank row that codes the side information


def context_classes(symbols: np.ndarray, classes: int = CONTEXT_CLASSES) -> np.ndarray:
    """The class of every symbol of a block code (M, n) (channel-major: the strongest transform channels first,
    channel 0 the blocks' mean): ``floor(log2(1 + a))``, at most ``classes - 1``, of the activity ``a`` of its
    block in the channels coded before it, ``sum |symbols[i]|`` over ``1 <= i < j``. A block whose stronger
    coefficients are all zero is flat, and its weaker ones are almost surely zero too (what JPEG's end-of-block
    symbol exploits); a busy block's are wide. (M, n) -> (M, n) int."""
    mags = np.abs(np.asarray(symbols, dtype=np.int64))
    mags[:1] = 0
    return activity_class(np.cumsum(mags, axis=0) - mags, classes)                    # channels before each


def activity_class(activity: np.ndarray, classes: int = CONTEXT_CLASSES) -> np.ndarray:
    """``floor(log2(1 + activity))``, at most ``classes - 1`` (see :func:`context_classes`; the decoder's one
    channel at a time)."""
    return np.minimum(np.floor(np.log2(1 + activity)).astype(np.int64), classes - 1)


def context_row(base: int, offset: int, n_rows: int) -> int:
    """The bank row of a (channel, class): row 0 (all zeros) for a channel whose base is 0, else the channel's
    base row moved by the class's offset (in quarter octaves of the Laplacian scale), kept inside the bank."""
    return 0 if base == 0 else int(np.clip(base + offset, 1, n_rows - 1))


def side_row(bank_scales: tuple[float, float, int] = BANK_SCALES) -> int:
    """The row of the bank whose Laplacian has scale :data:`SIDE_SCALE` (codes bases' differences and offsets)."""
    lo, _, per = bank_scales
    return 1 + int(round((np.log2(SIDE_SCALE) - lo) * per))


def pick_context_rows(symbols: np.ndarray, bank: EntropyTables, classes: int = CONTEXT_CLASSES,
                      rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For a block code (M, n) within the bank's range: per channel a base row (M,) and per class an offset
    (classes,), shared by every channel, that code it in (about) the fewest bits: each round picks every
    channel's base for the offsets, then every offset for the bases (the cost of every row for every
    (channel, class) is counted once)."""
    symbols = np.asarray(symbols, dtype=np.int64)
    m, n_rows, width = len(symbols), len(bank.low), bank.probs.shape[1]
    cls = context_classes(symbols, classes)
    counts = np.zeros((m, classes, width))
    np.add.at(counts, (np.arange(m)[:, None], cls, symbols - bank.low[0]), 1)
    cost = counts @ -np.log2(bank.probs).T                                              # (M, classes, rows)
    reach = n_rows - 1
    offsets = np.zeros(classes, np.int64)
    chans, ks = np.arange(m)[:, None], np.arange(classes)[None, :]
    for _ in range(rounds):
        totals = np.stack([cost[chans, ks, np.clip(r + offsets, 1, reach)[None, :]].sum(1) for r in range(1, n_rows)],
                          axis=1)                                                       # (M, rows - 1)
        bases = 1 + totals.argmin(1)
        zero = cost[:, :, 0].sum(1) <= totals.min(1)                                    # all zeros: row 0, free
        bases[zero] = 0
        live = bases > 0
        for k in range(classes):
            trial = {o: cost[live, k, np.clip(bases[live] + o, 1, reach)].sum() for o in range(-reach, reach + 1)}
            offsets[k] = min(trial, key=lambda o: (trial[o], abs(o)))
    return bases.astype(np.int64), offsets
