"""The ``aekit`` command line: one entry point, sub-commands, TOML config files whose values flags override.

    aekit train --data digits --model conv --latent-dim 8 --epochs 30 --out runs/digits
    aekit evaluate --model runs/digits
    aekit encode --model runs/digits --data digits --out codes.npy
    aekit reconstruct --model runs/digits --data digits --out recon.npy
    aekit export-onnx --model runs/digits --out model.onnx
    aekit list-models
    aekit list-estimators

Every command follows one grammar (flags, fit-then-apply, ground truth): see :mod:`aekit.cli.grammar`.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

from aekit.cli.common import CLIError, add_output_folder, output_folder, parse_param, save_npy
from aekit.cli.grammar import add_log_flag, deprecated
from aekit.fileio import atomic_write_bytes
from aekit.version import __version__

# flag -> TrainConfig field
_TRAIN_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "max_time": "max_time",
                "seed": "random_state", "device": "device", "loss": "loss", "early_stopping": "early_stopping",
                "weight_decay": "weight_decay", "optimizer": "optimizer", "schedule": "schedule",
                "precision": "precision"}
_RUN_KEYS = {"data", "out", "model", "latent_dim", "data_dir", "image_size", "grayscale", "scaler",
             "val_fraction", "test_fraction", "limit", "resume", "corruption", "report"}


# modules under aekit/cli/ that add task sub-commands: add_parser(sub) sets defaults(handler=fn(args) -> int)
TASK_COMMANDS = ("fit", "sample", "codec", "restore", "detect", "series", "cluster", "serve", "apply", "video")


def _read_toml(path: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"config file {path} does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"config file {path} is not valid TOML: {exc}") from None


def build_run_options(args: argparse.Namespace):
    """Merge defaults < config file < flags into :class:`aekit.run.RunOptions`."""
    from aekit.run import RunOptions

    cfg = _read_toml(args.config) if args.config else {}
    cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
    train = dict(cfg.pop("train", {}))
    model_params = dict(cfg.pop("model_params", {}))
    for flag, fieldname in _TRAIN_FLAGS.items():
        if flag in cfg:
            train[fieldname] = cfg.pop(flag)
    unknown = sorted(set(cfg) - _RUN_KEYS)
    if unknown:
        raise CLIError(f"config file {args.config}: unknown key(s) {unknown}; known: "
                       f"{sorted(_RUN_KEYS | set(_TRAIN_FLAGS) | {'train', 'model_params'})}")
    _apply_params(args.param or [], cfg, train, model_params)
    for key in _RUN_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    for flag, fieldname in _TRAIN_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            train[fieldname] = value
    if args.quiet:
        train["progress"] = False
    for text in args.model_param or []:
        key, value = parse_param(text, "--model-param")
        model_params[key] = value
    for required in ("data", "out"):
        if required not in cfg:
            raise CLIError(f"train needs --{required} (or '{required}' in the config file)")
    return RunOptions(**cfg, model_params=model_params, train=train, verbose=not args.quiet)


def _apply_params(texts: list[str], cfg: dict, train: dict, model_params: dict) -> None:
    """``aekit train --param KEY=VALUE``: a run option, any key its TOML file takes (``epochs``, ``lr``,
    ``limit``, ...); a key that is none of them is a model argument, the meaning --param had in train before
    --model-param (kept for one release, with a warning)."""
    from aekit.training.config import TrainConfig

    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for text in texts:
        key, value = parse_param(text)
        if key in _TRAIN_FLAGS:
            train[_TRAIN_FLAGS[key]] = value
        elif key in train_fields:
            train[key] = value
        elif key in _RUN_KEYS:
            cfg[key] = value
        else:
            deprecated(f"--param {key}=... for a model argument in aekit train",
                       f"--model-param {key}=... (--param sets run options, as in the TOML file)")
            model_params[key] = value


def _add_data_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--data", required=required, help="dataset name (digits, mnist, fashion-mnist, cifar10) or a "
                   "path: folder of images, .npy, .npz, .csv")
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR, then download to cache)")


def _defaults() -> dict:
    """Default of every ``aekit train`` option, read from RunOptions and TrainConfig (no torch import)."""
    from aekit.run import RunOptions
    from aekit.training.config import TrainConfig

    fields = [*dataclasses.fields(TrainConfig), *dataclasses.fields(RunOptions)]
    return {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


def _add_train_parser(sub) -> None:
    d = _defaults()

    def help(text: str, key: str | None = None) -> str:
        return f"{text} (default: {d[key]})" if key else text

    p = sub.add_parser("train", help="train an autoencoder; writes model, history, metrics and report.html")
    _add_data_args(p)
    p.add_argument("--config", help="TOML file with the same keys as the flags (flags win)")
    p.add_argument("--model", help=help("registered model name (see aekit list-models)", "model"))
    p.add_argument("--latent-dim", type=int, help=help("code size", "latent_dim"))
    add_output_folder(p, "output folder: model, history, metrics and report.html", resume=True, required=False)
    p.add_argument("--epochs", type=int, help=help("passes over the training data", "epochs"))
    p.add_argument("--batch-size", type=int, help=help("samples per optimization step", "batch_size"))
    p.add_argument("--lr", type=float, help=help("peak learning rate", "lr"))
    p.add_argument("--weight-decay", type=float, help=help("weight decay", "weight_decay"))
    p.add_argument("--optimizer", choices=["adam", "adamw"], help=help("optimizer", "optimizer"))
    p.add_argument("--schedule", choices=["cosine", "constant"], help=help("learning-rate schedule", "schedule"))
    p.add_argument("--loss", choices=["mse", "bce", "ordered-mse"],
                   help="reconstruction loss (default: mse; ordered-mse: an ordered code, read by its first k units)")
    p.add_argument("--max-time", type=float, help=help("wall-clock budget in seconds", "max_time"))
    p.add_argument("--early-stopping", type=int,
                   help=help("stop after this many epochs without validation improvement", "early_stopping"))
    p.add_argument("--precision", choices=["32", "bf16"], help=help("float precision of training", "precision"))
    p.add_argument("--seed", type=int, help=help("random_state: initialization, split, shuffling", "random_state"))
    p.add_argument("--device", help=help("auto, cpu, cuda, cuda:1 ...", "device"))
    p.add_argument("--image-size", type=int, help=help("resize images to this size", "image_size"))
    p.add_argument("--grayscale", action="store_true", default=None, help="convert images to gray (default: keep)")
    p.add_argument("--scaler", choices=["none", "range", "minmax", "standard"],
                   help="input scaling (default: range for images, standard for tables)")
    p.add_argument("--val-fraction", type=float, help=help("validation share of the training data", "val_fraction"))
    p.add_argument("--test-fraction", type=float,
                   help=help("test share carved from data without a test split", "test_fraction"))
    p.add_argument("--limit", type=int, help=help("use only the first N samples", "limit"))
    p.add_argument("--model-param", action="append", metavar="KEY=VALUE", help="model argument, JSON value: "
                   "--model-param channels=[16,32] --model-param activation=relu (default: the model's)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="run option, JSON value, any key of the "
                   "--config file: --param lr=0.001 (flags win)")
    p.add_argument("--corruption", metavar="SPEC", help="corrupt training inputs, targets stay clean (denoising): "
                   "gaussian:0.5, salt_pepper:0.2, mask:0.5, block:8,n=3, watermark:text, watermark:marks,alpha=0.6"
                   " (default: none)")
    add_log_flag(p)
    p.set_defaults(handler=run_train)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aekit", description="Autoencoders for every job.")
    parser.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)

    for name, helptext in (("evaluate", "test MSE/PSNR of a trained model (prints JSON)"),
                           ("encode", "write the codes of the data to a .npy file"),
                           ("reconstruct", "write reconstructions to a .npy file")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--model", required=True, help="model folder written by aekit train")
        _add_data_args(p)
        p.add_argument("--split", default=None, choices=["train", "val", "test", "all"],
                       help="which part of the data (default: test for evaluate, all otherwise)")
        p.add_argument("--limit", type=int, help="use only the first N samples")
        if name != "evaluate":
            p.add_argument("--out", required=True, help="output .npy file")
        else:
            p.add_argument("--out", help="also write the metrics to this JSON file")

    p = sub.add_parser("export-onnx", help="export a trained model to ONNX (checks parity with onnxruntime)")
    p.add_argument("--model", required=True, help="model folder written by aekit train")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default: 18)")

    sub.add_parser("list-models", help="names of the registered models (aekit train --model NAME)")
    sub.add_parser("list-estimators", help="names of the registered estimators (aekit fit NAME)")
    for module in TASK_COMMANDS:  # each task command lives in its own module: aekit/cli/<module>.py
        importlib.import_module(f"aekit.cli.{module}").add_parser(sub)
    for p in sub.choices.values():  # every command can be made silent
        if "--quiet" not in p._option_string_actions:
            p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return parser


def _select(args, trained):
    from aekit.data import load_dataset
    from aekit.run import load_eval_split

    split = args.split or ("test" if args.command == "evaluate" else "all")
    if split == "all":
        data = args.data or trained.metadata.get("run", {}).get("data")
        if data is None:
            raise CLIError("pass --data: this model folder does not record its data")
        run = trained.metadata.get("run", {})
        ds = load_dataset(data, data_dir=args.data_dir or run.get("data_dir"), image_size=run.get("image_size"),
                          grayscale=run.get("grayscale"), limit=args.limit)
        X = ds.train.X if ds.test is None else np.concatenate([ds.train.X, ds.test.X])
        return ds, X
    ds, part = load_eval_split(trained, args.data, data_dir=args.data_dir, split=split, limit=args.limit)
    return ds, part.X


def _write_streamed(args, trained) -> bool:
    """``encode`` / ``reconstruct`` of all of data too large to hold comfortably
    (:func:`aekit.data.sources.open_stream`): read and written a piece at a time. False when not streamed."""
    from aekit.data.sources import model_layout, open_stream, write_rows

    run = trained.metadata.get("run", {})
    data = args.data or run.get("data")
    if (args.split or "all") != "all" or data is None:
        return False
    stream = open_stream(data, data_dir=args.data_dir or run.get("data_dir"), limit=args.limit)
    if stream is None:
        return False
    if not args.out.endswith(".npy"):
        raise CLIError(f"--out {args.out}: expected a .npy file name")
    layout = model_layout(stream, data, image_size=run.get("image_size"), grayscale=run.get("grayscale"))[0]
    fn = trained.encode if args.command == "encode" else trained.reconstruct
    shape = write_rows(args.out, stream, lambda rows: fn(layout(rows)))
    print(f"wrote {shape} to {args.out} (streamed: {len(stream)} rows read a piece at a time)", file=sys.stderr)
    return True


def run_train(args: argparse.Namespace) -> int:
    from aekit.run import train_run

    opts = build_run_options(args)
    with output_folder(opts.out, overwrite=args.overwrite, resume=bool(opts.resume)) as out:
        opts.out = str(out)
        metrics = train_run(opts)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # launched by torchrun
        dist.destroy_process_group()
    if metrics:
        print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, indent=2))
    return 0


def run_command(args: argparse.Namespace) -> int:
    if getattr(args, "handler", None) is not None:
        return args.handler(args)
    if args.command == "list-models":
        from aekit.models import list_models

        print("\n".join(list_models()))
        return 0
    if args.command == "list-estimators":
        from aekit.estimators import list_estimators

        print("\n".join(list_estimators()))
        return 0
    if args.command == "evaluate" and args.out and Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; expected a JSON file name such as metrics.json")
    from aekit.persistence import export_onnx, read_model as load  # the autoencoder of any folder

    trained = load(args.model)
    if args.command == "export-onnx":
        path = export_onnx(trained, args.out, opset=args.opset)
        x = np.random.default_rng(0).random((4, *trained.model.input_shape), dtype=np.float32)
        try:
            import onnxruntime as ort
        except ImportError:
            print(f"wrote {path} (install aekit[onnx] to check it against PyTorch)", file=sys.stderr)
            return 0
        import torch

        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        with torch.no_grad():
            want = trained.model(torch.from_numpy(x)).recon.numpy()
        print(f"wrote {path}; max |onnxruntime - torch| = {np.abs(got - want).max():.2e}", file=sys.stderr)
        return 0
    if args.command in ("encode", "reconstruct") and _write_streamed(args, trained):
        return 0
    ds, X = _select(args, trained)
    if args.command == "encode":
        save_npy(args.out, trained.encode(X))
    elif args.command == "reconstruct":
        save_npy(args.out, trained.reconstruct(X))
    else:  # evaluate
        from aekit.metrics import mse, psnr

        scaled = trained.scaler.transform(X) if trained.scaler is not None else X
        recon = trained.reconstruct(X, scaled=True)
        metrics = {"data": ds.name, "split": args.split or "test", "n": len(X), "mse": mse(scaled, recon)}
        if ds.kind == "image":
            metrics["psnr"] = psnr(np.clip(scaled, 0, 1), np.clip(recon, 0, 1))
        from aekit.ordered import is_ordered, prefix_curve

        if is_ordered(trained.metadata):   # the error from the first k code values, beside PCA-k's
            from aekit.run import load_eval_split

            train = load_eval_split(trained, args.data, data_dir=args.data_dir, split="train", limit=args.limit)[1]
            x_train = trained.scaler.transform(train.X) if trained.scaler is not None else train.X
            metrics["ordered_curve"] = prefix_curve(trained.model, x_train, scaled)
        text = json.dumps(metrics, indent=2)
        print(text)
        if args.out:
            atomic_write_bytes(args.out, lambda f: f.write(text.encode()))
    return 0


def _expected(exc: BaseException) -> bool:
    """A failure the user can fix (bad input, options, files, a diverged run), as opposed to a bug."""
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return True
    from aekit.training import TrainingError

    return isinstance(exc, TrainingError)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one readable line: ``aekit: warning: <message> (CollapseWarning)``."""
    print(f"aekit: warning: {message} ({category.__name__})", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Expected failures print one line and exit 2 (``AEKIT_DEBUG=1`` shows the traceback);
    anything else is a bug: its traceback is printed with a request to report it, exit 1."""
    debug = bool(os.environ.get("AEKIT_DEBUG"))
    shown_by = warnings.showwarning
    if not debug:
        warnings.showwarning = _show_warning   # before parsing: an old flag's spelling warns as it is read
    try:
        args = make_parser().parse_args(argv)
    except BaseException:
        warnings.showwarning = shown_by
        raise
    try:
        from aekit.training.loggers import log_to

        with log_to(*(getattr(args, "log", None) or [])):  # --log: every fit of the command logs there
            return run_command(args)
    except KeyboardInterrupt:
        hint = "; run it again with --resume to continue from the last checkpoint" if args.command == "train" else ""
        print(f"aekit {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        if not _expected(exc):
            traceback.print_exc()
            print(f"aekit {args.command}: unexpected error; this is a bug in aekit {__version__}: please report "
                  "it to the aekit issue tracker with the traceback above and the command you ran", file=sys.stderr)
            return 1
        print(f"aekit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown_by


if __name__ == "__main__":
    sys.exit(main())
