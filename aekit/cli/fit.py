"""``aekit fit ESTIMATOR``: fit any task estimator on a dataset and save it as a model folder.

    aekit fit reducer --data digits --param latent_dim=2 --epochs 20 --seed 1 --out runs/digits-reducer
"""
from __future__ import annotations

import argparse
import json
import sys

from aekit.cli.common import add_output_folder, bounded, is_stream, make_estimator, open_streamed, output_folder, \
    read_targets
from aekit.cli.grammar import add_fit_flags


def add_parser(sub) -> None:
    p = sub.add_parser("fit", help="fit a task estimator (reducer, anomaly-detector, ...) and save it",
                       add_help=False)
    p.add_argument("-h", "--help", action=EstimatorHelp, nargs=0,
                   help="show this help; after ESTIMATOR, also that estimator's parameters")
    p.add_argument("estimator", metavar="ESTIMATOR", help="a registered estimator: reducer, anomaly-detector, "
                   "compressor, generator, encoder-classifier, restorer, segmenter, ... (`aekit fit NAME --help` "
                   "lists its parameters)")
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, ...) or a path: folder of images, "
                   ".npy, .npz, .csv")
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR, then download to cache)")
    p.add_argument("--limit", type=int, help="use only the first N training samples (default: all)")
    p.add_argument("--targets", metavar="PATH", help="per-sample targets aligned with --data, for estimators that "
                   "learn from pairs (segmenter: class maps; restorer: clean images): a folder of images, .npy, .npz")
    add_fit_flags(p, "estimator", registered="NAME")
    add_output_folder(p, "output model folder")
    p.set_defaults(handler=run)


class EstimatorHelp(argparse.Action):
    """``--help``: the command's help, then (when ESTIMATOR came first) the estimator's parameters."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "estimator", None)
        if name:
            print("\n" + estimator_parameters(name))
        parser.exit()


def estimator_parameters(name: str) -> str:
    """The parameters of the estimator registered as ``name``: defaults from its signature, then the
    "Parameters" section of its docstring."""
    import inspect

    from aekit.estimators import estimator_class

    try:
        cls = estimator_class(name)
    except ValueError as exc:
        return f"{exc}"
    sig = inspect.signature(cls.__init__)
    lines = [f"{cls.__name__} parameters (pass as --param NAME=VALUE, JSON values):"]
    lines += [f"  {p.name} = {p.default!r}" for p in list(sig.parameters.values())[1:]
              if p.default is not inspect.Parameter.empty]
    doc = inspect.getdoc(cls) or ""
    if "Parameters\n----------" in doc:
        section = doc.split("Parameters\n----------", 1)[1]
        section = section.split("\n\n", 1)[0] if "\n----------" not in section else \
            section[:section.index("\n----------")].rsplit("\n", 1)[0]
        lines += ["", "Described:", *("  " + line for line in section.strip("\n").splitlines())]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from sklearn.base import is_classifier

    from aekit.estimators import estimator_class

    cls = estimator_class(args.estimator)
    est = make_estimator(cls, args)
    with output_folder(args.out, overwrite=args.overwrite) as out:
        ds, X, y = _training_data(args, est)
        if args.targets:
            targets = read_targets(args.targets, args.data_dir)[:len(X)]
            if len(targets) != len(X):
                raise ValueError(f"--targets {args.targets} has {len(targets)} samples for {len(X)} in --data "
                                 f"{args.data}")
            est.fit(X, targets)
        elif est.__sklearn_tags__().target_tags.required and not is_classifier(est):
            raise ValueError(f"{cls.__name__} learns from pairs: pass --targets (e.g. class maps aligned with "
                             "--data)")
        elif is_classifier(est):
            if y is None:
                raise ValueError(f"{cls.__name__} needs labels, but {args.data} has none")
            est.fit(X, y)
        else:
            est.fit(X)
        est.autoencoder_.metadata["fitted_on"] = {"dataset": args.data, "data_dir": args.data_dir, "limit": args.limit,
                                                  "streamed": is_stream(X)}
        est.save(out)
    summary = {"estimator": args.estimator, "data": ds.name, "n_samples": len(X), "epochs": est.n_iter_,
               "out": args.out}
    print(json.dumps(summary, indent=2))
    print(f"saved {cls.__name__} to {args.out}", file=sys.stderr)
    return 0


def _training_data(args, est):
    """(dataset, X, y) of ``--data``'s training part; data larger than memory holds comfortably are streamed to
    the estimators that train on streams (those that write their results piece by piece: ``transform_to``,
    ``score_to``), and sampled for the others (and for pairs: ``--targets``)."""
    from aekit.data import load_dataset

    streamed = open_streamed(args.data, args.data_dir, args.limit)
    if streamed is None:
        ds = load_dataset(args.data, data_dir=args.data_dir, limit=args.limit)
        return ds, ds.train.X, ds.train.y
    ds, X = streamed
    if args.targets or not any(callable(getattr(est, m, None)) for m in ("transform_to", "score_to")):
        X = bounded(X, f"{type(est).__name__} is fitted", first=bool(args.targets))
    return ds, X, None
