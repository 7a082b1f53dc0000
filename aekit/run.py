"""One training run end to end: data -> scaler -> model -> training -> model folder, metrics, report.

This is what ``aekit train`` does; the CLI only parses options into :class:`RunOptions`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from aekit.fileio import atomic_write_bytes
from aekit.metrics import mse, pca_baseline, psnr

if TYPE_CHECKING:
    from aekit.persistence import TrainedAutoencoder

CHECKPOINTS = "checkpoints"   # OUT/checkpoints/: the resume state (safetensors + JSON), apart from the model
EVAL_ROWS = 10_000            # a streamed run's validation and test parts hold at most this many rows each


@dataclass
class RunOptions:
    data: str                               # dataset name or path (folder of images, .npy/.npz, .csv)
    out: str                                # output folder
    model: str = "conv"                     # registered model name
    latent_dim: int = 32                    # code size
    model_params: dict = field(default_factory=dict)   # extra model arguments (channels, hidden, ...):
                                                       # --model-param, the TOML file's [model_params]
    train: dict = field(default_factory=dict)          # TrainConfig fields (epochs, lr, batch_size, ...) and
                                                       # "loss": the objective ("mse", "bce", ...; default "mse")
    data_dir: str | None = None             # where named datasets are looked for (else $AEKIT_DATA_DIR)
    image_size: int | None = None           # resize images to this size
    grayscale: bool | None = None           # force grey (True) or RGB (False) images
    scaler: str | None = None               # "none", "range", "minmax", "standard"; None: per data kind
    val_fraction: float = 0.1               # of the training data, for early stopping
    test_fraction: float = 0.2              # carved from the data when it has no test split
    limit: int | None = None                # use only the first N samples (quick runs)
    corruption: str | None = None           # training-time corruption (denoising), e.g. "gaussian:0.5"
    resume: bool = False                    # continue from the resume state in DIR/checkpoints/
    report: bool = True                     # write report.html
    verbose: bool = True                    # print the model summary and a result line


def prepare_data(opts: RunOptions):
    """Load and split the data, fit the scaler on the training split: (dataset, splits, scaler). The dataset's
    own arrays are let go once split (the splits are copies), so memory holds the data about once."""
    from aekit.data import Scaler, Split, load_dataset, train_val_test_split

    ds = load_dataset(opts.data, data_dir=opts.data_dir, image_size=opts.image_size, grayscale=opts.grayscale,
                      limit=opts.limit)
    train, val, test = train_val_test_split(ds, val_fraction=opts.val_fraction, test_fraction=opts.test_fraction,
                                            random_state=opts.train.get("random_state", 0) or 0)
    ds.train = Split(np.empty((0, *ds.train.X.shape[1:]), dtype=np.float32))
    scaler = Scaler(opts.scaler) if opts.scaler else Scaler.default_for(ds)
    scaler.fit(train.X, value_range=ds.value_range)
    return ds, (train, val, test), scaler


def prepare_stream(opts: RunOptions, stream):
    """:func:`prepare_data` for data streamed from disk (:func:`aekit.data.sources.open_stream`): the scaler
    fitted in one pass, validation and test parts of at most :data:`EVAL_ROWS` rows each, set aside as whole
    blocks of the file drawn at random. Returns (dataset, splits, scaler, the training rows as a stream, scaled
    and shuffled as they are read); the dataset's and the train split's ``X`` are an ``EVAL_ROWS`` sample of
    the training rows (raw), for the PCA baseline."""
    import math

    from aekit.data import Dataset, Split
    from aekit.data.sources import fit_scaler, model_layout

    seed = opts.train.get("random_state", 0) or 0
    layout, kind, _ = model_layout(stream, opts.data, image_size=opts.image_size, grayscale=opts.grayscale)
    n = len(stream)
    rest, test_blocks = stream.hold_out(min(math.ceil(opts.test_fraction * n), EVAL_ROWS), seed=seed)
    rest, val_blocks = rest.hold_out(min(math.ceil(opts.val_fraction * n), EVAL_ROWS), seed=seed + 1)
    raw = rest.with_transform(layout)
    scaler, value_range = fit_scaler(raw, layout, kind, opts.scaler)
    test = Split(raw.read(test_blocks)) if test_blocks else None
    val = Split(raw.read(val_blocks) if val_blocks else np.empty((0, *layout(stream.take([0])).shape[1:]),
                                                                   dtype=np.float32))
    train = Split(raw.sample(EVAL_ROWS, seed=seed))
    ds = Dataset(name=opts.data, kind=kind, train=train, test=None, value_range=value_range)
    scaled = rest.with_transform(lambda rows: scaler.transform(layout(rows), copy=False), shuffle=True)
    scaled.sample_shape = tuple(train.X.shape[1:])
    return ds, (train, val, test), scaler, scaled


def train_run(opts: RunOptions) -> dict:
    """Train, save and report; returns the metrics written to ``metrics.json``."""
    from aekit.corruption import make_corruption, to_spec
    from aekit.objectives import make_objective
    from aekit.persistence import TrainedAutoencoder, save_model
    from aekit.seeding import resolve_seeds
    from aekit.summary import model_summary
    from aekit.training import ModelSpec, TrainConfig, train_autoencoder
    from aekit.training.distributed import init_distributed

    out = Path(opts.out)
    corruption = make_corruption(opts.corruption)  # a bad spec fails before any work
    train_options = dict(opts.train)
    objective = make_objective(train_options.pop("loss", "mse"))
    config = TrainConfig.from_dict({**train_options, "checkpoint_dir": str(out / CHECKPOINTS)})
    seeds = resolve_seeds(config.random_state)
    from aekit.data.sources import open_stream

    stream = open_stream(opts.data, data_dir=opts.data_dir, limit=opts.limit)
    if stream is not None:   # larger than memory holds comfortably: trained on as it is read
        ds, (train, val, test), scaler, x_train = prepare_stream(opts, stream)
        x_pca = scaler.transform(train.X)
    else:   # scaled once, in place (the split is a copy): for training and for the PCA baseline below
        ds, (train, val, test), scaler = prepare_data(opts)
        x_train = x_pca = scaler.transform(train.X, copy=False)
    n_train = len(x_train)
    model = ModelSpec(opts.model, opts.latent_dim, opts.model_params).build(ds.sample_shape, seeds.init)
    info = init_distributed()
    summary = model_summary(model)
    if opts.verbose and info.is_main:
        print(summary, file=sys.stderr)
    t0 = time.perf_counter()
    fitted = train_autoencoder(x_train, model=model, config=config, seeds=seeds, objective=objective,
                               val=scaler.transform(val.X) if len(val.X) else None, corruption=corruption,
                               resume=opts.resume)
    result = fitted.result
    wall = time.perf_counter() - t0
    if not info.is_main:
        return {}

    trained = TrainedAutoencoder(model.cpu().eval(), scaler, metadata={
        "dataset": ds.name, "data_kind": ds.kind, "streamed": stream is not None,
        "run": _jsonable(dataclasses.asdict(opts)),
        "train_config": config.to_dict(), "corruption": to_spec(corruption) if corruption else None,
        "aekit_version": _version()})
    save_model(out, trained.model, scaler=scaler, metadata=trained.metadata)
    _write_json(out / "history.json", result.history)
    for name, stage in fitted.stages.items():  # the model's later stages (a VQ-VAE's prior): their own history
        _write_json(out / f"history_{name}.json", stage.history)

    eval_split = test if test is not None else val
    split_name = "test" if test is not None else "val"
    x_eval = scaler.transform(eval_split.X)
    recon = trained.reconstruct(eval_split.X, scaled=True)
    metrics = {
        f"{split_name}_mse": mse(x_eval, recon),
        f"{split_name}_psnr": psnr(np.clip(x_eval, 0, 1), np.clip(recon, 0, 1, out=recon))   # in place: shown clipped
        if ds.kind == "image" else None,
        "train_time_s": result.elapsed, "wall_time_s": wall, "epochs": len(result.history),
        "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
        "n_train": n_train, "n_val": len(val.X), f"n_{split_name}": len(eval_split.X),
        "collapse": {k: v for k, v in result.diagnostics.items() if k != "warnings"},
        "warnings": result.diagnostics.get("warnings", []),
    }
    metrics = {k: v for k, v in metrics.items() if v is not None}
    figures: dict[str, bytes] = {}
    if corruption is not None:
        metrics.update(_denoising(trained, x_eval, corruption, figures if opts.report and ds.kind == "image" else None,
                                  split_name))
    clip = (0.0, 1.0) if ds.kind == "image" else None
    pca = pca_baseline(x_pca, x_eval, opts.latent_dim, clip=clip)
    metrics[f"pca_{split_name}_mse"] = pca["test_mse"]
    if objective.name == "ordered-mse":   # the error from each prefix of the code, beside PCA's
        from aekit.ordered import prefix_curve

        metrics[f"{split_name}_ordered_curve"] = prefix_curve(trained.model, x_pca, x_eval)
    _write_json(out / "metrics.json", metrics)

    if opts.report:
        from aekit.report import write_report

        n_show = min(len(x_eval), 2000)
        codes = trained.encode(eval_split.X[:n_show])
        codes = codes.reshape(len(codes), -1)  # grids (VQ-VAE, U-Net) are mapped as flat vectors
        if ds.kind == "image":
            figures.update(_generation_figures(trained.model, x_eval))
        if objective.name == "ordered-mse":
            figures.update(_ordered_figures(trained.model, metrics[f"{split_name}_ordered_curve"], x_eval))
        rows = [{"method": f"aekit {opts.model}", "code_size": opts.latent_dim,
                 "test_mse": metrics[f"{split_name}_mse"], "fit_time_s": result.elapsed},
                {"method": "PCA", "code_size": pca["code_size"], "test_mse": pca["test_mse"],
                 "fit_time_s": pca["fit_time"]}]
        if clip is not None:
            rows.append({"method": "PCA, clipped to [0, 1]", "code_size": pca["code_size"],
                         "test_mse": pca["test_mse_clipped"], "fit_time_s": pca["fit_time"]})
        write_report(out / "report.html", title=f"aekit {opts.model} on {ds.name}",
                     summary={"dataset": ds.name, "samples (train/val/" + split_name + ")":
                              f"{n_train}/{len(val.X)}/{len(eval_split.X)}",
                              "sample shape": str(ds.sample_shape), "model": opts.model,
                              "latent dim": opts.latent_dim, "epochs run": len(result.history),
                              "training time (s)": round(result.elapsed, 1), "scaler": scaler.method,
                              "evaluated on": f"{split_name} split"},
                     metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k not in {
                         # shown by the summary (epochs, time, sample counts) or the baselines table (PCA)
                         "epochs", "train_time_s", "n_train", "n_val", f"n_{split_name}", f"pca_{split_name}_mse"}},
                     baselines=rows, history=result.history,
                     originals=x_eval[:10], reconstructions=recon[:10], codes=codes,
                     labels=None if eval_split.y is None else eval_split.y[:n_show],
                     extra_figures=figures, model_summary=summary)
    if opts.verbose:
        print(f"{split_name} MSE {metrics[f'{split_name}_mse']:.5f} (PCA-{pca['code_size']}: {pca['test_mse']:.5f}); "
              f"model and report in {out}", file=sys.stderr)
    return metrics


def _denoising(trained: TrainedAutoencoder, x_eval: np.ndarray, corruption, figures: dict | None,
               split_name: str) -> dict:
    """PSNR of corrupted inputs and of the model's restorations against the clean ones (scaled units)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    noisy = corruption(torch.from_numpy(x_eval[:2000]), gen).numpy()
    clean = np.clip(x_eval[:2000], 0, 1)
    restored = np.clip(trained.reconstruct(noisy, scaled=True, inputs_scaled=True), 0, 1)
    if figures is not None:
        from aekit.report import image_rows

        figures["Denoising: corrupted input, restoration, clean"] = image_rows(
            {"corrupted": noisy[:10], "restored": restored[:10], "clean": clean[:10]})
    return {f"{split_name}_corrupted_psnr": psnr(clean, np.clip(noisy, 0, 1)),
            f"{split_name}_restored_psnr": psnr(clean, restored)}


def _ordered_figures(model, curve: dict, x_eval: np.ndarray) -> dict[str, bytes]:
    """An ordered code's error against its size beside PCA's, and a traversal of each leading unit."""
    from aekit.ordered import traversals
    from aekit.report.ordered import prefix_curve_figure, traversal_figure

    figures = {"Ordered code: reconstruction error and variance explained by the first k units, beside PCA":
               prefix_curve_figure(curve)}
    rows = traversal_figure(traversals(model, x_eval[:2000]))
    if rows is not None:
        figures["Ordered code: what each leading unit adds"] = rows
    return figures


def _generation_figures(model, x_eval: np.ndarray) -> dict[str, bytes]:
    """Samples and interpolations for the models that can generate (duck-typed: ``sample`` /
    ``interpolate`` methods), drawn with a fixed generator so reports are reproducible."""
    import torch

    from aekit.report import bar_chart, image_rows

    with torch.no_grad():
        figures = {}
        model.eval()
        gen = torch.Generator().manual_seed(0)
        if callable(getattr(model, "sample", None)):
            try:
                samples = model.sample(20, generator=gen).float().cpu().numpy()
            except (RuntimeError, ValueError):  # e.g. a VQ-VAE whose prior was not fitted
                samples = None
            if samples is not None:
                figures["Samples from the prior"] = image_rows({"samples": samples[:10], "more": samples[10:20]})
        if callable(getattr(model, "encode_indices", None)):  # a codebook: how evenly are its entries used?
            idx = torch.cat([model.encode_indices(torch.from_numpy(x_eval[i:i + 1000]))
                             for i in range(0, len(x_eval), 1000)])
            usage = torch.bincount(idx.flatten(), minlength=model.config["codebook_size"]).numpy()
            figures["Codebook usage on held-out data"] = bar_chart(
                np.sort(usage)[::-1], title=f"{int((usage > 0).sum())} of {len(usage)} codes used",
                xlabel="code (sorted by use)", ylabel="count")
        if callable(getattr(model, "interpolate", None)) and len(x_eval) >= 4:
            x = torch.from_numpy(x_eval[:4])
            rows = {f"{a} -> {b}": model.interpolate(x[a:a + 1], x[b:b + 1], steps=10).float().cpu().numpy()
                    for a, b in ((0, 1), (2, 3))}
            figures["Interpolation in latent space"] = image_rows(rows)
        return figures


def _version() -> str:
    from aekit.version import __version__
    return __version__


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)).encode()
    atomic_write_bytes(path, lambda f: f.write(text))


def load_eval_split(trained: TrainedAutoencoder, data: str | None, *, data_dir: str | None = None,
                    split: str = "test", limit: int | None = None):
    """The split a saved model should be judged on: the same split options it was trained with."""
    run = dict(trained.metadata.get("run", {}))
    if data is not None and data != run.get("data"):
        run["data"] = data
    if "data" not in run:
        raise ValueError("this model folder does not record its data; pass --data")
    opts = RunOptions(**{k: v for k, v in run.items() if k in {f.name for f in dataclasses.fields(RunOptions)}})
    opts.data_dir = data_dir or opts.data_dir or os.environ.get("AEKIT_DATA_DIR")
    opts.limit = limit if limit is not None else opts.limit
    opts.scaler = trained.scaler.method if trained.scaler is not None else "none"
    ds, (train, val, test), _ = prepare_data(opts)
    chosen = {"train": train, "val": val, "test": test if test is not None else val}
    if split not in chosen:
        raise ValueError(f"split={split!r}; expected one of {sorted(chosen)}")
    return ds, chosen[split]
