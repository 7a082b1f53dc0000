"""The explorer page: ``index.html`` at ``/``, its scripts under ``/explorer/static/`` (shipped in the package,
no CDN) and the JSON routes it reads beside the KServe V2 routes it posts drawings and table rows to.

    GET  /explorer/models               what each served model is: kind, shapes, operations, value ranges
    GET  /explorer/{name}/map           2-D map of the codes of up to MAP_SIZE training examples, with the
                                        examples (model layout, raw units) and their labels
    POST /explorer/{name}/interpolate   {"a": i, "b": j, "steps": n} (map indices) or {"codes": [za, zb]}
                                        -> the decoded images along the line between the two codes
    POST /explorer/{name}/sample        {"n": n} -> n samples of a generative model

Images travel in the model layout ``(C, H, W)`` flattened, in raw units (the page draws them with the
model's value range); the page converts to the caller's layout itself when it posts to ``/v2``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

STATIC = Path(__file__).parent / "static"
MAP_SIZE = 1000        # training examples on the map at most (t-SNE stays a few seconds on 2 cores)
MAX_STEPS = 64         # interpolation steps per request at most
MAX_SAMPLES = 64       # samples per request at most


class Interpolation(BaseModel):
    a: int | None = None                        # map index of the first end
    b: int | None = None                        # map index of the second end
    codes: list[list[float]] | None = None      # or the two codes themselves (flattened)
    steps: int = Field(9, ge=2, le=MAX_STEPS)   # points on the line, ends included


class Sampling(BaseModel):
    n: int = Field(8, ge=1, le=MAX_SAMPLES)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)   # None: the model's own default


class ExplorerError(ValueError):
    """A request the model cannot answer; the route turns it into a 400 with this message."""


def install(app, models: dict, settings=None) -> None:
    """Add the explorer's routes and static files to ``app`` (a FastAPI app serving ``models``:
    name -> :class:`aekit.serve.models.ServedModel`). ``settings.data``, when set, names the dataset of the
    map (else the one recorded in each model folder)."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    views = {name: ModelView(served, getattr(settings, "data", None)) for name, served in models.items()}

    def view(name: str) -> ModelView:
        if name not in views:
            raise HTTPException(404, f"no model {name!r}; served: {sorted(views)}")
        return views[name]

    def answer(fn, *args):
        try:
            return fn(*args)
        except ExplorerError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    # sync routes: FastAPI runs them in its thread pool, so a t-SNE never blocks the event loop
    @app.get("/explorer/models", tags=["explorer"])
    def explorer_models() -> list[dict]:
        return [v.info() for v in views.values()]

    @app.get("/explorer/{name}/map", tags=["explorer"])
    def explorer_map(name: str) -> dict:
        return view(name).code_map()

    @app.post("/explorer/{name}/interpolate", tags=["explorer"])
    def explorer_interpolate(name: str, request: Interpolation) -> dict:
        return answer(view(name).interpolate, request)

    @app.post("/explorer/{name}/sample", tags=["explorer"])
    def explorer_sample(name: str, request: Sampling) -> dict:
        return answer(view(name).sample, request.n, request.seed)

    app.mount("/explorer/static", StaticFiles(directory=STATIC), name="explorer-static")


class ModelView:
    """One served model as the page sees it: its autoencoder in the model layout and its map (computed on
    the first request, then kept)."""

    def __init__(self, served, data: str | None = None):
        self.served = served
        self.trained = getattr(served.obj, "autoencoder_", served.obj)   # estimators keep a TrainedAutoencoder
        self.layout = getattr(served.obj, "layout_", None)              # caller's layout <-> the model's
        self.model = self.trained.model
        self.fixed = all(n > 0 for n in served.sample_shape)   # False: images of any size (restorers, segmenters)
        self.sources = list(dict.fromkeys(s for s in (data, self._recorded_data()) if s))   # in order, once
        self._map: dict | None = None
        self._codes: np.ndarray | None = None   # (n, *code_shape) of the map's examples
        self._lock = threading.Lock()

    def _recorded(self) -> dict:
        """What the folder records it was fitted on: ``run`` (``aekit train``: data, data_dir, image_size,
        grayscale) or ``fitted_on`` (estimators fitted by a command: dataset, data_dir), as ``run``'s keys."""
        meta = self.trained.metadata
        run, fitted = meta.get("run"), meta.get("fitted_on")
        if isinstance(run, dict) and run.get("data"):
            return run
        if isinstance(fitted, dict) and fitted.get("dataset"):
            return {"data": fitted["dataset"], "data_dir": fitted.get("data_dir")}
        return {}

    def _recorded_data(self) -> str | None:
        return self._recorded().get("data")

    # ------------------------------------------------------------------------------------ description
    def info(self) -> dict:
        """What the page shows for this model; ``model_shape`` and the value ranges only for fixed-size samples."""
        s = self.served
        info = {"name": s.name, "kind": s.kind, "task": s.task, "sample_shape": list(s.sample_shape),
                "image_axes": s.image_axes, "operations": sorted(s.operations), "threshold": s.threshold,
                "operation_details": {k: op.describe() for k, op in s.operations.items()},
                "code_size": int(np.prod(self.model.code_shape)), "can_decode": bool(self.model.can_decode),
                "map_sources": [str(x) for x in self.sources]}
        if not self.fixed:
            return info
        lo, hi = _raw_range(self.trained.scaler, tuple(self.model.input_shape))
        info["model_shape"] = list(self.model.input_shape)
        if s.kind == "image":
            info["value_range"] = list(s.value_range) if s.value_range else [float(lo.min()), float(hi.max())]
        elif s.kind == "table":
            info["feature_ranges"] = np.stack([lo.ravel(), hi.ravel()], axis=1).tolist()
        return info

    # ------------------------------------------------------------------------------------ the map
    def code_map(self) -> dict:
        with self._lock:
            if self._map is None:
                self._map = self._compute_map()
            return self._map

    def _compute_map(self) -> dict:
        if not self.fixed:
            return {"available": False, "message": f"{self.served.name} takes samples of any size: no map"}
        if not self.sources:
            return {"available": False, "message": f"no dataset for the map of {self.served.name}: the folder "
                    "records none; start the server with --data NAME (the training data)"}
        reasons = []
        for source in self.sources:
            try:
                x, y, classes = self._examples(source)
            except ValueError as exc:   # DataError is a ValueError: unknown name, shapes that do not fit
                reasons.append(str(exc))
                continue
            codes = self.trained.encode(x)              # (n, *code_shape)
            flat = codes.reshape(len(codes), -1)
            self._codes = codes
            xy, method = _embed(flat)
            return {"available": True, "source": str(source), "method": method, "points": _rounded(xy),
                    "labels": None if y is None else y.tolist(), "classes": classes,
                    "examples": _rounded(x.reshape(len(x), -1))}
        return {"available": False, "message": "no map: " + "; ".join(reasons)}

    def _examples(self, source) -> tuple[np.ndarray, np.ndarray | None, list | None]:
        """The first MAP_SIZE training samples of ``source`` in the model layout, their labels, class names."""
        from aekit.data import load_dataset

        run = self._recorded()
        same = source == run.get("data")   # the folder's own data: load it as training did
        ds = load_dataset(source, limit=MAP_SIZE, data_dir=run.get("data_dir") if same else None,
                          image_size=run.get("image_size") if same else None,
                          grayscale=run.get("grayscale") if same else None)
        x, shape = ds.train.X, tuple(self.model.input_shape)
        if x[0].size != int(np.prod(shape)):
            raise ExplorerError(f"dataset {source} has samples of shape {tuple(x.shape[1:])}, but "
                                f"{self.served.name} takes {shape}")
        y = ds.train.y if ds.train.y is not None and np.ndim(ds.train.y) == 1 else None
        return x.reshape(len(x), *shape).astype(np.float32), y, list(ds.classes) if ds.classes else None

    # ------------------------------------------------------------------------------------ decoding
    def interpolate(self, request: Interpolation) -> dict:
        if request.codes is not None:
            if len(request.codes) != 2:
                raise ExplorerError(f"codes: expected two codes, got {len(request.codes)}")
            ends = np.asarray(request.codes, dtype=np.float32)
        else:
            self.code_map()
            n = 0 if self._codes is None else len(self._codes)
            if request.a is None or request.b is None or not (0 <= request.a < n and 0 <= request.b < n):
                raise ExplorerError(f"a, b: expected two map indices in [0, {n}), got {request.a}, {request.b}")
            ends = self._codes[[request.a, request.b]].reshape(2, -1)
        size = int(np.prod(self.model.code_shape))
        if ends.shape[1] != size:
            raise ExplorerError(f"codes of {ends.shape[1]} values, expected {size} (code shape "
                                f"{tuple(self.model.code_shape)})")
        t = np.linspace(0.0, 1.0, request.steps, dtype=np.float32)[:, None]
        return self._images(self._decode((1 - t) * ends[:1] + t * ends[1:]))

    def sample(self, n: int, seed: int | None = None) -> dict:
        op = next((o for o in self.served.operations.values() if o.takes == "count" and "samples" in o.outputs),
                  None)                           # the declared operation that draws samples
        if op is None:
            raise ExplorerError(f"{self.served.name} does not sample (operations: {sorted(self.served.operations)})")
        out = np.asarray(op.run(n, seed=seed)["samples"], dtype=np.float32)
        return self._images(self.layout.to_model(out) if self.layout is not None else out)

    def _decode(self, z: np.ndarray) -> np.ndarray:
        """Raw-unit outputs (model layout) of flattened codes ``z``."""
        import torch

        if not self.model.can_decode:
            raise ExplorerError(f"the {self.model.name!r} model of {self.served.name} cannot decode codes alone")
        z = torch.from_numpy(np.ascontiguousarray(z.reshape(len(z), *self.model.code_shape)))
        with torch.no_grad():
            out = self.model.decode(z).float().cpu().numpy()
        scaler = self.trained.scaler
        return scaler.inverse_transform(out) if scaler is not None else out

    def _images(self, x: np.ndarray) -> dict:
        return {"shape": list(x.shape[1:]), "images": _rounded(x.reshape(len(x), -1))}


def _rounded(x: np.ndarray) -> list:
    """Nested lists of 4-decimal floats: short JSON."""
    return np.round(x.astype(np.float64), 4).tolist()


def _raw_range(scaler, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The raw values the model was trained on, per value of one sample ``shape`` (model layout): the scaler's
    range (min / max for "minmax" and "range", mean -+ 2 standard deviations for "standard"), else [0, 1]."""
    if scaler is None or scaler.method == "none":
        return np.zeros(shape), np.ones(shape)
    offset, scale = np.broadcast_to(scaler.offset_, shape), np.broadcast_to(scaler.scale_, shape)
    if scaler.method == "standard":
        return offset - 2 * scale, offset + 2 * scale
    return offset, offset + scale


def _embed(codes: np.ndarray) -> tuple[np.ndarray, str]:
    """2-D positions in [0, 1] of flattened codes: the code itself when it has two values, else t-SNE."""
    if codes.shape[1] == 2:
        xy, method = codes, "code"
    elif codes.shape[1] == 1:
        xy, method = np.concatenate([codes, np.zeros_like(codes)], axis=1), "code"
    else:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(codes) - 1) / 3)
        xy, method = TSNE(2, init="pca", perplexity=perplexity, random_state=0).fit_transform(codes), "t-SNE"
    lo, span = xy.min(axis=0), np.ptp(xy, axis=0)
    return (xy - lo) / np.where(span > 0, span, 1.0), method
