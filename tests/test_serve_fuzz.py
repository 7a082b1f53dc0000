"""Hypothesis fuzzing of ``aekit serve``'s HTTP API, in process (FastAPI's TestClient): random V2 JSON bodies,
shapes and datatypes, random and broken ``.npy`` / PNG / JPEG / CSV / ``.aek`` bodies, odd content types and
Accept headers. The only outcomes allowed: an answer, or a 4xx JSON error with its message and field.

The whole file is the ``fuzz`` tier (``pytest -m fuzz``); the default test run has tests/test_serve.py's refusals
and the conformance suite's malformed inputs. ``AEKIT_FUZZ_EXAMPLES`` sets the examples per test (default 500);
the runs are derandomised, so CI sees the same examples every time. Every crash found is kept as an ``@example``
here or as a test in tests/test_serve.py.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
from urllib.parse import quote

import numpy as np
import pytest

pytestmark = pytest.mark.fuzz
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

from aekit.serve.app import create_app, load_models  # noqa: E402
from aekit.serve.limits import ServeSettings  # noqa: E402
from tests.serve_helpers import digits, model_folders, npy  # noqa: E402

EXAMPLES = int(os.environ.get("AEKIT_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
MODELS = ["table", "image", "codec", "generator", "restorer", "trained"]
LIMITS = ServeSettings(max_body_bytes=256 * 1024, max_values=20_000, max_image_pixels=4096, max_samples=16,
                       request_timeout_s=60)
REFUSALS = {400, 404, 405, 406, 413, 415, 422}
OPS = {"table": ["detect", "score", "reconstruct", "encode"], "image": ["detect", "score", "reconstruct", "encode"],
       "codec": ["compress", "decompress", "reconstruct", "encode"], "generator": ["sample", "encode"],
       "restorer": ["restore"], "trained": ["encode", "reconstruct"]}
SAMPLE = {"table": (64,), "image": (8, 8), "codec": (8, 8), "generator": (64,), "restorer": (9, 13),
          "trained": (1, 8, 8)}
V2_TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
            "BYTES"]


@pytest.fixture(scope="module")
def served():
    return load_models({name: str(path) for name, path in model_folders().items() if name in MODELS})


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(served, LIMITS)) as c:
        yield c


@pytest.fixture(scope="module")
def stream(served):
    return served["codec"].obj.compress(digits()[1][:1])[0]


def check(response) -> None:
    """An answer, or a refusal in the documented shape; never a 5xx."""
    status, media = response.status_code, response.headers.get("content-type", "")
    assert status == 200 or status in REFUSALS, (status, response.text[:500])
    if status != 200:
        body = response.json()
        assert media == "application/json" and isinstance(body["error"], str) and body["error"], body
        assert "field" in body, body
    elif media == "application/json":
        for out in response.json()["outputs"]:
            size = len(out["data"])
            assert size == math.prod(out["shape"]) and out["datatype"] in V2_TYPES, out["name"]
    elif media == "application/x-npy":
        np.load(io.BytesIO(response.content), allow_pickle=False)
    elif media == "image/png":
        assert response.content.startswith(b"\x89PNG")


# ------------------------------------------------------------------------------------------------ JSON
numbers = st.one_of(st.floats(), st.floats(-1e3, 1e3), st.integers(-2**70, 2**70), st.integers(0, 16), st.booleans())
scalars = st.one_of(numbers, st.text(max_size=6), st.none())
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                    max_leaves=12)
shapes = st.one_of(st.lists(st.integers(-2, 70), max_size=5), st.sampled_from([[1, 64], [2, 8, 8], [1, 1, 8, 8], [3]]),
                   junk)
data = st.one_of(st.lists(numbers, max_size=200), st.lists(st.lists(numbers, max_size=9), max_size=9), junk,
                 st.lists(st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode()), max_size=3))
tensors = st.one_of(st.fixed_dictionaries({}, optional={"name": st.text(max_size=6), "shape": shapes,
                                                        "datatype": st.one_of(st.sampled_from(V2_TYPES), scalars),
                                                        "data": data, "parameters": junk}), junk)
operations = st.one_of(st.sampled_from(["detect", "score", "reconstruct", "encode", "compress", "decompress", "sample",
                                        "restore"]), scalars)
parameters = st.one_of(st.fixed_dictionaries({}, optional={"operation": operations, "n": st.one_of(
    st.integers(-2, 20), scalars), "seed": st.one_of(st.integers(-2, 2**40), scalars)}), junk)
output_names = st.sampled_from(["anomaly_score", "is_anomaly", "error_map", "reconstruction", "code", "stream",
                                "samples", "restored", "nope"])
v2_bodies = st.fixed_dictionaries({}, optional={
    "id": scalars, "parameters": parameters, "inputs": st.one_of(st.lists(tensors, max_size=2), junk),
    "outputs": st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"name": output_names}), junk), max_size=3), junk)})


def model_operation(model: str):
    """Mostly (4 in 5) one of the model's operations, else anything."""
    return st.integers(0, 4).flatmap(lambda k: st.sampled_from(OPS[model]) if k < 4 else operations.map(str))


@st.composite
def well_formed(draw):
    """A request the model may well answer: the right shape, random values and datatypes."""
    model = draw(st.sampled_from(["table", "image", "codec", "restorer", "trained", "generator"]))
    sample = list(SAMPLE[model]) if model != "restorer" else [draw(st.integers(1, 12)), draw(st.integers(1, 12))]
    n = draw(st.integers(1, 3))
    values = draw(st.lists(st.one_of(st.floats(-1e6, 1e6), st.floats(-3.4e38, 3.4e38), st.integers(0, 16)),
                           min_size=n * math.prod(sample), max_size=n * math.prod(sample)))
    dt = draw(st.sampled_from(["FP32", "FP64", "FP16", "INT32"]))
    params = draw(st.fixed_dictionaries({"operation": model_operation(model)}, optional={
        "n": st.integers(-1, 20), "seed": st.integers(-1, 2**33)}))
    return model, {"inputs": [{"name": "input", "shape": [n, *sample], "datatype": dt, "data": values}],
                   "parameters": params}


@FUZZ
@given(model=st.sampled_from(MODELS + ["nope"]), body=st.one_of(v2_bodies, junk))
@example(model="table", body={"inputs": [{"shape": [1, 64], "datatype": "FP32", "data": [[1.0] * 64]}]})
@example(model="image", body={"inputs": [{"shape": [1, 8, 8], "datatype": "FP16", "data": [70000.0] * 64}]})
@example(model="codec", body={"parameters": {"operation": "decompress"},
                              "inputs": [{"shape": [1], "datatype": "BYTES", "data": ["AAAA"]}]})
def test_fuzz_v2_json_bodies(client, model, body):
    check(client.post(f"/v2/models/{model}/infer", content=json.dumps(body).encode(),
                      headers={"content-type": "application/json"}))


@FUZZ
@given(request=well_formed())
def test_fuzz_well_formed_requests_with_random_values(client, request):
    model, body = request
    check(client.post(f"/v2/models/{model}/infer", json=body))


# ------------------------------------------------------------------------------------------------ binary bodies
@st.composite
def arrays(draw, sample: tuple[int, ...]):
    dtype = draw(st.sampled_from(["<f4", ">f8", "<f2", "<i2", "|u1", "|b1", "<c8", "<U2", "<i8"]))
    shape = draw(st.one_of(st.just(sample), st.integers(1, 4).map(lambda n: (n, *sample)),
                           st.sampled_from([(64,), (2, 64), (8, 8), (3, 8, 8), (1, 1, 8, 8), (5, 7), ()]),
                           st.lists(st.integers(0, 9), max_size=4).map(tuple)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([1.0, 16.0, 1e30, 1e300]))
    arr = (rng.standard_normal(shape) * scale)
    if draw(st.booleans()) and arr.size:
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))
    with np.errstate(all="ignore"):
        return arr.astype(dtype) if dtype != "<U2" else arr.astype(str).astype(dtype)


@st.composite
def images(draw):
    from PIL import Image

    fmt = draw(st.sampled_from(["PNG", "JPEG"]))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I;16", "LA"] if fmt == "PNG" else ["L", "RGB", "CMYK"]))
    w, h = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode if mode != "I;16" else "I")
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


csv_text = st.one_of(
    st.lists(st.lists(st.one_of(numbers.map(str), st.text("0123456789.-e+ nalbxy\"", max_size=6)), max_size=70),
             max_size=5).map(lambda rows: "\n".join(",".join(r) for r in rows)),
    st.text(max_size=300))


def mutate(draw, body: bytes) -> bytes:
    """``body`` as it is, truncated, or with a few bytes changed."""
    how = draw(st.sampled_from(["keep", "keep", "cut", "flip"]))
    if how == "cut" and body:
        return body[:draw(st.integers(0, len(body) - 1))]
    if how == "flip" and body:
        out = bytearray(body)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    return body


@st.composite
def binary_requests(draw):
    model = draw(st.sampled_from(MODELS))
    kind = draw(st.sampled_from(["npy", "npy", "image", "csv", "bytes", "stream", "json"]))
    body = {"npy": lambda: npy(draw(arrays(SAMPLE[model]))), "image": lambda: draw(images()),
            "csv": lambda: draw(csv_text).encode(errors="surrogatepass"),
            "bytes": lambda: draw(st.binary(max_size=3000)),
            "stream": lambda: None, "json": lambda: json.dumps(draw(v2_bodies)).encode()}[kind]()
    matching = {"npy": "application/x-npy", "image": "image/png", "csv": "text/csv", "bytes": "application/x-npy",
                "stream": "application/octet-stream", "json": "application/json"}[kind]
    ctype = draw(st.integers(0, 3).flatmap(lambda k: st.just(matching) if k < 3 else st.one_of(st.sampled_from(
        ["application/x-npy", "image/png", "image/jpeg", "text/csv; charset=utf-8", "application/octet-stream",
         "application/json", "text/plain", "", "multipart/form-data; boundary=x"]), st.text(max_size=12))))
    accept = draw(st.one_of(st.none(), st.sampled_from(
        ["application/json", "application/x-npy", "image/png", "text/csv", "application/octet-stream", "*/*",
         "image/*", "text/html", "application/x-npy;q=0.5, image/png"]), st.text(max_size=12)))
    op = draw(model_operation(model))
    query = draw(st.integers(0, 2).flatmap(lambda k: st.just({}) if k < 2 else st.dictionaries(
        st.sampled_from(["n", "seed", "output"]), st.one_of(st.integers(-3, 40).map(str), output_names,
                                                            st.text(max_size=5)), max_size=3)))
    return model, op, kind, body, ctype, accept, query


def _header_safe(value: str) -> bool:
    """What an HTTP client can send as a header value (httpx refuses the rest before any request)."""
    return value.isascii() and value.isprintable() and value == value.strip()


@FUZZ
@given(request=binary_requests(), data=st.data())
def test_fuzz_binary_routes(client, stream, request, data):
    model, op, kind, body, ctype, accept, query = request
    if body is None:
        body = mutate(data.draw, stream)
    elif kind in ("npy", "image"):
        body = mutate(data.draw, body)
    headers = {k: v for k, v in {"content-type": ctype, "accept": accept}.items() if v is not None and _header_safe(v)}
    check(client.post(f"/v2/models/{model}/{quote(op, safe='')}", content=body, headers=headers, params=query))


def test_fuzz_left_the_server_healthy(client):
    assert client.get("/v2/health/ready").json() == {"ready": True}
    x = digits()[0][:2]
    request = {"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": x.ravel().tolist()}]}
    assert client.post("/v2/models/table/infer", json=request).status_code == 200
