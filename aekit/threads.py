"""How many compute threads aekit uses, decided in one place (the training loop and the benchmarks ask here).

PyTorch starts one intra-op thread per core. Several such processes on one machine (``GridSearchCV(n_jobs=...)``,
a pipeline per customer, tests beside a benchmark, server workers) then run more threads than cores, and
OpenMP threads that wait by spinning slow every process down far more than its share of the CPU explains.
The rule, first match wins:

1. ``aekit.set_num_threads(n)`` (one library-level setting; ``None`` returns to automatic);
2. the environment: ``AEKIT_NUM_THREADS``, then ``OMP_NUM_THREADS`` (which joblib's workers and most job
   schedulers set for their children) are respected as they are;
3. automatic: the cores this process may run on (``os.sched_getaffinity``) divided among the processes
   ``torchrun`` started on this machine (``LOCAL_WORLD_SIZE``), and one thread when a training step is too
   small to gain from more (below :data:`SMALL_STEP_FLOPS` floating-point operations: on this 2-core machine
   a second thread sped such steps up by at most 1.1x, and a 1.7e8-FLOP step by 1.34x). While training, a
   :class:`ThreadGovernor` then watches what *other* processes use of the machine (``/proc/stat`` minus this
   process's own CPU time, about once a second, Linux only) and gives up the cores they occupy: two fits
   with two threads each on two cores ran 10-30 times slower than alone (OpenMP threads spin while they
   wait), one thread each runs them at their share.

:func:`compute_threads` applies a count to torch (and, through ``threadpoolctl``, to the BLAS / OpenMP pools
of NumPy and scikit-learn) for the duration of a block, then restores the caller's.
"""
from __future__ import annotations

import contextlib
import os
import time

import torch

SMALL_STEP_FLOPS = 1e8          # a training step below this many FLOPs runs on one thread (see the module doc)
_setting: int | None = None


def set_num_threads(n: int | None) -> None:
    """Fix the number of compute threads aekit uses (``None``: decide automatically, see the module doc)."""
    global _setting
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: n={n!r} must be a positive integer or None")
    _setting = n


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        n = int(value.split(",")[0])        # OMP_NUM_THREADS may be a list for nested levels
    except ValueError:
        raise ValueError(f"{name}={value!r} must be a positive integer") from None
    if n < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return n


def _fixed() -> int | None:
    """The count fixed by the setting or the environment (rules 1 and 2), else None."""
    if _setting is not None:
        return _setting
    for name in ("AEKIT_NUM_THREADS", "OMP_NUM_THREADS"):
        n = _env_int(name)
        if n is not None:
            return n
    return None


def num_threads(step_flops: float | None = None) -> int:
    """The number of compute threads for work whose training step costs ``step_flops`` (None: unknown)."""
    fixed = _fixed()
    if fixed is not None:
        return fixed
    local = _env_int("LOCAL_WORLD_SIZE") or 1
    n = max(1, available_cores() // local)
    if step_flops is not None and step_flops < SMALL_STEP_FLOPS:
        return 1
    return n


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with the BLAS / OpenMP pools limited to one thread: for many small matrix operations (a
    Gaussian mixture's Cholesky solves on codes of a few dimensions), where waking a second thread costs more
    than it saves (measured: a 10-component mixture on 1,500 10-D codes, 8.2 s with two threads on a busy
    2-core machine, 0.8 s with one, the same result)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@contextlib.contextmanager
def compute_threads(n: int):
    """Run the block with ``n`` torch intra-op threads (and the BLAS / OpenMP pools ``threadpoolctl`` finds
    limited to ``n``); the caller's settings come back afterwards."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)


def training_threads(model: torch.nn.Module, example: torch.Tensor, batch_size: int) -> int:
    """:func:`num_threads` for training ``model`` on batches of ``batch_size`` samples like ``example``."""
    fixed = _fixed()
    return fixed if fixed is not None else num_threads(step_flops(model, example, batch_size))


class ThreadGovernor:
    """Adapts the thread count of a running fit to what other processes use of the machine (rule 3 only).

    ``start()`` samples the machine for ``probe`` seconds and returns the count to begin with; ``update()``,
    called after every step, re-decides about once every ``interval`` seconds and applies the change with
    ``torch.set_num_threads``. The count is ``wanted`` minus the cores the other processes keep busy (at least
    one). Without ``/proc/stat`` (not Linux) it keeps ``wanted``.
    """

    def __init__(self, wanted: int, *, interval: float = 1.0, probe: float = 0.05):
        self.wanted, self.interval, self.probe = wanted, interval, probe
        self.current = wanted
        self._last = None

    @staticmethod
    def _machine() -> float | None:
        """Busy CPU seconds of the whole machine since boot, from /proc/stat's first line."""
        try:
            with open("/proc/stat") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)          # idle + iowait
        total = sum(fields[:8])                                              # guest time is inside user time
        return (total - idle) / tick

    def _sample(self):
        machine = self._machine()
        return None if machine is None else (time.perf_counter(), time.process_time(), machine)

    def _decide(self, before, after) -> int:
        wall = after[0] - before[0]
        others = max(0.0, (after[2] - before[2]) - (after[1] - before[1])) / max(wall, 1e-9)  # busy cores
        free = available_cores() - others
        return max(1, min(self.wanted, int(free + 0.5)))

    def start(self) -> int:
        if self.wanted > 1:
            first = self._sample()
            if first is not None:
                time.sleep(self.probe)
                self._last = self._sample()
                self.current = self._decide(first, self._last)
        return self.current

    def update(self) -> None:
        if self._last is None or time.perf_counter() - self._last[0] < self.interval:
            return
        now = self._sample()
        n = self._decide(self._last, now)
        self._last = now
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n


def governor(n: int) -> ThreadGovernor | None:
    """A :class:`ThreadGovernor` for a fit that decided on ``n`` threads automatically; None when the count
    was fixed by the setting or the environment (then it is kept as given)."""
    return None if _fixed() is not None or n <= 1 else ThreadGovernor(n)


def step_flops(model: torch.nn.Module, example: torch.Tensor, batch_size: int) -> float | None:
    """FLOPs of one training step (forward and backward, about 3 x the forward) of ``model`` on batches of
    ``batch_size`` samples like ``example`` (one sample), counted by ``torch.utils.flop_counter``."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(example[None])            # the caller's random stream is left as it was
        finally:
            model.train(was_training)
        return 3.0 * counter.get_total_flops() * batch_size
    except Exception:  # an operator the counter does not know: no estimate
        return None
