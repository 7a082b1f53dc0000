"""``aekit fit ESTIMATOR``: fit any task estimator on a dataset and save it as a model folder.

    aekit fit reducer --data digits --param latent_dim=2 --out runs/digits-reducer
"""
from __future__ import annotations

import argparse
import json
import sys

from aekit.cli.common import estimator_params, read_targets


def add_parser(sub) -> None:
    from aekit.estimators import list_estimators

    p = sub.add_parser("fit", help="fit a task estimator (reducer, anomaly-detector, ...) and save it")
    p.add_argument("estimator", help="one of: " + ", ".join(list_estimators()))
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, ...) or a path: folder of images, "
                   ".npy, .npz, .csv")
    p.add_argument("--data-dir", help="folder with datasets (default: $AEKIT_DATA_DIR, then download to cache)")
    p.add_argument("--limit", type=int, help="use only the first N training samples")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="estimator argument, JSON value: --param latent_dim=8 --param epochs=20")
    p.add_argument("--targets", metavar="PATH", help="per-sample targets aligned with --data, for estimators that "
                   "learn from pairs (segmenter: class maps; restorer: clean images): a folder of images, .npy, .npz")
    p.add_argument("--out", required=True, help="output model folder")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sklearn.base import is_classifier

    from aekit.data import load_dataset
    from aekit.estimators import estimator_class

    cls = estimator_class(args.estimator)
    est = cls(**estimator_params(args.param))
    ds = load_dataset(args.data, data_dir=args.data_dir, limit=args.limit)
    X, y = ds.train.X, ds.train.y
    if args.targets:
        targets = read_targets(args.targets, args.data_dir)[:len(X)]
        if len(targets) != len(X):
            raise ValueError(f"--targets {args.targets} has {len(targets)} samples for {len(X)} in --data {args.data}")
        est.fit(X, targets)
    elif est.__sklearn_tags__().target_tags.required and not is_classifier(est):
        raise ValueError(f"{cls.__name__} learns from pairs: pass --targets (e.g. class maps aligned with --data)")
    elif is_classifier(est):
        if y is None:
            raise ValueError(f"{cls.__name__} needs labels, but {args.data} has none")
        est.fit(X, y)
    else:
        est.fit(X)
    est.save(args.out)
    summary = {"estimator": args.estimator, "data": ds.name, "n_samples": len(X), "epochs": est.n_iter_,
               "out": args.out}
    print(json.dumps(summary, indent=2))
    print(f"saved {cls.__name__} to {args.out}", file=sys.stderr)
    return 0
