"""Micro-batching: concurrent requests to one model operation gathered into one forward pass.

Each served model has one :class:`Runner`, a worker thread that makes its calls one at a time (the event
loop never computes, and a model is never run from two threads at once). Each batched operation has a
:class:`Batcher`: requests queue up while the runner is busy and leave together, up to ``max_batch`` rows, as
one call whose outputs are split back per request (every output's first axis is the batch). When the queue
is idle a request leaves at once; only while requests keep arriving (the last call held more than one) does a
batch wait up to ``max_wait`` seconds for more. A call that fails for a batch of several requests is run
again per request, so that one bad input fails only its own request.
"""
from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


class QueueFull(Exception):
    """More rows are waiting for an operation than ``max_queue`` allows."""


class Runner:
    """One model's worker thread (set up by :func:`serving_thread`)."""

    def __init__(self, name: str):
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"aekit-serve-{name}", initializer=serving_thread)

    async def call(self, fn: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        """End the thread once its call returns; waits for nothing (the server has already waited for its
        requests, and a model stuck past a request's timeout must not hold the shutdown)."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def serving_thread() -> None:
    """What a worker thread computes under, set once in it (both settings are this thread's own):

    - the process's compute threads as the server set them (:func:`aekit.serve.app.use_threads`), with no
      thread decision per call (:func:`aekit.threads.hold_this_thread`);
    - scikit-learn's input checks skipped (``assume_finite``, ``skip_parameter_validation``): the server has
      checked every input (finite numbers of the declared shape) and every output (a non-finite one is an
      error that names it), and the fitted parts' parameters were checked when they were fitted. A detector's
      nearest-neighbour scores call scikit-learn several times per request: one table row scored in 7.5 ms
      of CPU with the checks, 5.3 ms without (a loaded 2-core machine)."""
    from aekit.threads import hold_this_thread

    hold_this_thread()
    try:
        import sklearn
    except ImportError:
        return
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)


class Batcher:
    """Gathers the requests of one operation; ``on_batch(rows, requests)`` is told the size of every call."""

    def __init__(self, fn: Callable[[np.ndarray], dict], runner: Runner, *, max_batch: int, max_wait: float,
                 max_queue: int, on_batch: Callable[[int, int], None] | None = None):
        self.fn, self.runner = fn, runner
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.on_batch = on_batch
        self._pending: collections.deque = collections.deque()   # (x, future), oldest first
        self._rows = 0                                           # rows in _pending
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._last_requests = 1                                  # requests in the last call

    async def submit(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs for the rows of ``x`` (``(n, ...)``)."""
        if self._pending and self._rows + len(x) > self.max_queue:
            raise QueueFull(f"{self._rows} rows are waiting (max_queue={self.max_queue})")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((x, future))
        self._rows += len(x)
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._serve())
        return await future

    def _take(self, room: int, *, first: bool = False) -> list:
        """Waiting requests that fit in ``room`` rows, oldest first (with ``first``, the oldest whatever its
        size); requests whose caller gave up (timed out) are dropped."""
        taken: list = []
        rows = 0
        while self._pending:
            x, future = self._pending[0]
            if not future.done() and rows + len(x) > room and not (first and not taken):
                break
            self._pending.popleft()
            self._rows -= len(x)
            if not future.done():
                taken.append((x, future))
                rows += len(x)
        return taken

    async def _serve(self) -> None:
        while self._pending:
            batch = self._take(self.max_batch, first=True)
            rows = sum(len(x) for x, _ in batch)
            if batch and rows < self.max_batch and self._last_requests > 1 and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait   # requests keep coming: wait a little for more
                while rows < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except asyncio.TimeoutError:
                        pass
                    more = self._take(self.max_batch - rows)
                    batch += more
                    rows += sum(len(x) for x, _ in more)
            if batch:
                await self._run(batch, rows)

    async def _run(self, batch: list, rows: int) -> None:
        self._last_requests = len(batch)
        if self.on_batch is not None:
            self.on_batch(rows, len(batch))
        x = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])   # (rows, ...)
        try:
            out = await self.runner.call(self.fn, x)
            bad = [k for k, v in out.items() if len(v) != rows]
            if bad:
                raise RuntimeError(f"outputs {bad} do not have one row per input row ({rows})")
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
            else:                  # find the request at fault: each alone
                for x, future in batch:
                    if not future.done():
                        try:
                            _settle(future, await self.runner.call(self.fn, x))
                        except Exception as one:  # noqa: BLE001
                            _settle(future, error=one)
            return
        start = 0
        for x, future in batch:
            _settle(future, {k: v[start:start + len(x)] for k, v in out.items()})
            start += len(x)


def _settle(future: asyncio.Future, result=None, *, error: BaseException | None = None) -> None:
    if future.done():          # the caller timed out meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
