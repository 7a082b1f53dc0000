"""``aekit serve``: model folders behind HTTP (KServe V2 / Open Inference Protocol), until stopped.

    aekit serve runs/detector runs/codec --host 127.0.0.1 --port 8000
    aekit serve digits=runs/digits-detector --workers 2 --max-batch 32

Each folder (anything :func:`aekit.load` opens) is served under its folder name, or ``NAME=DIR``'s name.
SIGTERM or Ctrl-C stop it gracefully: no new connections, in-flight requests finish (at most
``--timeout`` + 5 s), then the worker threads end; SIGTERM exits 0. Needs ``pip install "aekit[serve]"``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from aekit.cli.common import CLIError
from aekit.serve.limits import ServeSettings

# flag -> ServeSettings field, with the flag's unit
_LIMITS = {"max_body_mb": "max_body_bytes", "max_values": "max_values", "max_image_pixels": "max_image_pixels",
           "max_samples": "max_samples", "timeout": "request_timeout_s", "max_batch": "max_batch",
           "max_wait_ms": "max_wait_ms", "max_queue": "max_queue", "threads": "threads", "data": "data"}


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve model folders over HTTP: KServe V2 inference, .npy / image / CSV "
                       "routes, Prometheus metrics, an explorer page")
    p.add_argument("folders", nargs="+", metavar="DIR", help="model folder (any folder aekit writes, or "
                   "pretrained:NAME), or NAME=DIR to serve it as NAME (default: the folder's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each loading every model (default: 1; "
                   "about one per core, with --threads 1; metrics are then per worker)")
    d = {f.name: f.default for f in dataclasses.fields(ServeSettings)}
    p.add_argument("--threads", type=int, default=d["threads"],
                   help=f"torch compute threads per worker (default: {d['threads']})")
    p.add_argument("--max-batch", type=int, default=d["max_batch"],
                   help=f"rows gathered into one forward pass (default: {d['max_batch']})")
    p.add_argument("--max-wait-ms", type=float, default=d["max_wait_ms"], help="how long a batch waits for more "
                   f"rows while requests keep coming (default: {d['max_wait_ms']:g}; 0: never wait)")
    p.add_argument("--max-queue", type=int, default=d["max_queue"],
                   help=f"rows waiting per operation before 503 (default: {d['max_queue']})")
    p.add_argument("--max-body-mb", type=float, default=d["max_body_bytes"] / 2**20,
                   help=f"request body limit in MiB (default: {d['max_body_bytes'] / 2**20:g})")
    p.add_argument("--max-values", type=int, default=d["max_values"],
                   help=f"numbers in one request (default: {d['max_values']})")
    p.add_argument("--max-image-pixels", type=int, default=d["max_image_pixels"],
                   help=f"pixels of one image (default: {d['max_image_pixels']})")
    p.add_argument("--max-samples", type=int, default=d["max_samples"],
                   help=f"samples one sample request may ask for (default: {d['max_samples']})")
    p.add_argument("--timeout", type=float, default=d["request_timeout_s"],
                   help=f"seconds a request may take before 504 (default: {d['request_timeout_s']:g})")
    p.add_argument("--data", help="dataset the explorer page maps (default: the one each folder records)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (default: info)")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs time)")
    p.set_defaults(handler=run)


def model_folders(specs: list[str]) -> dict[str, str]:
    """name -> folder from ``DIR`` / ``NAME=DIR`` arguments; names must be unique and URL-safe."""
    from aekit.zoo import PREFIX, resolve_model

    folders: dict[str, str] = {}
    for spec in specs:
        name, folder = spec.split("=", 1) if "=" in spec and not Path(spec).exists() else (None, spec)
        path = Path(resolve_model(folder))            # pretrained:NAME -> the shipped folder, served as NAME
        if not path.is_dir():
            raise CLIError(f"{folder}: no such model folder")
        default = folder[len(PREFIX):] if folder.startswith(PREFIX) else path.resolve().name
        name = name if name is not None else default
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise CLIError(f"{spec}: model name {name!r} must be letters, digits, '-', '_' or '.'; serve it as "
                           "NAME=DIR")
        if name in folders:
            raise CLIError(f"two folders are named {name!r} ({folders[name]} and {folder}); serve one as NAME=DIR")
        folders[name] = str(path.resolve())
    return folders


def settings_from(args: argparse.Namespace) -> ServeSettings:
    values = {field: getattr(args, flag) for flag, field in _LIMITS.items()}
    values["max_body_bytes"] = int(args.max_body_mb * 2**20)
    return ServeSettings(**values)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from aekit.serve import app as serving
    except ImportError as exc:
        raise CLIError(f"aekit serve needs the serve extra ({exc.name} is missing): pip install \"aekit[serve]\"") \
            from None
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port {args.port}: expected 0..65535")
    if args.workers < 1:
        raise CLIError(f"--workers {args.workers}: expected at least 1")
    settings = settings_from(args)
    folders = model_folders(args.folders)
    models = serving.load_models(folders)       # a broken folder fails here, before the server starts
    serving.use_threads(settings.threads)
    for name, served in models.items():
        print(f"aekit serve: {name}: {served.task}, operations {', '.join(served.operations)}", file=sys.stderr)
    options = dict(host=args.host, port=args.port, log_level="warning" if args.quiet else args.log_level,
                   access_log=args.access_log,
                   timeout_graceful_shutdown=int(settings.request_timeout_s) + 5)
    signal.signal(signal.SIGTERM, lambda *_: None)   # uvicorn re-raises SIGTERM after its graceful stop: exit 0
    if args.workers == 1:
        uvicorn.run(serving.create_app(models, settings), **options)
    else:
        os.environ[serving.CONFIG_ENV] = json.dumps({"models": folders, "settings": dataclasses.asdict(settings)})
        uvicorn.run("aekit.serve.app:from_environment", factory=True, workers=args.workers, **options)
    return 0
