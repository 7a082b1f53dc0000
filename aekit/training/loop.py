"""The training loop: fast in-memory batches, Adam(W) with a schedule, early stopping, atomic
checkpoints with exact resume, divergence errors and DDP under torchrun.

Every step receives a record of named tensors (:class:`~aekit.training.batch.Batch`) built here from the data,
passes it through the caller's ``augment(batch, generator)`` and minimises an
:class:`~aekit.objectives.Objective` ``loss(model, batch)``; the loop knows nothing of tasks or losses, and
this step is the one place in the package that calls ``backward()`` to train weights."""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from aekit.losses import LossBreakdown
from aekit.objectives import Objective, make_objective
from aekit.seeding import resolve_seed, torch_seeded
from aekit.threads import compute_threads, governor, num_threads, pass_rows, training_threads
from aekit.training.checkpoint import load_checkpoint, save_checkpoint
from aekit.training.batch import Augment, Batch, Corrupt, as_batch
from aekit.training.config import TrainConfig
from aekit.training.distributed import DistInfo, all_reduce_sum, barrier, init_distributed

# An array (the inputs), an (inputs, targets) pair, a dict of named per-sample arrays ({"input": ..., "label": ...}),
# or a torch Dataset / stream; the targets default to the inputs.
Data = "np.ndarray | torch.Tensor | tuple | dict | torch.utils.data.Dataset"
Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
DATA_FIELDS = ("input", "target")  # converted to float32 as they come; other fields keep their kind (int -> int64)
# options that must match between a checkpoint and the run that resumes it
_RESUME_KEYS = ("batch_size", "lr", "optimizer", "weight_decay", "schedule", "warmup_steps", "min_lr_ratio",
                "random_state", "grad_clip", "precision")


_SEED_MODULUS = 2**63 - 1  # generator seeds derived from (seed, epoch, step) stay in torch's int64 range


class TrainingError(RuntimeError):
    """Training could not go on (diverged loss, incompatible checkpoint)."""


@dataclass
class TrainResult:
    history: list[dict]                      # one dict per epoch: train_*/val_* loss terms, lr, time and
                                             # eval_time (seconds since the start, and of them validating)
    evaluations: list[dict]                  # validations every ``val_every_steps`` steps (step, val_*, time)
    best_epoch: int | None                   # epoch of the best validation loss (None without val data)
    best_val_loss: float | None
    stopped_early: bool
    elapsed: float                           # seconds of training, summed over resumed runs
    steps: int
    diagnostics: dict = field(default_factory=dict)  # the objective's checks (collapse: aekit/diagnostics.py)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device={name!r} is not a valid torch device ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    return device


def _fields(data) -> "dict | torch.utils.data.Dataset":
    """The data as named per-sample arrays (``{"input": x, "target": y, ...}``), or the Dataset as it is."""
    if isinstance(data, torch.utils.data.Dataset):
        return data
    if isinstance(data, dict):
        fields = {k: v for k, v in data.items() if v is not None}
        if not fields:
            raise ValueError("data given as a dict must name at least one array, e.g. {'input': x}")
        return fields
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data given as a tuple must be (inputs, targets), got {len(data)} items")
        return {"input": data[0]} if data[1] is None else {"input": data[0], "target": data[1]}
    return {"input": data}


def _as_tensor(x, name: str = "input") -> torch.Tensor:
    """A field as a tensor: inputs and targets float32; other fields keep their kind (integers int64, booleans)."""
    if name not in DATA_FIELDS:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
        return t if t.dtype == torch.bool else t.float() if t.is_floating_point() else t.long()
    if isinstance(x, torch.Tensor):
        return x.float()
    arr = np.asarray(x, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _first_field(data) -> "np.ndarray | torch.Tensor":
    return data["input"] if "input" in data else next(iter(data.values()))


class _ArrayDataset(torch.utils.data.Dataset):
    """Samples of arrays too big to copy (e.g. ``np.memmap``), converted one at a time to named tensors."""

    def __init__(self, fields: dict):
        self.fields = fields

    def __len__(self) -> int:
        return len(_first_field(self.fields))

    def __getitem__(self, i):
        return {k: _as_tensor(np.array(v[i]), k) for k, v in self.fields.items()}


@dataclass
class _Run:
    """What one ``fit`` call works with (built by ``Trainer._setup``)."""

    device: torch.device
    info: DistInfo
    model: nn.Module            # the model being trained
    net: nn.Module              # what the steps call: the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    train: object               # named per-sample fields (on the device when in memory) or a Dataset
    val: dict | None
    seed: int                   # shuffling and corruption seed (resolved once)
    total_steps: int
    channels_last: bool
    state: dict                 # progress, history and early-stopping state: what a checkpoint records
    example: torch.Tensor | None = None  # one sample as the model sees it (in-memory data)
    start_time: float = 0.0
    bar: object = None
    governor: object = None     # adapts the thread count to other processes' use (aekit/threads.py)


def _optimizer(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    """Adam(W) over ``params``, as one fused kernel per step where torch has it for their device (CPU, CUDA):
    the per-tensor update loop cost the MNIST ``mlp`` about 4 ms a step on one thread against 1 ms fused
    (torch 2.13). The fused update rounds differently in the last bits, as a change of thread count does;
    a given seed still gives the same weights run after run."""
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    try:
        return opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    except (RuntimeError, ValueError):  # a torch build or dtype without the fused kernel
        return opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class Trainer:
    """Fit a model (an :class:`~aekit.models.Autoencoder`, or any ``nn.Module`` its objective can call) to data.

    ``objective`` (an :class:`~aekit.objectives.Objective`, a name registered there, or a callable
    ``(output, target) -> LossBreakdown``; default: :func:`aekit.objectives.make_objective`'s) is what is
    minimised. ``augment(batch, generator) -> batch`` (optional) makes the views every training step trains on
    from its record (:mod:`aekit.training.batch`), with a generator of its own per (seed, epoch, step);
    ``corruption(x, generator) -> x_tilde`` is short for ``augment=Corrupt(corruption)``: the inputs corrupted,
    the targets as given. ``callbacks`` are called as ``cb(epoch, logs)`` after
    each epoch, once the checkpoint is written, and after every validation that ``val_every_steps``
    asks for (``logs`` then has a ``"step"`` key); one that returns ``True`` ends training there.
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None, *, objective=None,
                 augment: Augment | None = None, corruption: Corruption | None = None,
                 callbacks: Sequence[Callable[[int, dict], None]] = ()):
        if augment is not None and corruption is not None:
            raise ValueError("give augment= or corruption= (short for augment=Corrupt(corruption)), not both")
        self.model = model
        self.config = config or TrainConfig()
        self.objective: Objective = make_objective(objective)
        self.objective.check(model)
        self.augment = Corrupt(corruption) if corruption is not None else augment
        self.callbacks = list(callbacks)

    # ------------------------------------------------------------------ fit: the steps
    def fit(self, train, val=None, *, resume: bool = False) -> TrainResult:
        """Train on ``train`` (an array, (inputs, targets), a dict of named per-sample arrays or a Dataset);
        early stopping watches ``val`` (arrays, a pair or a dict) when given.

        ``resume=True`` continues from the checkpoint in ``config.checkpoint_dir`` when there is one and
        ends with the same weights as an uninterrupted run (without ``max_time``, which depends on the clock).
        Torch's global random state (dropout) is seeded inside a fork, so the caller's state is untouched.
        """
        seed = resolve_seed(self.config.random_state)
        with torch_seeded(seed):
            run = self._setup(train, val, seed, resume)
            n = self._threads(run)
            run.governor = governor(n)
            with compute_threads(run.governor.start() if run.governor is not None else n):
                stop = run.state["finished"]
                while not stop and run.state["epoch"] < self.config.epochs:
                    stop = self._epoch(run)
                return self._finish(run)

    def _threads(self, run: _Run) -> int:
        """Compute threads for this fit (aekit/threads.py: the setting, the environment, or by the step's size)."""
        if run.example is None or run.device.type != "cpu":
            return num_threads()
        return training_threads(run.model, run.example, min(self.config.batch_size, len(_first_field(run.train))))

    def _example(self, data) -> torch.Tensor | None:
        """One sample as the model sees it: the first input, through the augmentation when there is one (with a
        generator of its own, before the steps), or the first field of records without an input (a prior's
        codes); None for Datasets."""
        if isinstance(data, torch.utils.data.Dataset) or len(_first_field(data)) == 0:
            return None
        first = as_batch({k: _as_tensor(v[:1], k) for k, v in data.items()})
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                first = self.augment(first, torch.Generator().manual_seed(0))
        return first["input"][0] if "input" in first else first[next(iter(first))][0]

    def _setup(self, train, val, seed: int, resume: bool) -> _Run:
        """Device, data, optimizer and the state to start from (a checkpoint when resuming)."""
        cfg = self.config
        device = resolve_device(cfg.device)
        info = init_distributed(device if device.type == "cuda" else None)
        if info.enabled and device.type == "cuda":
            device = torch.device("cuda", info.local_rank)
        model = self.model.to(device)
        # faster convolutions (oneDNN / cuDNN) for images
        channels_last = len(getattr(model, "input_shape", ())) == 3
        if channels_last:
            model.to(memory_format=torch.channels_last)
        train_data = self._prepare(train, device)
        val_data = self._prepare(val, device) if val is not None else None
        example = self._example(train_data)
        self._check_samples(train_data, model, example)
        optimizer = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad])  # frozen layers stay put
        state = self._initial_state(seed)
        if resume and cfg.checkpoint_dir:
            state = self._resume_state(state, model, optimizer, info)
        net: nn.Module = model
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel
            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if cfg.compile:  # the step's forward through TorchDynamo / Inductor (the model itself stays as it is)
            net = torch.compile(net)
        n = len(train_data) if isinstance(train_data, torch.utils.data.Dataset) else len(_first_field(train_data))
        total_steps = math.ceil(n / cfg.batch_size) * cfg.epochs
        run = _Run(device, info, model, net, optimizer, train_data, val_data, state["seed"], total_steps,
                   channels_last, state, example)
        run.start_time = time.perf_counter() - state["elapsed"]
        run.bar = self._progress(total_steps, state["step"], info)
        return run

    def _epoch(self, run: _Run) -> bool:
        """One pass over the training data, then validation, checkpoint and callbacks; True: stop."""
        cfg, state = self.config, run.state
        epoch = state["epoch"] + 1
        run.model.train()
        done = state.get("step_in_epoch", 0)       # steps of this epoch a mid-epoch checkpoint already took
        sums: dict[str, float] = dict(state.get("partial_sums") or {}) if done else {}
        seen = int(state.get("partial_seen", 0)) if done else 0
        out_of_time = cut_short = False
        lr = cfg.lr
        batches = self._batches(run.train, epoch, run.info, run.seed, skip=done)
        for step_in_epoch, batch in enumerate(batches, start=done + 1):
            lr = self._step(run, batch, epoch, step_in_epoch, sums)
            seen += batch.n_samples
            if cfg.checkpoint_every_steps and state["step"] % cfg.checkpoint_every_steps == 0:
                state.update(step_in_epoch=step_in_epoch, partial_sums=dict(sums), partial_seen=seen,
                             elapsed=time.perf_counter() - run.start_time)
                self._checkpoint(run)
            if cfg.max_time is not None and self._agree(time.perf_counter() - run.start_time >= cfg.max_time,
                                                        run.info):
                out_of_time = True
                break
            if cfg.val_every_steps and run.val is not None and state["step"] % cfg.val_every_steps == 0:
                cut_short = self._probe(run, epoch)
                if cut_short:
                    break
        logs = {"epoch": epoch, **{f"train_{k}": v / max(seen, 1) for k, v in sums.items()}, "lr": lr}
        if run.val is not None:
            logs.update({f"val_{k}": v for k, v in self._timed_eval(run).items()})
        logs["time"] = time.perf_counter() - run.start_time
        logs["eval_time"] = state["eval_time"]
        state["history"].append(logs)
        state["epoch"] = epoch
        state.update(step_in_epoch=0, partial_sums={}, partial_seen=0)
        stop = out_of_time or cut_short or self._early_stop(state, logs, run.model)
        state["finished"] = stop or epoch >= cfg.epochs
        state["elapsed"] = time.perf_counter() - run.start_time
        self._checkpoint(run)
        if run.bar is not None and "val_loss" in logs:
            run.bar.set_postfix(epoch=epoch, val_loss=f"{logs['val_loss']:.4g}")
        if not cut_short and any([cb(epoch, logs) is True for cb in self.callbacks]):
            stop = state["finished"] = True
            self._checkpoint(run)  # a resumed run must not go on
        return stop

    def _step(self, run: _Run, batch: Batch, epoch: int, step_in_epoch: int, sums: dict) -> float:
        """One optimisation step; adds the batch's logged terms to ``sums``; returns the learning rate."""
        cfg, state = self.config, run.state
        lr = cfg.lr * self._lr_factor(state["step"], run.total_steps, time.perf_counter() - run.start_time)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        progress = getattr(run.model, "set_training_progress", None)
        if progress is not None:
            progress(state["step"], run.total_steps)
        n = batch.n_samples
        if run.channels_last and "input" in batch:
            batch = batch.replace(input=batch.input.contiguous(memory_format=torch.channels_last))
        if self.augment is not None:  # its own generator per (seed, epoch, step): a resumed run draws the same
            step_seed = ((run.seed * 1_000_003 + epoch) * 100_003 + step_in_epoch) % _SEED_MODULUS
            batch = self.augment(batch, torch.Generator().manual_seed(step_seed))
        with self._autocast(run.device):
            lb, logged = self._loss(run.net, batch)
        # every logged term in one host transfer (one sync on a GPU), the finiteness check read from it
        values = torch.stack([v.detach().float().reshape(()) for v in logged.values()]).tolist()
        if not math.isfinite(values[0]):                  # "loss" comes first
            raise TrainingError(
                f"the loss became {values[0]} at epoch {epoch}, step {step_in_epoch} "
                f"(global step {state['step'] + 1}); terms: "
                f"{ {k: round(float(v.detach()), 6) for k, v in lb.terms.items()} }. Lower the learning rate "
                f"(lr={cfg.lr}), set grad_clip, or check the data for extreme values")
        run.optimizer.zero_grad(set_to_none=True)
        lb.total.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.optimizer.step()
        state["step"] += 1
        if run.governor is not None:
            run.governor.update()
        for k, v in zip(logged, values):
            sums[k] = sums.get(k, 0.0) + v * n
        if run.bar is not None:
            run.bar.update(1)
            run.bar.set_postfix(epoch=epoch, loss=f"{values[0]:.4g}", refresh=False)
        return lr

    def _probe(self, run: _Run, epoch: int) -> bool:
        """A validation between epochs (``val_every_steps``); True when a callback asks to stop."""
        state = run.state
        probe = {"epoch": epoch, "step": state["step"],
                 **{f"val_{k}": v for k, v in self._timed_eval(run).items()},
                 "time": time.perf_counter() - run.start_time, "eval_time": state["eval_time"]}
        state["evaluations"].append(probe)
        return any([cb(epoch, probe) is True for cb in self.callbacks])

    def _finish(self, run: _Run) -> TrainResult:
        """Best weights back, default memory layout, the objective's checks."""
        state, model = run.state, run.model
        if run.bar is not None:
            run.bar.close()
        if self.config.restore_best and state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        model.eval()
        check = self._check_inputs(run)
        if check is not None and check.dim() == 4 and run.channels_last:  # checked in the steps' layout, whose
            check = check.contiguous(memory_format=torch.channels_last)   # kernels are ready (3x faster for conv)
        diagnostics = self.objective.diagnose(model, check) if check is not None else {}
        if run.channels_last:  # back to the default layout, so the trained model computes exactly as a reloaded one
            model.to(memory_format=torch.contiguous_format)
        return TrainResult(
            history=state["history"], evaluations=state["evaluations"], best_epoch=state["best_epoch"],
            best_val_loss=state["best_loss"], stopped_early=state["stopped_early"], elapsed=state["elapsed"],
            steps=state["step"], diagnostics=diagnostics,
        )

    def _check_inputs(self, run: _Run) -> torch.Tensor | None:
        """Up to 1024 inputs for the objective's checks on the trained model: the held-out ones, else the training
        ones (through the augmentation where only it makes them the model's input: a restorer's side channels);
        None for Datasets and records without an input."""
        data = run.val if run.val is not None else run.train
        if isinstance(data, torch.utils.data.Dataset) or "input" not in data:
            return None
        x = _as_tensor(data["input"][:1024]).to(run.device)
        shape = getattr(run.model, "input_shape", None)
        if data is run.train and self.augment is not None and shape is not None and tuple(x.shape[1:]) != shape:
            rows = {k: _as_tensor(v[:1024], k).to(run.device) for k, v in data.items()}
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                x = self.augment(as_batch(rows), torch.Generator().manual_seed(run.seed))["input"]
        return x

    # ------------------------------------------------------------------ batches
    def _in_memory(self, x) -> bool:
        if self.config.in_memory is not None:
            return self.config.in_memory
        return not isinstance(x, (np.memmap, torch.utils.data.Dataset))

    def _batches(self, data, epoch: int, info: DistInfo, seed: int, skip: int = 0):
        """Yield the records (:class:`Batch`) of one epoch, shuffled by a generator seeded with (seed, epoch), so a
        resumed run draws exactly the batches the uninterrupted one would have drawn; the first ``skip``
        batches (taken before a mid-epoch checkpoint) are left out."""
        cfg = self.config
        gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % _SEED_MODULUS)
        x = data
        per_rank = max(1, cfg.batch_size // info.world_size)   # this process's share of a batch
        if isinstance(x, torch.utils.data.IterableDataset):  # a stream makes its own shuffled batches
            x.configure(batch_size=per_rank, seed=seed)
            x.set_epoch(epoch)
            if skip:
                x.skip(skip * per_rank)
            loader = torch.utils.data.DataLoader(x, batch_size=None, num_workers=cfg.num_workers)
        elif isinstance(x, torch.utils.data.Dataset) or not self._in_memory(_first_field(x)):
            ds = x if isinstance(x, torch.utils.data.Dataset) else _ArrayDataset(x)
            order = torch.randperm(len(ds), generator=gen)
            sampler = order[info.rank::info.world_size].tolist()[skip * per_rank:]
            loader = torch.utils.data.DataLoader(ds, batch_size=per_rank, sampler=sampler, num_workers=cfg.num_workers)
        else:
            loader = None
        if loader is not None:
            device = next(self.model.parameters()).device
            for item in loader:
                yield as_batch(item).to(device, non_blocking=True)
            return
        n = len(_first_field(x))
        order = torch.randperm(n, generator=gen)
        for start in range(skip * cfg.batch_size, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size][info.rank::info.world_size]  # this process's share
            yield as_batch({k: v.index_select(0, idx.to(v.device)) for k, v in x.items()})

    def _prepare(self, data, device):
        """The data as named fields, as tensors on ``device`` when in memory (else as given), or the Dataset."""
        fields = _fields(data)
        if isinstance(fields, torch.utils.data.Dataset) or not self._in_memory(_first_field(fields)):
            return fields
        fields = {k: _as_tensor(v, k).to(device) for k, v in fields.items()}
        sizes = {k: v.shape[0] for k, v in fields.items()}
        if len(set(sizes.values())) > 1:
            what = "; ".join(f"{k} {n}" for k, n in sizes.items())
            raise ValueError(f"every field of the data must have one row per sample; their sample counts differ "
                             f"({what})")
        return fields

    def _check_samples(self, data, model, example: torch.Tensor | None) -> None:
        """The data is not empty and its samples (as the augmentation makes them) have the model's input shape."""
        if len(data if isinstance(data, torch.utils.data.Dataset) else _first_field(data)) == 0:
            raise ValueError("the training data is empty (0 samples)")
        expected = getattr(model, "input_shape", None)
        name = getattr(model, "name", type(model).__name__)
        if expected is None:
            return  # a model without a declared input shape (a prior over codes): its objective checks the fields
        if isinstance(data, torch.utils.data.IterableDataset):
            shape = tuple(data.sample_shape)
            if self.augment is None and shape != expected:
                raise ValueError(f"the stream's samples have shape {shape} but the {name!r} model expects "
                                 f"{expected}")
            return
        if isinstance(data, torch.utils.data.Dataset):
            first = data[0]                      # a Dataset yields inputs, (input, target) pairs or named fields
            first = first["input"] if isinstance(first, dict) else first[0] if isinstance(first, (tuple, list)) \
                else first
            if self.augment is None and tuple(first.shape) != expected:
                raise ValueError(f"training samples have shape {tuple(first.shape)} but the {name!r} model expects "
                                 f"{expected}")
            return
        if example is None or "input" not in data:
            return
        shape = tuple(example.shape)
        if shape != expected:
            made = " (as the augmentation makes them)" if self.augment is not None else ""
            raise ValueError(f"training samples{made} have shape {shape} but the {name!r} model expects {expected}")

    # ------------------------------------------------------------------ schedule and loss
    def _lr_factor(self, step: int, total_steps: int, elapsed: float) -> float:
        cfg = self.config
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        if cfg.max_time is not None:
            progress = max(progress, elapsed / cfg.max_time)
        progress = min(1.0, progress)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def _loss(self, model: nn.Module, batch: Batch) -> tuple[LossBreakdown, dict]:
        """The objective's loss breakdown, and everything to record: ``{"loss", <terms>, <model stats>}``."""
        lb = self.objective.loss(model, batch)
        return lb, {"loss": lb.total, **lb.terms, **lb.stats}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, data, *, info: DistInfo | None = None) -> dict[str, float]:
        """Mean loss terms over ``data`` with the model in eval mode (each process scores its share)."""
        info = info or DistInfo()
        device = next(self.model.parameters()).device
        fields = self._prepare(data, device)
        if isinstance(fields, torch.utils.data.Dataset):
            raise TypeError("evaluate takes in-memory data (arrays, a pair or a dict of named arrays), not a Dataset")

        def rows(start: int, stop: int) -> Batch:
            return as_batch({k: _as_tensor(v[start:stop], k).to(device) for k, v in fields.items()})

        was_training = self.model.training
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        bs = self.config.eval_batch_size
        n = len(_first_field(fields))
        if n and "input" in fields and getattr(self.model, "input_shape", None) == tuple(fields["input"].shape[1:]):
            bs = pass_rows(self.model, torch.zeros(self.model.input_shape, device=device), bs)   # a bounded peak
        for start in range(info.rank * bs, n, bs * info.world_size):
            batch = rows(start, start + bs)
            with self._autocast(device):
                _, logged = self._loss(self.model, batch)
            for k, v in logged.items():
                zero = torch.zeros((), dtype=torch.float64, device=device)
                sums[k] = sums.get(k, zero) + v.double() * batch.n_samples
            count += batch.n_samples
        if not sums and n:  # this process got no batch: the same keys, with zero sums, so the reduction lines up
            with self._autocast(device):
                _, logged = self._loss(self.model, rows(0, 1))
            sums = {k: torch.zeros((), dtype=torch.float64, device=device) for k in logged}
        self.model.train(was_training)
        keys = sorted(sums) if sums else ["loss"]
        packed = torch.stack([sums.get(k, torch.zeros((), dtype=torch.float64, device=device)) for k in keys]
                             + [torch.tensor(float(count), dtype=torch.float64, device=device)])
        packed = all_reduce_sum(packed, info)
        total = packed[-1].item()
        return {k: packed[i].item() / max(total, 1.0) for i, k in enumerate(keys)}

    def _autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def _timed_eval(self, run: _Run) -> dict[str, float]:
        """``evaluate`` on the validation data, adding its seconds to ``state["eval_time"]``."""
        t0 = time.perf_counter()
        result = self.evaluate(run.val, info=run.info)
        run.state["eval_time"] += time.perf_counter() - t0
        return result

    # ------------------------------------------------------------------ state and checkpoints
    @staticmethod
    def _initial_state(seed: int) -> dict:
        return {"epoch": 0, "step": 0, "history": [], "evaluations": [], "best_loss": None, "best_epoch": None,
                "best_state": None, "bad_epochs": 0, "elapsed": 0.0, "eval_time": 0.0, "finished": False,
                "stopped_early": False, "seed": seed, "step_in_epoch": 0, "partial_sums": {}, "partial_seen": 0}

    def _early_stop(self, state: dict, logs: dict, model: nn.Module) -> bool:
        cfg = self.config
        if "val_loss" not in logs:
            return False
        if state["best_loss"] is None or logs["val_loss"] < state["best_loss"] - cfg.min_delta:
            state["best_loss"], state["best_epoch"], state["bad_epochs"] = logs["val_loss"], logs["epoch"], 0
            state["best_state"] = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return False
        state["bad_epochs"] += 1
        if cfg.early_stopping is not None and state["bad_epochs"] >= cfg.early_stopping:
            state["stopped_early"] = True
            return True
        return False

    def _checkpoint(self, run: _Run) -> None:
        if self.config.checkpoint_dir and run.info.is_main:
            save_checkpoint(self.config.checkpoint_dir, {
                **run.state, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "rng": torch.get_rng_state(), "config": self.config.to_dict(), "objective": self.objective.name,
            })
        barrier(run.info)

    def _resume_state(self, state: dict, model: nn.Module, optimizer, info: DistInfo) -> dict:
        """Load the checkpoint in ``config.checkpoint_dir`` into model and optimizer; the state to go on from."""
        ckpt = load_checkpoint(self.config.checkpoint_dir)
        if ckpt is None:
            self._say(f"nothing to resume in {self.config.checkpoint_dir} (no checkpoint); training from the start",
                      info)
            return state
        self._check_resumable(ckpt, model)
        if _extends(ckpt, self.config.epochs):   # a run that used its whole budget, now given more epochs
            ckpt["finished"] = False
            self._say(f"extending the finished run in {self.config.checkpoint_dir} from epoch {ckpt['epoch']} to "
                      f"{self.config.epochs}", info)
        else:
            self._say(f"the run in {self.config.checkpoint_dir} already finished (epoch {ckpt['epoch']}); nothing "
                      "to resume, its final weights are used" if ckpt.get("finished") else
                      f"resuming from epoch {ckpt['epoch']} of {self.config.epochs} ({self.config.checkpoint_dir})",
                      info)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for param, slot in optimizer.state.items():  # moments in their weight's memory layout (channels-last
            slot.update({k: torch.empty_like(param).copy_(v) for k, v in slot.items()   # convolutions): the fused
                         if torch.is_tensor(v) and v.shape == param.shape})              # update reads both alike
        torch.set_rng_state(ckpt["rng"])
        return {k: ckpt.get(k, v) for k, v in state.items()}

    def _check_resumable(self, ckpt: dict, model: nn.Module) -> None:
        """The checkpoint was written by this run's options and model: else a TrainingError naming each change."""
        old = ckpt.get("config", {})
        new = self.config.to_dict()
        diff = [f"{k}: checkpoint {old.get(k)!r} vs now {new[k]!r}" for k in _RESUME_KEYS if old.get(k) != new[k]]
        if ckpt.get("objective", self.objective.name) != self.objective.name:
            diff.append(f"objective: checkpoint {ckpt.get('objective')!r} vs now {self.objective.name!r}")
        saved, current = ckpt["model"], model.state_dict()
        changed = [f"{k} {tuple(saved[k].shape)} -> {tuple(v.shape)}" for k, v in current.items()
                   if k in saved and tuple(saved[k].shape) != tuple(v.shape)]
        changed += [f"{k} only in the {where}" for k, where in
                    [*((k, "checkpoint") for k in saved.keys() - current.keys()),
                     *((k, "model") for k in current.keys() - saved.keys())]]
        if changed:
            diff.append(f"model layers: {'; '.join(sorted(changed)[:3])}" + (" ..." if len(changed) > 3 else "")
                        + " (a changed model size or type)")
        if diff:
            raise TrainingError(f"cannot resume from {self.config.checkpoint_dir}: the options differ ("
                                + "; ".join(diff) + "); use the same options or a new output folder")

    @staticmethod
    def _agree(flag: bool, info: DistInfo) -> bool:
        """True on every process as soon as one says so (keeps DDP processes in step)."""
        if not info.enabled:
            return flag
        return bool(all_reduce_sum(torch.tensor([float(flag)]), info).item() > 0)

    def _say(self, text: str, info: DistInfo) -> None:
        """A one-line notice on stderr, where the progress bar is (only when it is shown)."""
        if self.config.progress and info.is_main:
            print(text, file=sys.stderr)

    def _progress(self, total: int, done: int, info: DistInfo):
        if not self.config.progress or not info.is_main:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=done, desc="training", unit="step", dynamic_ncols=True)


def fit(model: nn.Module, train, val=None, *, config: TrainConfig | None = None, objective=None,
        resume: bool = False, augment: Augment | None = None, corruption: Corruption | None = None,
        callbacks: Sequence[Callable[[int, dict], None]] = ()) -> TrainResult:
    """Functional shortcut for ``Trainer(model, config, ...).fit(train, val, resume=resume)``."""
    return Trainer(model, config, objective=objective, augment=augment, corruption=corruption,
                   callbacks=callbacks).fit(train, val, resume=resume)


def _extends(ckpt: dict, epochs: int) -> bool:
    """A finished checkpoint that ended because it reached its epoch budget (not early stopping, a time limit
    or a callback) and is now resumed with more epochs: its training goes on from where it ended."""
    budget = ckpt.get("config", {}).get("epochs")
    return (bool(ckpt.get("finished")) and not ckpt.get("stopped_early") and budget is not None
            and ckpt["epoch"] >= budget and epochs > ckpt["epoch"])
