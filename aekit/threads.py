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

A whole estimator call (``fit``, ``predict``, ``score_samples``, ...: scoring, statistics and mixtures as
well as training) runs under :func:`call_threads`, which applies the same rule once at its start, so
concurrent fits share the cores in every phase, not only in the training loop.

:func:`compute_threads` applies a count to torch (and, through ``threadpoolctl``, to the BLAS / OpenMP pools
of NumPy and scikit-learn) for the duration of a block, then restores the caller's.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
import weakref

import torch

SMALL_STEP_FLOPS = 1e8          # a training step below this many FLOPs runs on one thread (see the module doc)
START_PROBE = 0.05              # seconds a fit's start watches the machine when other processes seem to run
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


_pools: list = [None, -1]     # a threadpoolctl controller, and len(sys.modules) when it was made


def _controller():
    """The BLAS / OpenMP pools loaded in this process, found once and again only after new imports (finding
    them costs ~18 ms: ``threadpool_limits`` looked them up afresh on every call, every fit)."""
    if _pools[0] is None or _pools[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _pools[:] = [ThreadpoolController(), len(sys.modules)]
    return _pools[0]


def limit_pools(n: int) -> None:
    """Limit the BLAS / OpenMP pools loaded now to ``n`` threads for the rest of the process (a server)."""
    _controller().limit(limits=n)


@contextlib.contextmanager
def compute_threads(n: int):
    """Run the block with ``n`` torch intra-op threads (and the BLAS / OpenMP pools ``threadpoolctl`` finds
    limited to ``n``); the caller's settings come back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with _controller().limit(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)


def training_threads(model: torch.nn.Module, example: torch.Tensor, batch_size: int) -> int:
    """:func:`num_threads` for training ``model`` on batches of ``batch_size`` samples like ``example``."""
    fixed = _fixed()
    return fixed if fixed is not None else num_threads(step_flops(model, example, batch_size))


class ThreadGovernor:
    """Adapts the thread count of a running fit to what other processes use of the machine (rule 3 only).

    ``start()`` returns the count to begin with: at once when no other process runs at that instant
    (``procs_running`` in ``/proc/stat`` less this process's running threads), else from the busy CPU time of
    the others over :data:`START_PROBE` seconds (an instant alone decided by chance, and results differed in
    the last bits between two runs of the same fit); ``update()``, called after every step, re-decides from the busy
    CPU time of the other processes
    ``probe`` seconds later, then about once every ``interval`` seconds, and applies a change with
    ``torch.set_num_threads``. The count is ``wanted`` minus the cores the other processes keep busy (at
    least one). Without ``/proc/stat`` (not Linux) it keeps ``wanted``.
    """

    def __init__(self, wanted: int, *, interval: float = 1.0, probe: float = 0.2):
        self.wanted, self.interval, self.probe = wanted, interval, probe
        self.current = wanted
        self._last = None
        self._wait = probe

    @staticmethod
    def _read_stat() -> list[str]:
        try:
            with open("/proc/stat") as f:
                return f.read().splitlines()
        except OSError:
            return []

    @classmethod
    def _machine(cls) -> float | None:
        """Busy CPU seconds of the whole machine since boot, from /proc/stat's first line."""
        lines = cls._read_stat()
        try:
            fields = [float(v) for v in lines[0].split()[1:]]
        except (IndexError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)          # idle + iowait
        total = sum(fields[:8])                                              # guest time is inside user time
        return (total - idle) / tick

    @classmethod
    def _running(cls) -> int | None:
        """Threads of the whole machine running or ready to run at this instant (this one included)."""
        for line in cls._read_stat():
            if line.startswith("procs_running "):
                return int(line.split()[1])
        return None

    @staticmethod
    def _own_running() -> int:
        """Threads of this process running or ready to run at this instant (at least this one): torch's and the
        BLAS pools' threads spin for a while after each parallel region, so they must not count as other
        processes' work (counting them made the same call pick one thread or two by chance, and its results
        differ in the last bits)."""
        n = 0
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return 1
        for tid in tasks:
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            n += state == "R"
        return max(n, 1)

    def _sample(self):
        machine = self._machine()
        return None if machine is None else (time.perf_counter(), time.process_time(), machine)

    def _decide(self, before, after) -> int:
        wall = after[0] - before[0]
        others = max(0.0, (after[2] - before[2]) - (after[1] - before[1])) / max(wall, 1e-9)  # busy cores
        return self._fit(others)

    def _fit(self, others: float) -> int:
        """The count that leaves the cores ``others`` keep busy to them."""
        return max(1, min(self.wanted, int(available_cores() - others + 0.5)))

    def start(self) -> int:
        if self.wanted > 1:
            self._last = self._sample()
            running = self._running() if self._last is not None else None
            if running is not None and running - self._own_running() > 0:
                # others seem to run at this instant: measure what they use over a short window, so that a
                # passing process (or one of this process's threads caught between two states) does not
                # decide the count by chance; an idle machine takes the fast path, the same count every time
                time.sleep(START_PROBE)
                now = self._sample()
                self.current = self._decide(self._last, now)
                self._last = now
        return self.current

    def update(self) -> None:
        if self._last is None or time.perf_counter() - self._last[0] < self._wait:
            return
        now = self._sample()
        n = self._decide(self._last, now)
        self._last, self._wait = now, self.interval
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


_depth = threading.local()    # calls of call_threads active in this thread (nested calls keep the outer count)


FITTING = frozenset({"fit", "partial_fit", "fit_transform", "fit_predict", "fit_stream"})


@contextlib.contextmanager
def call_threads(govern: bool = True):
    """Run a whole estimator call with the count of the rule above: fixed by the setting or the environment,
    else, for a fit (``govern``), the cores other processes leave free at its start
    (:meth:`ThreadGovernor.start`). Other calls (predict, transform, compress, ...) take the rule's count as it
    is, the same on every call, so that their outputs do not change in the last bits with the machine's load
    (a decoded stream equals the model's reconstruction, a reloaded model gives identical outputs). A call
    inside another (``fit`` scoring its training data) keeps the outer one's count; the training loop inside
    decides its own (smaller for small steps, governed while it runs)."""
    if getattr(_depth, "n", 0):
        with held():
            yield torch.get_num_threads()
        return
    n = num_threads()
    gov = governor(n) if govern else None
    _depth.n = 1
    try:
        with compute_threads(gov.start() if gov is not None else n) as used:
            yield used
    finally:
        _depth.n = 0


@contextlib.contextmanager
def held():
    """Calls made in this thread inside the block keep the process's count as it is (a server that set its
    threads once, :func:`aekit.serve.app.use_threads`): no per-call decision."""
    depth = getattr(_depth, "n", 0)
    _depth.n = depth + 1
    try:
        yield
    finally:
        _depth.n = depth


def hold_this_thread() -> None:
    """Every later call in this thread keeps the process's count as it is (:func:`held` for the thread's whole
    life: a server's worker thread)."""
    _depth.n = max(getattr(_depth, "n", 0), 1)


def threaded_call(method):
    """Decorator: ``method`` runs under :func:`call_threads`, governed when it is a fit (:data:`FITTING`; the
    estimators' public methods, see ``aekit.estimators._core``)."""
    govern = method.__name__ in FITTING

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with call_threads(govern):
            return method(*args, **kwargs)
    wrapper.__aekit_threaded__ = True
    return wrapper


# ------------------------------------------------------------------------------------ inference pass sizes
PASS_BYTES = 32 * 2**20       # activation memory one inference pass may take (a bounded peak on large inputs)
_pass_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # model -> {sample shape: bytes}


def pass_rows(model: torch.nn.Module, example: torch.Tensor, cap: int, budget: int = PASS_BYTES) -> int:
    """Rows per inference pass of ``model`` on samples like ``example`` (one sample, on the model's device): at
    most ``cap``, and few enough that the pass's activations stay within ``budget`` bytes. Counted once per
    model and sample shape from one sample's forward pass (each module's output, the two largest alive at
    once); a model whose pass cannot be counted gets ``cap``."""
    per_model = _pass_cache.setdefault(model, {})
    key = (tuple(example.shape), example.dtype)
    if key not in per_model:
        sizes: list[int] = []

        def record(module, args, out):   # a leaf module's output: a tensor, a tuple of them, or a record
            if isinstance(out, torch.Tensor):
                out = (out,)
            elif not isinstance(out, (tuple, list)):
                out = tuple(vars(out).values()) if hasattr(out, "__dict__") else ()
            sizes.extend(t.numel() * t.element_size() for t in out if isinstance(t, torch.Tensor))

        hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                model(example[None])
            top = sorted(sizes)[-2:]
            per_row = sum(top) + example.numel() * example.element_size()
        except Exception:   # a model that needs more than its input: no bound
            per_row = 0
        finally:
            model.train(was_training)
            for h in hooks:
                h.remove()
        per_model[key] = per_row
    per_row = per_model[key]
    return int(cap) if per_row <= 0 else int(max(1, min(cap, budget // per_row)))
