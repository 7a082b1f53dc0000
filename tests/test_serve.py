"""``aekit serve``: every route through FastAPI's TestClient against tiny real models (answers equal to calling
the model directly), every limit refused with a JSON error naming the field, the micro-batcher, and one real
server in a subprocess (concurrent requests batched, graceful shutdown on SIGTERM)."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
from fastapi.testclient import TestClient  # noqa: E402

import aekit  # noqa: E402
from aekit.cli import main  # noqa: E402
from aekit.serve.app import create_app, load_models  # noqa: E402
from aekit.serve.batching import Batcher, QueueFull, Runner  # noqa: E402
from aekit.serve.limits import ServeSettings  # noqa: E402
from aekit.serve.models import Operation, load_served  # noqa: E402
from tests.serve_helpers import digits, model_folders, npy, outputs, png, sine, v2  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NPY = {"content-type": "application/x-npy"}
SLOW = {"content-type": "application/x-npy", "accept": "application/x-npy"}


@pytest.fixture(scope="module")
def folders():
    return model_folders()


@pytest.fixture(scope="module")
def models(folders):
    return load_models({name: str(path) for name, path in folders.items()})


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models)) as c:
        yield c


def make_client(models, **limits) -> TestClient:
    return TestClient(create_app(models, ServeSettings(**limits)))


def error(response, status: int) -> dict:
    """The JSON error of a refused request, checked to have the documented shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"] and "field" in body, body
    return body


# ------------------------------------------------------------------------------------------------ models
def test_load_served_lists_what_each_folder_can_do(models):
    detector = {"detect", "score", "reconstruct", "encode"}
    want = {"table": detector, "image": detector,
            "codec": {"compress", "decompress", "reconstruct", "encode"}, "restorer": {"restore"},
            "generator": {"sample", "encode"}, "trained": {"encode", "reconstruct"},
            "series": {"score", "reconstruct", "update"}}
    for name, ops in want.items():
        assert set(models[name].operations) == ops, name
    assert models["table"].sample_shape == (64,) and models["table"].kind == "table"
    assert models["image"].sample_shape == (8, 8) and models["image"].image_axes == "HW"
    assert models["image"].value_range == (0.0, 16.0)
    assert models["restorer"].sample_shape == (-1, -1)
    assert models["trained"].sample_shape == (1, 8, 8) and models["trained"].image_axes == "CHW"
    assert models["table"].threshold == pytest.approx(aekit.load(models["table"].folder).threshold_)
    assert models["series"].kind == "series" and models["series"].sample_shape == (1,)    # rows of one channel
    assert not models["series"].operations["update"].batched and models["series"].operations["update"].stateful
    assert models["table"].operations["score"].lighter is models["table"].operations["detect"]


def test_a_series_detector_scores_series_and_keeps_each_models_stream(folders):
    """``update`` moves the served model's own stream on (requests in order, never batched); ``score`` reads
    a series as the stream's continuation without keeping it; a (C, window) sample is no series."""
    chunks = sine(400)[300:340], sine(400)[340:380]
    python = aekit.load(folders["series"])
    want_score = python.anomaly_score(chunks[1])
    want = [python.update(c) for c in chunks]
    with TestClient(create_app(load_models({"a": str(folders["series"]), "b": str(folders["series"])}))) as c:
        got = [outputs(c.post("/v2/models/a/update", content=npy(ch), headers=NPY))["anomaly_score"]
               for ch in chunks]
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9)
        fresh = outputs(c.post("/v2/models/b/score", content=npy(chunks[1][:, 0]), headers=NPY))   # (T,) is fine
        np.testing.assert_allclose(fresh["anomaly_score"], want_score, rtol=1e-6, atol=1e-9)     # b's own stream
        csv = "\n".join(f"{v:.9g}" for v in chunks[0][:, 0])
        assert len(outputs(c.post("/v2/models/a/score", content=csv, headers={"content-type": "text/csv"}))[
            "anomaly_score"]) == 40
        body = error(c.post("/v2/models/a/score", content=npy(np.zeros((40, 2))), headers=NPY), 400)
        assert body["expected"] == [-1, 1]


def test_pretrained_models_load_and_serve_by_name(tmp_path):
    from aekit.cli.serve import model_folders as serve_folders

    codec = aekit.load("pretrained:codec-photo")
    assert type(codec).__name__ == "ImageCodec"
    folders = serve_folders(["pretrained:codec-photo", "den=pretrained:denoise-photo"])
    assert list(folders) == ["codec-photo", "den"]
    served = load_served("pretrained:codec-photo")
    assert served.name == "codec-photo" and set(served.operations) == {"compress", "decompress", "reconstruct"}
    img = np.random.default_rng(0).random((1, 24, 40, 3), dtype=np.float32)
    with TestClient(create_app([served])) as c:
        one = c.post("/v2/models/codec-photo/compress", content=npy(img),
                     headers={**NPY, "accept": "application/octet-stream"}).content
        assert one == codec.compress(img)[0]


def test_a_fitted_folder_records_its_dataset_so_the_explorer_maps_it(tmp_path):
    from aekit.serve.explorer import ModelView

    out = tmp_path / "det"
    assert main(["fit", "anomaly-detector", "--data", "digits", "--limit", "200", "--param", "epochs=1",
                 "--param", "min_steps=0", "--param", "latent_dim=2", "--param", "n_estimators=1", "--quiet",
                 "--out", str(out)]) == 0
    assert aekit.load(out).autoencoder_.metadata["fitted_on"]["dataset"] == "digits"
    view = ModelView(load_served(out))
    assert view.info()["map_sources"] == ["digits"]
    found = view.code_map()
    assert found["available"] and found["source"] == "digits" and len(found["points"]) == 1000


def test_health_metadata_and_model_list(client, models):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "aekit"
    assert client.get("/v2/models").json()["models"] == list(models)
    meta = client.get("/v2/models/image").json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8, 8]}]
    assert meta["task"] == "anomaly detection" and meta["threshold"] == models["image"].threshold
    assert meta["operation_details"]["score"]["outputs"] == ["anomaly_score", "is_anomaly", "error_map"]
    assert client.get("/v2/models/codec/ready").json() == {"name": "codec", "ready": True}
    body = error(client.get("/v2/models/nope"), 404)
    assert "nope" in body["error"] and body["expected"] == list(models)


# ------------------------------------------------------------------------------------------------ V2 JSON
def test_v2_infer_scores_like_the_detector_with_its_verdict(client, models):
    X, _, y = digits()
    x = X[:40]                                   # digits 0-9: the detector was trained on the 0s
    det = models["table"].obj
    r = client.post("/v2/models/table/infer", json=v2(x, id="req-1"))
    assert r.status_code == 200, r.text
    doc, out = r.json(), outputs(r)
    assert doc["model_name"] == "table" and doc["id"] == "req-1" and doc["parameters"]["threshold"] == det.threshold_
    assert [o["name"] for o in doc["outputs"]] == ["anomaly_score", "is_anomaly"]    # the default: detect
    np.testing.assert_allclose(out["anomaly_score"], det.anomaly_score(x), rtol=1e-6)
    assert (out["is_anomaly"] == (out["anomaly_score"] > det.threshold_)).all()
    assert out["is_anomaly"][y[:40] != 0].mean() > out["is_anomaly"][y[:40] == 0].mean()   # the verdict means it


def test_score_adds_the_error_map_unless_only_scores_are_asked_for(client, models):
    x = digits()[0][:3]
    full = outputs(client.post("/v2/models/table/infer", json=v2(x, parameters={"operation": "score"})))
    assert full["error_map"].shape == (3, 64)
    np.testing.assert_allclose(full["error_map"], models["table"].obj.error_map(x), rtol=1e-6)
    r = client.post("/v2/models/table/infer", json=v2(x, parameters={"operation": "score"},
                                                       outputs=[{"name": "anomaly_score"}]))
    assert [o["name"] for o in r.json()["outputs"]] == ["anomaly_score"]
    np.testing.assert_allclose(outputs(r)["anomaly_score"], full["anomaly_score"])


def test_v2_versions_route_and_other_datatypes(client, models):
    x = digits()[0][:2]
    ints = {"inputs": [{"name": "input", "shape": [2, 64], "datatype": "INT32", "data": x.astype(int).tolist()}]}
    r = client.post("/v2/models/table/versions/1/infer", json=ints)   # nested data and integers are fine
    np.testing.assert_allclose(outputs(r)["anomaly_score"], models["table"].obj.anomaly_score(x.astype(int)),
                               rtol=1e-6)
    error(client.post("/v2/models/table/versions/2/infer", json=ints), 404)


def test_trained_autoencoder_folder_encodes_and_reconstructs(client, models):
    x = digits()[1][:2, None]                    # (2, 1, 8, 8): the model layout of an `aekit train` folder
    trained = models["trained"].obj
    out = outputs(client.post("/v2/models/trained/infer", json=v2(x)))
    np.testing.assert_allclose(out["code"], trained.encode(x), rtol=1e-5, atol=1e-6)
    r = client.post("/v2/models/trained/reconstruct", content=npy(x), headers={**NPY, "accept": "application/x-npy"})
    np.testing.assert_allclose(np.load(io.BytesIO(r.content)), trained.reconstruct(x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------ binary routes
def test_npy_bodies_one_sample_or_a_batch(client, models):
    _, images, _ = digits()
    det = models["image"].obj
    one = outputs(client.post("/v2/models/image/detect", content=npy(images[5]), headers=NPY))
    batch = outputs(client.post("/v2/models/image/detect", content=npy(images[:6].astype(np.float64)), headers=NPY))
    np.testing.assert_allclose(batch["anomaly_score"], det.anomaly_score(images[:6]), rtol=1e-6)
    np.testing.assert_allclose(one["anomaly_score"], batch["anomaly_score"][5:], rtol=1e-6)


def test_png_and_jpeg_images_are_read_in_the_models_units(client, models):
    _, images, _ = digits()
    pixels = np.round(images[7] * 255 / 16).astype(np.uint8)            # the digit as an 8-bit grey image
    as_model = pixels.astype(np.float32) / 255 * 16                     # what the server must make of it
    det = models["image"].obj
    r = client.post("/v2/models/image/score", content=png(pixels), headers={"content-type": "image/png"})
    out = outputs(r)
    np.testing.assert_allclose(out["anomaly_score"], det.anomaly_score(as_model[None]), rtol=1e-5)
    assert out["error_map"].shape == (1, 8, 8)
    rgb = np.repeat(pixels[..., None], 3, axis=2)                         # colour: converted to grey, said so
    r = client.post("/v2/models/image/detect", content=png(rgb, "JPEG"), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    wrong_size = error(client.post("/v2/models/image/detect", content=png(np.zeros((9, 8), np.uint8)),
                                   headers={"content-type": "image/png"}), 400)
    assert "8x9" in wrong_size["error"] and "8x8" in wrong_size["error"]
    assert error(client.post("/v2/models/table/detect", content=png(pixels),
                             headers={"content-type": "image/png"}), 415)["field"] == "Content-Type"


def test_answers_by_accept_npy_png_csv(client, models):
    _, images, _ = digits()
    det = models["image"].obj
    r = client.post("/v2/models/image/reconstruct", content=npy(images[:2]),
                    headers={**NPY, "accept": "application/x-npy"})
    assert r.headers["content-type"] == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(r.content)), det.reconstruct(images[:2]), rtol=1e-5, atol=1e-5)
    r = client.post("/v2/models/image/reconstruct", content=npy(images[0]), headers={**NPY, "accept": "image/png"})
    from PIL import Image

    drawn = np.asarray(Image.open(io.BytesIO(r.content)), dtype=np.float32)
    want = np.clip(det.reconstruct(images[:1])[0] / 16, 0, 1) * 255
    assert drawn.shape == (8, 8) and np.abs(drawn - want).max() <= 1
    r = client.post("/v2/models/image/score?output=error_map", content=npy(images[0]),
                    headers={**NPY, "accept": "image/png"})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    error(client.post("/v2/models/image/reconstruct", content=npy(images[:2]), headers={**NPY, "accept": "image/png"}),
          406)                                                           # two images do not fit one PNG
    error(client.post("/v2/models/image/detect", content=npy(images[0]), headers={**NPY, "accept": "text/html"}), 406)
    text = client.post("/v2/models/image/detect", content=npy(images[:3]), headers={**NPY, "accept": "text/csv"}).text
    lines = text.strip().splitlines()
    assert lines[0] == "anomaly_score,is_anomaly" and len(lines) == 4


def test_csv_rows_with_a_header_and_a_label_column(client, models):
    X, _, y = digits()
    rows = "\n".join(",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(X[:5], y[:5]))
    header = ",".join(f"pixel{i}" for i in range(64)) + ",label"
    r = client.post("/v2/models/table/detect", content=f"{header}\n{rows}\n\n", headers={"content-type": "text/csv"})
    np.testing.assert_allclose(outputs(r)["anomaly_score"], models["table"].obj.anomaly_score(X[:5]), rtol=1e-6)
    body = error(client.post("/v2/models/table/detect", content="1,2,3\n", headers={"content-type": "text/csv"}), 400)
    assert body["error"].startswith("CSV line 1: 3 values, expected 64")
    two_rows = ",".join(["1"] * 64) + "\n" + ",".join(["1"] * 63 + ["x"])
    body = error(client.post("/v2/models/table/detect", content=two_rows, headers={"content-type": "text/csv"}), 400)
    assert body["field"] == "line 2" and "value 64: 'x' is not a number" in body["error"]


def test_compress_and_decompress_streams(client, models):
    _, images, _ = digits()
    codec = models["codec"].obj
    r = client.post("/v2/models/codec/compress", content=npy(images[:3]), headers=NPY)
    streams = r.json()["outputs"][0]
    assert streams["datatype"] == "BYTES" and streams["shape"] == [3]
    assert [base64.b64decode(s) for s in streams["data"]] == codec.compress(images[:3])
    request = {"inputs": [{"name": "input", "shape": [3], "datatype": "BYTES", "data": streams["data"]}],
               "parameters": {"operation": "decompress"}}
    back = outputs(client.post("/v2/models/codec/infer", json=request))["reconstruction"]
    np.testing.assert_allclose(back, codec.decompress(codec.compress(images[:3])), rtol=1e-5, atol=1e-5)
    one = client.post("/v2/models/codec/compress", content=npy(images[0]),
                      headers={**NPY, "accept": "application/octet-stream"}).content
    assert one == codec.compress(images[:1])[0]
    raw = client.post("/v2/models/codec/decompress", content=one, headers={"content-type": "application/octet-stream",
                                                                           "accept": "application/x-npy"})
    np.testing.assert_allclose(np.load(io.BytesIO(raw.content)), back[:1], rtol=1e-5, atol=1e-5)
    broken = error(client.post("/v2/models/codec/decompress", content=one[:-1] + bytes([one[-1] ^ 1]),
                               headers={"content-type": "application/octet-stream"}), 422)
    assert "checksum" in broken["error"]


def test_restore_takes_images_of_any_size(client, models):
    rest = models["restorer"].obj
    img = np.random.default_rng(0).random((20, 30), dtype=np.float32) * 16
    r = client.post("/v2/models/restorer/restore", content=npy(img), headers={**NPY, "accept": "application/x-npy"})
    np.testing.assert_allclose(np.load(io.BytesIO(r.content)), rest.restore(img)[None], rtol=1e-5, atol=1e-5)


def test_sample_with_a_seed_or_a_drawn_one(client, models):
    gen = models["generator"].obj
    r = client.post("/v2/models/generator/sample?n=3&seed=5", headers={"accept": "application/x-npy"})
    np.testing.assert_allclose(np.load(io.BytesIO(r.content)), gen.sample(3, random_state=5), rtol=1e-6)
    doc = client.post("/v2/models/generator/infer", json={"parameters": {"operation": "sample", "n": 2}}).json()
    again = client.post("/v2/models/generator/infer", json={"parameters": {"operation": "sample", "n": 2,
                                                                            "seed": doc["parameters"]["seed"]}})
    assert again.json()["outputs"] == doc["outputs"]                      # the answer names its seed: reproducible
    for n in (0, 10**6, "two"):
        body = error(client.post("/v2/models/generator/infer", json={"parameters": {"operation": "sample", "n": n}}),
                     400)
        assert body["field"] == "parameters.n" and "1 to 1024" in body["error"]


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("request_body, field, words", [
    ({"inputs": [{"name": "input", "shape": [1, 7], "datatype": "FP32", "data": [0] * 7}]}, "inputs[0].shape",
     ["[1, 7]", "expected [n, 64]"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 63}]}, "inputs[0].data",
     ["63 values", "needs 64"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP99", "data": [0] * 64}]}, "inputs[0].datatype",
     ["FP99"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ["1"] * 64}]}, "inputs[0].data",
     ["not numbers"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "INT8", "data": [300] * 64}]}, "inputs[0].data",
     ["outside the range of INT8"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1e39] * 64}]}, "inputs[0].data",
     ["64 NaN or infinite"]),
    ({"inputs": [{"name": "input", "shape": [0, 64], "datatype": "FP32", "data": []}]}, "inputs[0].shape",
     ["at least one sample"]),
    ({"inputs": []}, "inputs", ["list of one tensor"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}],
      "parameters": {"operation": "fly"}}, "parameters.operation", ["no operation 'fly'", "detect"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}],
      "outputs": [{"name": "colour"}]}, "outputs[0].name", ["no output 'colour'"]),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP16", "data": [1e5] * 64}]}, "inputs[0].data",
     ["NaN or infinite"]),
    ([1, 2], "body", ["JSON list"]),
], ids=["shape", "count", "datatype", "strings", "int-range", "non-finite", "empty", "no-inputs", "operation",
        "output", "fp16-range", "not-an-object"])
def test_bad_v2_requests_are_400_naming_the_field(client, request_body, field, words):
    body = error(client.post("/v2/models/table/infer", json=request_body), 400)
    assert body["field"] == field, body
    for w in words:
        assert w in body["error"], body


def test_bad_bodies_and_types(client):
    assert error(client.post("/v2/models/table/infer", content=b"{not json"), 400)["field"] == "body"
    body = error(client.post("/v2/models/table/infer", content=b"[" * 100_000), 400)     # deeper than Python recurses
    assert "not valid JSON" in body["error"]
    deep = b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": ' + b"[" * 80 + b"1" + b"]" * 80 + b"}]}"
    assert "nested" in error(client.post("/v2/models/table/infer", content=deep), 400)["error"]   # numpy's 64 dims
    body = error(client.post("/v2/models/table/detect", content=b"\x93NUMPY garbage", headers=NPY), 400)
    assert "not a .npy array" in body["error"]
    body = error(client.post("/v2/models/table/detect", content=npy(np.zeros((2, 5))), headers=NPY), 400)
    assert body["received"] == [2, 5] and body["expected"] == [-1, 64]
    error(client.post("/v2/models/table/detect", content=npy(np.array(["a"] * 64)), headers=NPY), 415)
    truncated = npy(np.zeros((2, 64), np.float32))[:-8]
    assert "promises 512 data bytes" in error(client.post("/v2/models/table/detect", content=truncated,
                                                          headers=NPY), 400)["error"]
    body = error(client.post("/v2/models/table/detect", content=b"1,2", headers={"content-type": "text/plain"}), 415)
    assert "text/csv" in body["expected"]
    error(client.post("/v2/models/image/detect", content=b"\x89PNG\r\n\x1a\n broken",
                      headers={"content-type": "image/png"}), 400)
    error(client.post("/v2/models/table/fly", content=npy(np.zeros(64)), headers=NPY), 404)
    assert "error" in client.get("/v2/models/table/infer").json()           # wrong method: the same error shape


def test_size_limits_are_413_naming_the_limit(models):
    with make_client(models, max_body_bytes=1000, max_values=500, max_image_pixels=50) as c:
        body = error(c.post("/v2/models/table/infer", json=v2(np.zeros((8, 64)))), 413)
        assert body["field"] == "body" and "max_body_bytes" in body["error"]
        chunks = iter([b"[" * 600, b"]" * 600])                              # no Content-Length: counted as it comes
        assert "max_body_bytes" in error(c.post("/v2/models/table/infer", content=chunks), 413)["error"]
        big = {"inputs": [{"name": "input", "shape": [10**9, 64], "datatype": "FP32", "data": []}]}
        body = error(c.post("/v2/models/table/infer", json=big), 413)
        assert body["field"] == "inputs[0].shape" and "max_values" in body["error"]
        body = error(c.post("/v2/models/image/detect", content=png(np.zeros((8, 8), np.uint8)),
                            headers={"content-type": "image/png"}), 413)
        assert "max_image_pixels" in body["error"] and body["received"] == 64


def test_a_slow_request_times_out_with_504_and_the_server_goes_on(models):
    x = np.random.default_rng(0).random((20000, 64), dtype=np.float32) * 16     # about a second of scoring
    with make_client(models, request_timeout_s=0.05) as c:
        body = error(c.post("/v2/models/table/score", content=npy(x), headers=NPY), 504)
        assert "request_timeout_s" in body["error"]
    with make_client(models) as c:
        assert c.post("/v2/models/table/detect", content=npy(x[:2]), headers=NPY).status_code == 200


def test_model_failures_are_500_and_refusals_422_and_the_worker_survives(models, folders):
    served = load_served(folders["table"], "broken")

    def explode(x):
        raise RuntimeError("the weights are on fire")

    def picky(x):
        if (x < 0).any():
            raise ValueError("negative values are not allowed")
        return {"picky": x.sum(axis=1)}

    served.operations = {"explode": Operation("explode", explode, "fails"), "picky": Operation("picky", picky, "")}
    with TestClient(create_app({"broken": served})) as c:
        body = error(c.post("/v2/models/broken/explode", content=npy(np.zeros(64)), headers=NPY), 500)
        assert "explode" in body["error"] and "the weights are on fire" in body["error"]
        body = error(c.post("/v2/models/broken/picky", content=npy(-np.ones(64)), headers=NPY), 422)
        assert "negative values are not allowed" in body["error"]
        assert outputs(c.post("/v2/models/broken/picky", content=npy(np.ones(64)), headers=NPY))["picky"] == [64]


def test_metrics_count_requests_errors_latency_and_batches(models):
    x = digits()[0][:4]
    with TestClient(create_app(models)) as c:
        for _ in range(3):
            c.post("/v2/models/table/infer", json=v2(x))
        c.post("/v2/models/table/infer", json=[1])
        for i in range(5):
            c.post(f"/v2/models/made-up-{i}/infer", json=v2(x))
        text = c.get("/metrics").text
    assert 'aekit_requests_total{model="table",operation="detect",status="200"} 3.0' in text
    assert 'aekit_request_errors_total{model="table",status="400"} 1.0' in text
    assert 'aekit_request_errors_total{model="",status="404"} 5.0' in text      # made-up names add no series
    assert "made-up" not in text
    assert 'aekit_request_seconds_count{model="table",operation="detect"} 3.0' in text
    assert 'aekit_batch_rows_sum{model="table",operation="detect"} 12.0' in text


def test_openapi_spec_documents_the_routes_and_bodies(client):
    spec = client.get("/openapi.json").json()
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert "inputs" in infer["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"400", "413", "504"} <= set(infer["responses"])
    binary = spec["paths"]["/v2/models/{name}/{operation}"]["post"]["requestBody"]["content"]
    assert {"application/x-npy", "image/png", "image/jpeg", "text/csv", "application/octet-stream"} <= set(binary)
    assert "/metrics" in spec["paths"] and "/v2/health/ready" in spec["paths"]


# ------------------------------------------------------------------------------------------------ micro-batching
def test_batcher_gathers_concurrent_requests_splits_answers_and_isolates_failures():
    calls = []

    def fn(x):
        calls.append(len(x))
        time.sleep(0.02)                  # while this call runs, the others queue up
        if (x < 0).any():
            raise ValueError("negative")
        return {"double": 2 * x[:, 0], "rows": x}

    async def scenario():
        runner = Runner("test")
        seen = []
        b = Batcher(fn, runner, max_batch=8, max_wait=0.002, max_queue=100,
                    on_batch=lambda rows, n: seen.append((rows, n)))
        await b.submit(np.zeros((1, 3)))                        # alone: leaves at once
        xs = [np.full((1 + i % 2, 3), float(i)) for i in range(10)]
        xs[6] = -xs[6]
        results = await asyncio.gather(*(b.submit(x) for x in xs), return_exceptions=True)
        runner.close()
        return xs, results, seen

    xs, results, seen = asyncio.run(scenario())
    for i, (x, r) in enumerate(zip(xs, results)):
        if i == 6:
            assert isinstance(r, ValueError)                    # only the bad request fails
        else:
            np.testing.assert_array_equal(r["double"], 2 * x[:, 0])
            np.testing.assert_array_equal(r["rows"], x)
    assert seen[0] == (1, 1)
    assert max(n for _, n in seen) > 1 and max(rows for rows, _ in seen) <= 8
    assert sum(rows for rows, _ in seen) == 1 + sum(len(x) for x in xs)      # every row ran once in a batch
    assert sum(calls) > 1 + sum(len(x) for x in xs)             # the failed batch ran again, request by request


def test_batcher_refuses_when_the_queue_is_full():
    async def scenario():
        runner = Runner("test")
        b = Batcher(lambda x: (time.sleep(0.05), {"y": x})[1], runner, max_batch=4, max_wait=0, max_queue=3)
        first = asyncio.ensure_future(b.submit(np.zeros((2, 1))))
        await asyncio.sleep(0.01)                                # the first call is running
        second = asyncio.ensure_future(b.submit(np.zeros((2, 1))))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="max_queue=3"):
            await b.submit(np.zeros((2, 1)))
        await asyncio.gather(first, second)
        runner.close()

    asyncio.run(scenario())


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_batch=0 must be a positive integer"):
        ServeSettings(max_batch=0)
    with pytest.raises(ValueError, match="request_timeout_s=0 must be > 0"):
        ServeSettings(request_timeout_s=0)


# ------------------------------------------------------------------------------------------------ the command
def test_serve_command_refuses_bad_folders_with_one_line(tmp_path, folders, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "no such model folder" in capsys.readouterr().err
    assert main(["serve", f"a={folders['table']}", f"a={folders['image']}"]) == 2
    assert "two folders are named 'a'" in capsys.readouterr().err
    assert main(["serve", str(tmp_path)]) == 2                  # an empty folder is no model
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metric(text: str, name: str, **labels) -> float:
    """The value of the Prometheus sample ``name`` with these labels (0 when absent)."""
    for line in text.splitlines():
        found = re.fullmatch(re.escape(name) + r"(?:\{(.*)\})? (\S+)", line)
        if found and dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or "")) == labels:
            return float(found.group(2))
    return 0.0


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.e2e   # a real server process: its start-up (imports, the ONNX choice at load) alone takes seconds
def test_live_server_batches_concurrent_requests_and_stops_gracefully(folders):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "aekit.cli", "serve", str(folders["table"]), "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        def ready():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            try:
                return http(f"{base}/v2/health/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 90, "the server to be ready")
        slow = npy(np.random.default_rng(0).random((30000, 64), dtype=np.float32) * 16)   # ~1 s on the model thread
        rows = digits()[0][:8]

        def in_flight(n):
            return lambda: metric(http(f"{base}/metrics", timeout=5)[1].decode(), "aekit_requests_in_flight") >= n

        # 1. eight single-row requests queued behind a slow one leave in one batch
        results: dict = {}
        threads = [threading.Thread(target=lambda: results.__setitem__("slow", http(
            f"{base}/v2/models/table/score?output=error_map", slow, SLOW)))]
        threads[0].start()
        wait_for(in_flight(1), 30, "the slow request")
        for i in range(8):
            body = json.dumps(v2(rows[i:i + 1])).encode()
            threads.append(threading.Thread(target=lambda i=i, body=body: results.__setitem__(i, http(
                f"{base}/v2/models/table/infer", body, {"content-type": "application/json"}))))
            threads[-1].start()
        for t in threads:
            t.join(timeout=120)
        assert all(results[k][0] == 200 for k in ["slow", *range(8)]), results
        text = http(f"{base}/metrics")[1].decode()
        gathered = metric(text, "aekit_batch_requests_count", model="table", operation="detect") - metric(
            text, "aekit_batch_requests_bucket", le="1.0", model="table", operation="detect")
        assert gathered >= 1, text                               # a forward pass held more than one request
        assert metric(text, "aekit_batch_requests_sum", model="table", operation="detect") == 8

        # 2. SIGTERM while a request is in flight: it is answered, then the process exits 0
        done: dict = {}
        t = threading.Thread(target=lambda: done.update(answer=http(
            f"{base}/v2/models/table/score?output=error_map", slow, SLOW), at=time.monotonic()))
        t.start()
        wait_for(in_flight(1), 30, "the in-flight request")
        time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        t.join(timeout=120)
        assert done["answer"][0] == 200 and done["at"] > sent, done.get("answer", (None, b""))[1][:300]
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
