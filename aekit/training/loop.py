"""The training loop: fast in-memory batches, Adam(W) with a schedule, early stopping, atomic
checkpoints with exact resume, divergence errors, collapse diagnostics and DDP under torchrun."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from aekit.losses import SEGMENTATION_LOSSES, LossBreakdown, segmentation_loss, total_loss
from aekit.models.base import Autoencoder
from aekit.training.checkpoint import load_checkpoint, save_checkpoint
from aekit.training.config import TrainConfig
from aekit.training.diagnostics import check_collapse
from aekit.training.distributed import DistInfo, all_reduce_sum, barrier, init_distributed

# Arrays or (inputs, targets) pairs; targets default to the inputs.
Data = "np.ndarray | torch.Tensor | tuple | torch.utils.data.Dataset"
Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# options that must match between a checkpoint and the run that resumes it
_RESUME_KEYS = ("batch_size", "lr", "optimizer", "weight_decay", "schedule", "warmup_steps", "min_lr_ratio",
                "loss", "random_state", "grad_clip", "precision")


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
    elapsed: float                           # seconds of training, summed over resumed segments
    steps: int
    diagnostics: dict = field(default_factory=dict)  # collapse checks, see training/diagnostics.py


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


def _pair(data) -> tuple:
    """(inputs, targets) where targets may be None (= inputs)."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data given as a tuple must be (inputs, targets), got {len(data)} items")
        return data
    return data, None


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.float()
    arr = np.asarray(x, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr))


class _ArrayDataset(torch.utils.data.Dataset):
    """Samples of arrays too big to copy (e.g. ``np.memmap``), converted one at a time."""

    def __init__(self, x, y=None):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        xi = torch.from_numpy(np.array(self.x[i], dtype=np.float32))
        return xi, (xi if self.y is None else torch.from_numpy(np.array(self.y[i], dtype=np.float32)))


class Trainer:
    """Fit an :class:`~aekit.models.Autoencoder` to data.

    ``corruption(x, generator) -> x_tilde`` (optional) corrupts the inputs of every training batch; the
    targets stay clean (denoising autoencoders). ``callbacks`` are called as ``cb(epoch, logs)`` after
    each epoch, once the checkpoint is written, and after every validation that ``val_every_steps``
    asks for (``logs`` then has a ``"step"`` key); one that returns ``True`` ends training there.
    """

    def __init__(self, model: Autoencoder, config: TrainConfig | None = None, *,
                 corruption: Corruption | None = None, callbacks: Sequence[Callable[[int, dict], None]] = ()):
        self.model = model
        self.config = config or TrainConfig()
        self.corruption = corruption
        self.callbacks = list(callbacks)
        self.segmentation = self.config.loss in SEGMENTATION_LOSSES
        if self.segmentation and getattr(model, "num_classes", 0) < 2:
            raise ValueError(f"loss={self.config.loss!r} needs a segmentation model with num_classes >= 2, e.g. "
                             f"create_model('unet', ..., num_classes=K); got a {model.name!r} model")
        if self.config.loss == "bce" and model.output_activation != "sigmoid":
            raise ValueError(
                f"loss='bce' needs a model with output_activation='sigmoid' (outputs in [0, 1]); "
                f"this {model.name!r} model has output_activation={model.output_activation!r}"
            )

    # ------------------------------------------------------------------ batches
    def _in_memory(self, x) -> bool:
        if self.config.in_memory is not None:
            return self.config.in_memory
        return not isinstance(x, (np.memmap, torch.utils.data.Dataset))

    def _batches(self, data, epoch: int, info: DistInfo, device: torch.device):
        """Yield (inputs, targets) for one epoch, shuffled by a generator seeded with (seed, epoch), so a
        resumed run draws exactly the batches the uninterrupted one would have drawn."""
        cfg = self.config
        seed = cfg.random_state if cfg.random_state is not None else torch.seed() % (2**31)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        x, y = data
        if isinstance(x, torch.utils.data.Dataset) or not self._in_memory(x):
            ds = x if isinstance(x, torch.utils.data.Dataset) else _ArrayDataset(x, y)
            order = torch.randperm(len(ds), generator=gen)
            sampler = order[info.rank::info.world_size].tolist()
            loader = torch.utils.data.DataLoader(ds, batch_size=max(1, cfg.batch_size // info.world_size),
                                                 sampler=sampler, num_workers=cfg.num_workers)
            for xb, yb in loader:
                yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            return
        n = len(x)
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size][info.rank::info.world_size]  # this process's share
            xb = x.index_select(0, idx.to(x.device))
            yield xb, (xb if y is None else y.index_select(0, idx.to(y.device)))

    def _prepare(self, data, device):
        x, y = _pair(data)
        if isinstance(x, torch.utils.data.Dataset) or not self._in_memory(x):
            return x, y
        x = _as_tensor(x).to(device)
        y = None if y is None else _as_tensor(y).to(device)
        if y is not None and y.shape[0] != x.shape[0]:
            raise ValueError(f"inputs have {x.shape[0]} samples but targets have {y.shape[0]}")
        return x, y

    # ------------------------------------------------------------------ schedule
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

    def _loss(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> tuple[LossBreakdown, dict]:
        """The loss breakdown, and everything to record: ``{"loss", <terms>, <model stats>}``."""
        out = model(xb)
        if self.segmentation:  # yb holds class maps; pre_output holds (B, K, H, W) logits
            seg = segmentation_loss(out.pre_output, yb, self.config.loss)
            lb = LossBreakdown(sum(out.regularizers.values(), seg.total), {**seg.terms, **out.regularizers})
            return lb, {"loss": lb.total, **lb.terms, **out.stats}
        logits = out.pre_output if self.model.output_activation == "sigmoid" else None
        lb = total_loss(out.recon, yb, out.regularizers, self.config.loss, logits=logits)
        return lb, {"loss": lb.total, **lb.terms, **out.stats}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, data, *, info: DistInfo | None = None) -> dict[str, float]:
        """Mean loss terms over ``data`` with the model in eval mode (each process scores its share)."""
        info = info or DistInfo()
        device = next(self.model.parameters()).device
        x, y = self._prepare(data, device)
        was_training = self.model.training
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        bs = self.config.eval_batch_size
        n = len(x)
        for start in range(info.rank * bs, n, bs * info.world_size):
            xb = torch.as_tensor(x[start:start + bs], dtype=torch.float32, device=device)
            yb = xb if y is None else torch.as_tensor(y[start:start + bs], dtype=torch.float32, device=device)
            with self._autocast(device):
                _, logged = self._loss(self.model, xb, yb)
            for k, v in logged.items():
                sums[k] = sums.get(k, torch.zeros((), dtype=torch.float64, device=device)) + v.double() * len(xb)
            count += len(xb)
        self.model.train(was_training)
        keys = sorted(sums) if sums else ["loss", "recon"]
        packed = torch.stack([sums.get(k, torch.zeros((), dtype=torch.float64, device=device)) for k in keys]
                             + [torch.tensor(float(count), dtype=torch.float64, device=device)])
        packed = all_reduce_sum(packed, info)
        total = packed[-1].item()
        return {k: packed[i].item() / max(total, 1.0) for i, k in enumerate(keys)}

    def _autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    # ------------------------------------------------------------------ fit
    def fit(self, train, val=None, *, resume: bool = False) -> TrainResult:
        """Train on ``train`` (array or (inputs, targets)); early stopping watches ``val`` when given.

        ``resume=True`` continues from ``config.checkpoint_dir/checkpoint.pt`` when it exists and ends
        with the same weights as an uninterrupted run (without ``max_time``, which depends on the clock).
        """
        cfg = self.config
        device = resolve_device(cfg.device)
        info = init_distributed(device if device.type == "cuda" else None)
        if info.enabled and device.type == "cuda":
            device = torch.device("cuda", info.local_rank)
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        model = self.model.to(device)
        channels_last = len(model.input_shape) == 3  # faster convolutions (oneDNN / cuDNN) for images
        if channels_last:
            model.to(memory_format=torch.channels_last)
        train_data = self._prepare(train, device)
        val_data = self._prepare(val, device) if val is not None else None
        n_train = len(train_data[0])
        if n_train == 0:
            raise ValueError("the training data is empty (0 samples)")
        first = train_data[0][0]
        if isinstance(train_data[0], torch.utils.data.Dataset) and isinstance(first, (tuple, list)):
            first = first[0]  # a Dataset yields (input, target) pairs
        shape = tuple(first.shape)
        if shape != model.input_shape:
            raise ValueError(f"training samples have shape {shape} but the {model.name!r} model expects "
                             f"{model.input_shape}")

        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = opt_cls([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,  # frozen layers stay put
                            weight_decay=cfg.weight_decay)
        steps_per_epoch = math.ceil(n_train / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs

        state = self._initial_state()
        if resume and cfg.checkpoint_dir:
            ckpt = load_checkpoint(cfg.checkpoint_dir)
            if ckpt is not None:
                self._check_resumable(ckpt)
                model.load_state_dict(ckpt["model"])
                optimizer.load_state_dict(ckpt["optimizer"])
                torch.set_rng_state(ckpt["rng"])
                state = {k: ckpt.get(k, v) for k, v in state.items()}
        ddp_model: nn.Module = model
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel
            ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

        start_time = time.perf_counter() - state["elapsed"]
        stop = state["finished"]
        bar = self._progress(total_steps, state["step"], info)
        while not stop and state["epoch"] < cfg.epochs:
            epoch = state["epoch"] + 1
            model.train()
            sums: dict[str, float] = {}
            seen = 0
            out_of_time = cut_short = False
            for step_in_epoch, (xb, yb) in enumerate(self._batches(train_data, epoch, info, device), start=1):
                elapsed = time.perf_counter() - start_time
                lr = cfg.lr * self._lr_factor(state["step"], total_steps, elapsed)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                model.set_training_progress(state["step"], total_steps)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                inputs = xb if self.corruption is None else self.corruption(xb, self._corruption_gen(epoch, step_in_epoch))
                with self._autocast(device):
                    lb, logged = self._loss(ddp_model, inputs, yb)
                if not torch.isfinite(lb.total):
                    raise TrainingError(
                        f"the loss became {lb.total.detach().item()} at epoch {epoch}, step {step_in_epoch} "
                        f"(global step {state['step'] + 1}); terms: "
                        f"{ {k: round(float(v.detach()), 6) for k, v in lb.terms.items()} }. Lower the learning rate "
                        f"(lr={cfg.lr}), set grad_clip, or check the data for extreme values")
                optimizer.zero_grad(set_to_none=True)
                lb.total.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                state["step"] += 1
                b = len(xb)
                for k, v in logged.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
                seen += b
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{float(lb.total.detach()):.4g}", refresh=False)
                if cfg.max_time is not None and self._agree(time.perf_counter() - start_time >= cfg.max_time, info):
                    out_of_time = True
                    break
                if cfg.val_every_steps and val_data is not None and state["step"] % cfg.val_every_steps == 0:
                    probe = {"epoch": epoch, "step": state["step"],
                             **{f"val_{k}": v for k, v in self._timed_eval(val_data, info, state).items()},
                             "time": time.perf_counter() - start_time, "eval_time": state["eval_time"]}
                    state["evaluations"].append(probe)
                    if any([cb(epoch, probe) is True for cb in self.callbacks]):
                        cut_short = True
                        break
            logs = {"epoch": epoch, **{f"train_{k}": v / max(seen, 1) for k, v in sums.items()}, "lr": lr}
            if val_data is not None:
                logs.update({f"val_{k}": v for k, v in self._timed_eval(val_data, info, state).items()})
            logs["time"] = time.perf_counter() - start_time
            logs["eval_time"] = state["eval_time"]
            state["history"].append(logs)
            state["epoch"] = epoch
            stop = out_of_time or cut_short or self._early_stop(state, logs, model)
            state["finished"] = stop or epoch >= cfg.epochs
            state["elapsed"] = time.perf_counter() - start_time
            self._save(state, model, optimizer, info)
            if bar is not None and "val_loss" in logs:
                bar.set_postfix(epoch=epoch, val_loss=f"{logs['val_loss']:.4g}")
            if not cut_short and any([cb(epoch, logs) is True for cb in self.callbacks]):
                stop = state["finished"] = True
                self._save(state, model, optimizer, info)  # a resumed run must not go on
        if bar is not None:
            bar.close()

        if cfg.restore_best and state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        if channels_last:  # back to the default layout, so the trained model computes exactly as a reloaded one
            model.to(memory_format=torch.contiguous_format)
        if not isinstance(train_data[0], torch.utils.data.Dataset):
            model.after_fit(train_data[0])
        model.eval()
        diagnostics = {}
        check = val_data if val_data is not None else train_data
        if not isinstance(check[0], torch.utils.data.Dataset) and not self.segmentation:
            diagnostics = check_collapse(model, check[0][:1024])
        return TrainResult(
            history=state["history"], evaluations=state["evaluations"], best_epoch=state["best_epoch"], best_val_loss=state["best_loss"],
            stopped_early=state["stopped_early"], elapsed=state["elapsed"], steps=state["step"],
            diagnostics=diagnostics,
        )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _initial_state() -> dict:
        return {"epoch": 0, "step": 0, "history": [], "evaluations": [], "best_loss": None, "best_epoch": None, "best_state": None,
                "bad_epochs": 0, "elapsed": 0.0, "eval_time": 0.0, "finished": False, "stopped_early": False}

    def _timed_eval(self, data, info: DistInfo, state: dict) -> dict[str, float]:
        """``evaluate``, adding its seconds to ``state["eval_time"]`` (so training time can exclude it)."""
        t0 = time.perf_counter()
        result = self.evaluate(data, info=info)
        state["eval_time"] += time.perf_counter() - t0
        return result

    def _corruption_gen(self, epoch: int, step: int) -> torch.Generator:
        seed = self.config.random_state or 0
        return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 100_003 + step)

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

    def _save(self, state: dict, model: nn.Module, optimizer, info: DistInfo) -> None:
        if self.config.checkpoint_dir and info.is_main:
            save_checkpoint(self.config.checkpoint_dir, {
                **state, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(), "config": self.config.to_dict(),
            })
        barrier(info)

    def _check_resumable(self, ckpt: dict) -> None:
        old = ckpt.get("config", {})
        new = self.config.to_dict()
        diff = [f"{k}: checkpoint {old.get(k)!r} vs now {new[k]!r}" for k in _RESUME_KEYS if old.get(k) != new[k]]
        if diff:
            raise TrainingError(f"cannot resume from {self.config.checkpoint_dir}: the options differ ("
                                + "; ".join(diff) + "); use the same options or a new output folder")

    @staticmethod
    def _agree(flag: bool, info: DistInfo) -> bool:
        """True on every process as soon as one says so (keeps DDP processes in step)."""
        if not info.enabled:
            return flag
        return bool(all_reduce_sum(torch.tensor([float(flag)]), info).item() > 0)

    def _progress(self, total: int, done: int, info: DistInfo):
        if not self.config.progress or not info.is_main:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=done, desc="training", unit="step", dynamic_ncols=True)


def fit(model: Autoencoder, train, val=None, *, config: TrainConfig | None = None, resume: bool = False,
        corruption: Corruption | None = None, callbacks: Sequence[Callable[[int, dict], None]] = ()) -> TrainResult:
    """Functional shortcut for ``Trainer(model, config, ...).fit(train, val, resume=resume)``."""
    return Trainer(model, config, corruption=corruption, callbacks=callbacks).fit(train, val, resume=resume)
