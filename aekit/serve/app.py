"""The FastAPI app of ``aekit serve``: KServe V2 / Open Inference Protocol routes, binary routes per operation,
health, Prometheus metrics; the explorer page adds its own (:mod:`aekit.serve.explorer`).

    GET  /v2                                  server metadata
    GET  /v2/health/live, /v2/health/ready    liveness; readiness (503 while shutting down)
    GET  /v2/models                           the served models' names
    GET  /v2/models/{name}                    model metadata: inputs, outputs, operations, what it does
    GET  /v2/models/{name}/ready              model readiness
    POST /v2/models/{name}/infer              V2 JSON tensors; parameters.operation picks the operation
    POST /v2/models/{name}/{operation}        .npy, PNG / JPEG, CSV, .aek or V2 JSON bodies; answers by Accept
    GET  /metrics                             Prometheus text format
    GET  /openapi.json, /docs                 the OpenAPI spec and its page

Requests flow: body (limited while it streams in) -> :mod:`aekit.serve.inputs` -> the model's batcher or
runner (:mod:`aekit.serve.batching`, the forward pass in the model's worker thread) -> :mod:`aekit.serve.outputs`.
Every refusal is a :class:`~aekit.serve.limits.RequestError` answered as 4xx JSON; a model that fails is a 500
with its message; a request that outlives ``request_timeout_s`` is a 504.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from aekit.serve import explorer, inputs as read, outputs as write, schema
from aekit.serve.batching import Batcher, QueueFull, Runner
from aekit.serve.limits import RequestError, ServeSettings, read_body
from aekit.serve.metrics import Metrics
from aekit.serve.models import Operation, ServedModel, load_served
from aekit.version import __version__

log = logging.getLogger("aekit.serve")
CONFIG_ENV = "AEKIT_SERVE_CONFIG"   # JSON {"models": {name: folder}, "settings": {...}}: see from_environment
NPY_TYPES = ("application/x-npy", "application/npy")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg")
BODY_TYPES = ["application/json", *NPY_TYPES, *IMAGE_TYPES, "text/csv", "application/octet-stream"]


def create_app(models, settings: ServeSettings | None = None):
    """The app serving ``models`` (name -> :class:`ServedModel`, or a list of them)."""
    models = dict(models) if isinstance(models, dict) else {m.name: m for m in models}
    server = Server(models, settings or ServeSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        server.start()
        yield
        server.stop()

    app = FastAPI(title="aekit serve", version=__version__, lifespan=lifespan,
                  description="KServe V2 / Open Inference Protocol inference for aekit model folders, with binary "
                              "routes for .npy, PNG / JPEG, CSV and .aek bodies. Refused requests get a JSON "
                              "error naming the field, what came and what was expected.")
    app.state.server = server

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):   # unknown routes, wrong methods: the same error shape (and FastAPI's)
        return _json({"error": str(exc.detail), "field": "path", "detail": exc.detail}, exc.status_code,
                     getattr(exc, "headers", None))

    @app.get("/v2", tags=["health"])
    async def server_metadata() -> dict:
        return {"name": "aekit", "version": __version__, "extensions": ["binary_operation_routes"]}

    @app.get("/v2/health/live", tags=["health"])
    async def live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["health"])
    async def ready():
        return _json({"ready": server.ready}, 200 if server.ready else 503)

    @app.get("/v2/models", tags=["models"])
    async def model_names() -> dict:
        return {"models": list(models)}

    @app.get("/v2/models/{name}", tags=["models"], responses=schema.ERRORS)
    async def model_metadata(name: str):
        served = models.get(name)
        return _json(served.metadata()) if served else _error(server.unknown(name))

    @app.get("/v2/models/{name}/ready", tags=["models"], responses=schema.ERRORS)
    async def model_ready(name: str):
        return _json({"name": name, "ready": server.ready}) if name in models else _error(server.unknown(name))

    @app.post("/v2/models/{name}/infer", tags=["inference"], openapi_extra=schema.infer_spec())
    async def infer(name: str, request: Request) -> Response:
        return await server.answer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["inference"], openapi_extra=schema.infer_spec())
    async def infer_version(name: str, version: str, request: Request) -> Response:
        if version != "1":
            return _error(RequestError(404, f"model {name!r} has version 1 only, not {version[:40]!r}",
                                       field="path", received=version[:40], expected="1"))
        return await server.answer(request, name, None)

    @app.post("/v2/models/{name}/{operation}", tags=["inference"], openapi_extra=schema.operation_spec())
    async def run_operation(name: str, operation: str, request: Request) -> Response:
        return await server.answer(request, name, operation)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        body, media = server.metrics.exposition()
        return Response(body, media_type=media)

    explorer.install(app, models, server.settings)
    return app


def _json(doc, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(doc, separators=(",", ":"), default=str).encode(), status_code=status,
                    media_type="application/json", headers=headers)


def _error(exc: RequestError) -> Response:
    return _json(exc.body(), exc.status)


class Server:
    """What the routes share: models, settings, metrics, one :class:`Runner` per model and one
    :class:`Batcher` per batched operation (both made anew in each event loop's lifespan)."""

    def __init__(self, models: dict[str, ServedModel], settings: ServeSettings):
        self.models, self.settings, self.metrics = models, settings, Metrics()
        self.runners: dict[str, Runner] = {}
        self.batchers: dict[tuple[str, str], Batcher] = {}
        self.ready = True

    def start(self) -> None:
        self.runners, self.batchers, self.ready = {}, {}, True

    def stop(self) -> None:
        """After the server finished its in-flight requests: no longer ready; the worker threads end."""
        self.ready = False
        for runner in self.runners.values():
            runner.close()
        self.runners, self.batchers = {}, {}

    def runner(self, name: str) -> Runner:
        if name not in self.runners:
            self.runners[name] = Runner(name)
        return self.runners[name]

    def batcher(self, served: ServedModel, op: Operation) -> Batcher:
        key = (served.name, op.name)
        if key not in self.batchers:
            s = self.settings
            self.batchers[key] = Batcher(op.run, self.runner(served.name), max_batch=s.max_batch,
                                         max_wait=s.max_wait_ms / 1000, max_queue=s.max_queue,
                                         on_batch=lambda rows, n: self.metrics.batch(served.name, op.name, rows, n))
        return self.batchers[key]

    def unknown(self, name: str) -> RequestError:
        return RequestError(404, f"no model {name[:100]!r}; served: {list(self.models)}", field="path",
                            received=name[:100], expected=list(self.models))

    # ------------------------------------------------------------------------------------ one request
    async def answer(self, request, name: str, route_op: str | None):
        start = time.perf_counter()
        labels = {"model": "", "operation": ""}   # only names of served models and operations become labels
        self.metrics.in_flight.inc()
        try:
            served = self.models.get(name)
            if served is None:
                raise self.unknown(name)
            labels["model"] = name
            if route_op in served.operations:
                labels["operation"] = route_op
            response = await asyncio.wait_for(self._answer(served, request, route_op, labels),
                                              self.settings.request_timeout_s)
        except RequestError as exc:
            response = _error(exc)
        except asyncio.TimeoutError:
            response = _error(RequestError(504, f"the request took longer than {self.settings.request_timeout_s:g} s "
                                           "(setting request_timeout_s)", field="request",
                                           expected=f"<= {self.settings.request_timeout_s:g} s"))
        except QueueFull as exc:
            response = _error(RequestError(503, f"model {name!r} is busy: {exc}; retry later", field="request"))
        except Exception as exc:  # noqa: BLE001 - a bug: answered as a 500, logged with its traceback
            log.exception("aekit serve: %s %s failed", request.method, request.url.path)
            response = _error(RequestError(500, f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self.metrics.in_flight.dec()
        self.metrics.answered(labels["model"], labels["operation"], response.status_code, time.perf_counter() - start)
        return response

    async def _answer(self, served: ServedModel, request, route_op: str | None, labels: dict) -> Response:
        body = await read_body(request, self.settings)
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        media = write.choose(request.headers.get("accept")) if route_op else write.JSON
        if route_op is None or ctype == "application/json":
            call = read.v2_call(read.parse_json(body), served, self.settings, route_op)
        else:
            call = self._binary_call(served, route_op, ctype, body, request.query_params)
        labels["operation"] = call.op.name
        outputs = await self.run(served, call)
        params = {}
        if call.seed is not None:
            params["seed"] = call.seed
        if served.threshold is not None and "is_anomaly" in outputs:
            params["threshold"] = served.threshold
        if call.notes:
            params["notes"] = call.notes
        try:
            if media == write.JSON:
                content = write.v2_json(served.name, call.id, outputs, params)
            elif media == write.CSV:
                content = write.csv_rows(outputs)
            else:
                first = call.outputs[0]
                content = write.binary(media, first, outputs[first], served.value_range, served.image_axes)
        except write.NonFiniteOutput as exc:
            raise RequestError(422 if call.op.takes != "count" else 500,
                               f"output {exc} of {call.op.name!r} holds NaN or infinity, which JSON cannot carry "
                               "(inputs far outside the training data's range?); ask for .npy to see them",
                               field=str(exc)) from None
        return Response(content, media_type=media)

    def _binary_call(self, served: ServedModel, route_op: str, ctype: str, body: bytes, query) -> read.Call:
        op = read.operation(served, route_op, "path")
        asked = query.get("output")
        call = read.Call(op, None, read.outputs(op, None if asked is None else [
            {"name": n.strip()} for n in asked.split(",")], "output"))
        if op.takes == "count":
            call.payload = read.count(query.get("n", 1), self.settings, "n")
            call.seed = read.seed(query.get("seed"), "seed")
        elif op.takes == "streams":
            if ctype != "application/octet-stream":
                raise _unsupported(ctype, ["application/octet-stream", "application/json"], op)
            call.payload = read.parse_stream(body)
        elif ctype in NPY_TYPES:
            call.payload = read.parse_npy(body, served, self.settings)
        elif ctype in IMAGE_TYPES:
            call.payload, note = read.parse_image(body, served, self.settings)
            call.notes = [note] if note else []
        elif ctype == "text/csv":
            call.payload = read.parse_csv(body, served, self.settings)
        else:
            raise _unsupported(ctype, ["application/json", *NPY_TYPES[:1], *IMAGE_TYPES[:2], "text/csv"], op)
        return call

    async def run(self, served: ServedModel, call: read.Call) -> dict[str, np.ndarray]:
        """The asked outputs of ``call``, computed in the model's worker thread (batched when the operation
        allows); a model's ValueError (an input it refuses) is a 422, anything else a 500."""
        op = call.op
        if op.lighter is not None and set(call.outputs) <= set(op.lighter.outputs):
            op = op.lighter
        try:
            if op.takes == "samples" and op.batched:
                out = await self.batcher(served, op).submit(call.payload)
            else:
                self.metrics.batch(served.name, op.name, call.rows, 1)
                if op.takes == "count":
                    call.seed = secrets.randbelow(read.MAX_SEED + 1) if call.seed is None else call.seed
                    out = await self.runner(served.name).call(op.run, call.payload, call.seed)
                else:
                    out = await self.runner(served.name).call(op.run, call.payload)
        except (RequestError, QueueFull):
            raise
        except ValueError as exc:   # DataError, CodecError, scikit-learn's checks: the input is at fault
            raise RequestError(422, f"model {served.name!r} refused the input of {op.name!r}: {str(exc)[:500]}",
                               field="input") from None
        except Exception as exc:  # noqa: BLE001 - the model failed
            log.exception("aekit serve: model %s, operation %s failed", served.name, op.name)
            raise RequestError(500, f"model {served.name!r} failed on {op.name!r}: {type(exc).__name__}: "
                               f"{str(exc)[:500]}") from None
        return {k: np.asarray(out[k]) for k in call.outputs}


def _unsupported(ctype: str, accepted: list[str], op: Operation) -> RequestError:
    return RequestError(415, f"Content-Type {ctype or '(none)'!r}: operation {op.name!r} takes {', '.join(accepted)}",
                        field="Content-Type", received=ctype or None, expected=accepted)


# ---------------------------------------------------------------------------------------- processes
def use_threads(n: int) -> None:
    """``n`` torch compute threads in this process (one per worker is the default), the BLAS / OpenMP pools
    limited to ``n`` as well, and one inter-op thread. The worker threads keep this count on every call
    (:func:`aekit.serve.batching.serving_thread`)."""
    import torch

    from aekit.threads import limit_pools, set_num_threads

    set_num_threads(n)
    torch.set_num_threads(n)
    limit_pools(n)
    with contextlib.suppress(RuntimeError):   # allowed only before torch's first parallel work
        torch.set_num_interop_threads(1)


def load_models(folders: dict[str, str]) -> dict[str, ServedModel]:
    """name -> folder, opened with :func:`load_served`; small requests go through ONNX Runtime where it is
    faster for a model's operation (:func:`aekit.serve.onnx.accelerate`, timed here at load)."""
    from aekit.serve.onnx import accelerate

    served = {name: load_served(folder, name) for name, folder in folders.items()}
    for model in served.values():
        accelerate(model)
    return served


def from_environment():
    """The app described by ``$AEKIT_SERVE_CONFIG`` (what ``aekit serve --workers N`` starts in each worker)."""
    config = json.loads(os.environ[CONFIG_ENV])
    settings = ServeSettings(**config["settings"])
    use_threads(settings.threads)
    return create_app(load_models(config["models"]), settings)
