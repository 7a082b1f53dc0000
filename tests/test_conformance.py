"""Conformance over the estimator registry: every registered estimator, through every surface.

Each estimator declares tiny settings and a data family in ``_conformance`` (``{"data": family, "params":
{...}, "sklearn": [settings, ...], "expected_failures": {check: reason}}``) and its operations in
``operations`` (:mod:`aekit.operations`). For every name in :func:`aekit.estimators.list_estimators` this
suite runs scikit-learn's checks (with the declared settings, where declared), fits it once (module cache),
saves it, and checks that ``aekit.load`` gives identical outputs and that every declared operation answers
through Python, through ``aekit apply`` (its ``main()`` in-process; one real subprocess in all) and over
HTTP (the real app through FastAPI's TestClient), each refusing a malformed input with a clear error (a 4xx
JSON over HTTP). ``ProbeReducer`` below is registered in this file only and gets all of it.
"""
from __future__ import annotations

import atexit
import base64
import copy
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import aekit
from aekit.cli import main
from aekit.estimators import Reducer, estimator_class, list_estimators, register_estimator
from aekit.operations import Operation, declared_operations, declared_specs

ROOT = Path(__file__).resolve().parents[1]


# A Reducer registered by this test file only, with one more operation: the suite serves, saves, loads and
# applies it like any estimator of the package (see test_an_estimator_registered_in_a_test_file_...). No
# docstring of its own: it shows Reducer's (tests over the registry in other files read it).
@register_estimator("conformance-probe")
class ProbeReducer(Reducer):
    operations = (Operation("norm", "samples", ("norm",), "the length of each code",
                            lambda est, x: np.linalg.norm(est.transform(x), axis=1)),)


ESTIMATORS = list_estimators()
FAMILIES = ("table", "labelled-table", "images", "segmentation", "photos", "series", "domains", "clips")


# ------------------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=None)
def family(name: str) -> dict:
    """A tiny data set of a family: what fit takes (``fit``: args) and inputs for each kind of operation."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, images, y = d.data[:150].astype(np.float32), d.images[:150].astype(np.float32), d.target[:150]
    rng = np.random.default_rng(0)
    if name in ("table", "labelled-table"):
        return {"fit": (X, y) if name == "labelled-table" else (X,), "samples": X[150 - 4:]}
    if name == "images":
        return {"fit": (images[:100],), "samples": images[100:104], "images": images[100:102]}
    if name == "domains":           # two unpaired sets of images: digits, and other digits inverted
        return {"fit": (images[:50], 16 - images[50:100]), "samples": images[100:104]}
    if name == "segmentation":
        return {"fit": (images[:40], (images[:40] > 8).astype(np.int64)), "images": images[100:102]}
    if name == "photos":
        from scipy.ndimage import gaussian_filter

        photos = np.clip(gaussian_filter(rng.random((6, 32, 32, 3)), (0, 2, 2, 0)) * 2 - 0.5, 0, 1)
        return {"fit": (photos[:4].astype(np.float32),), "images": photos[4:].astype(np.float32)}
    if name == "series":
        t = np.arange(340)
        series = (np.sin(2 * np.pi * t / 25) + 0.05 * rng.normal(size=t.size))[:, None].astype(np.float32)
        return {"fit": (series[:300],), "series": series[300:]}
    if name == "clips":   # a bright square moving one pixel a frame: (n, T, C, H, W) clips, samples of 3 frames
        clips = np.zeros((6, 6, 1, 16, 16), np.float32)
        for i in range(6):
            for t in range(6):
                clips[i, t, 0, 4 + i % 3:8 + i % 3, 2 + t + i % 2:6 + t + i % 2] = 1
        return {"fit": (clips[:4],), "samples": clips[4:, :3]}
    raise ValueError(f"unknown data family {name!r}; known: {FAMILIES}")


def conformance(name: str) -> dict:
    conf = getattr(estimator_class(name), "_conformance", None)
    assert isinstance(conf, dict) and conf.get("data") in FAMILIES, (
        f"{name}: declare _conformance = {{'data': one of {FAMILIES}, 'params': {{tiny fast settings}}}}")
    return conf


_ROOT = Path(tempfile.mkdtemp(prefix="aekit-conformance-"))
atexit.register(shutil.rmtree, _ROOT, True)


@functools.lru_cache(maxsize=None)
def fitted(name: str):
    """(the estimator fitted once on its family's data, its saved folder)."""
    conf = conformance(name)
    est = estimator_class(name)(**conf.get("params", {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(*family(conf["data"])["fit"])
    return est, est.save(_ROOT / name)


def inputs(obj, op_name: str):
    """A good input of the operation ``op_name`` of ``obj`` (from its family's data), and options."""
    conf, ops = conformance(_registered_name(obj)), declared_operations(obj)
    op, data = ops[op_name], family(conf["data"])
    if op.takes == "count":
        return 3, {"seed": 7}
    if op.takes == "streams":       # what the model's own compressing operation writes
        maker = next(o for o in ops.values() if "stream" in o.outputs)
        return list(maker(inputs(obj, maker.name)[0])["stream"]), {}
    assert op.takes in data, f"{conf['data']} data has no {op.takes} for operation {op_name!r}"
    return data[op.takes], {}


def malformed(obj, op_name: str):
    """An input the operation must refuse, and a word its error must hold."""
    op = declared_operations(obj)[op_name]
    if op.takes == "count":
        return 0, "number of samples"
    if op.takes == "streams":
        return [b"not an aekit stream"], "stream"
    if op.takes == "images":
        return np.zeros((1, 8, 8, 2), np.float32), "shape"       # two channels: no model takes them
    x = np.asarray(inputs(obj, op_name)[0])
    if op.takes == "series":
        return np.zeros((len(x), x.shape[1] + 1), np.float32), "shape"
    return x[..., :-1], "shape"                                  # one value short per sample


def _registered_name(obj) -> str:
    return type(obj).name


def rows(obj, op_name: str, x) -> int:
    return int(x) if declared_operations(obj)[op_name].takes == "count" else len(x)


def assert_same(a, b, what: str, exact: bool = False):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        assert [bytes(v) for v in a.ravel()] == [bytes(v) for v in b.ravel()], what
    elif a.dtype.kind == "f" and not exact:
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def fresh(name: str):
    """The saved folder loaded anew (a stateful operation moves a model's own state on)."""
    return aekit.load(fitted(name)[1])


# ------------------------------------------------------------------------------------------------ declarations
@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_declares_operations_and_test_settings(name):
    conf = conformance(name)
    specs = declared_specs(estimator_class(name))
    assert specs, f"{name} declares no operations"
    for op in specs.values():
        assert op.doc and op.outputs, f"{name}.{op.name}: a one-line doc and named outputs"
    est = estimator_class(name)(**conf.get("params", {}))
    est._check_params()                                           # the declared settings are valid


# ------------------------------------------------------------------------------------------------ scikit-learn
def _sklearn_instances():
    out = []
    for name in ESTIMATORS:
        conf = conformance(name)
        out += [estimator_class(name)(**params) for params in conf.get("sklearn", [])]
    return out


def _expected_failed_checks(estimator):
    return getattr(type(estimator), "_conformance", {}).get("expected_failures", {})


@parametrize_with_checks(_sklearn_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------------------------------ Python
@pytest.mark.parametrize("name", ESTIMATORS)
def test_save_then_load_gives_identical_outputs(name):
    est, folder = fitted(name)
    loaded = aekit.load(folder)
    assert type(loaded) is type(est)
    before, after = declared_operations(copy.deepcopy(est)), declared_operations(loaded)
    assert list(after) == list(before)
    for op in after:
        x, options = inputs(loaded, op)
        want, got = before[op](x, **options), after[op](x, **options)
        for key in want:
            assert_same(got[key], want[key], f"{name}.{op} {key} after save/load", exact=True)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_operation_through_python(name):
    check_python(name)


def check_python(name: str) -> None:
    obj = fresh(name)
    for op_name, op in declared_operations(obj).items():
        x, options = inputs(obj, op_name)
        out = op(x, **options)
        assert list(out) == op.outputs, f"{name}.{op_name}"
        for key, value in out.items():
            assert len(value) == rows(obj, op_name, x), f"{name}.{op_name} {key}: one row per input row"
        bad, word = malformed(obj, op_name)
        with pytest.raises(ValueError, match=word) as info:
            op(bad)
        assert op_name in str(info.value) or word == "stream", f"{name}.{op_name}: the error names the operation"


# ------------------------------------------------------------------------------------------------ aekit apply
@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_operation_through_aekit_apply(name, tmp_path, capsys):
    check_apply(name, tmp_path, capsys)


def _write_input(obj, op_name: str, x, folder: Path) -> list[str]:
    op = declared_operations(obj)[op_name]
    folder.mkdir(parents=True, exist_ok=True)
    if op.takes == "count":
        return [str(x)]
    if op.takes == "streams":
        for i, s in enumerate(x):
            (folder / f"{i:03d}.aek").write_bytes(s)
        return [str(folder)]
    np.save(folder / "input.npy", np.asarray(x, dtype=np.float32))
    return [str(folder / "input.npy")]


def check_apply(name: str, tmp_path: Path, capsys) -> None:
    folder = str(fitted(name)[1])
    assert main(["apply", folder]) == 0                                   # the table, as JSON
    for op_name, op in declared_operations(fresh(name)).items():
        obj = fresh(name)
        x, options = inputs(obj, op_name)
        want = declared_operations(obj)[op_name](x, **options)
        args = _write_input(obj, op_name, x, tmp_path / op_name)
        seed = ["--seed", str(options["seed"])] if "seed" in options else []
        out = tmp_path / f"{op_name}-out"
        assert main(["apply", folder, op_name, *args, "--out", str(out), *seed, "--quiet"]) == 0, \
            capsys.readouterr().err
        for key, value in want.items():
            if value.dtype.kind == "O":
                got = [(out / f"{key}-{i:03d}.aek").read_bytes() for i in range(len(value))]
                assert got == list(value), f"{name}.{op_name} {key} through aekit apply"
            else:
                assert_same(np.load(out / f"{key}.npy"), value, f"{name}.{op_name} {key} through aekit apply")
        bad, word = malformed(obj, op_name)
        capsys.readouterr()
        args = _write_input(obj, op_name, bad, tmp_path / f"{op_name}-bad")
        assert main(["apply", folder, op_name, *args, "--out", str(tmp_path / f"{op_name}-bad.npz")]) == 2
        err = capsys.readouterr().err
        assert "aekit apply: error:" in err and word in err, f"{name}.{op_name}: {err}"


def test_aekit_apply_runs_as_a_command(tmp_path):
    """The one real subprocess: ``python -m aekit apply`` writes what the Python operation gives."""
    obj = fresh("reducer")
    x = inputs(obj, "encode")[0]
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "aekit.cli", "apply", str(fitted("reducer")[1]), "encode",
                           str(tmp_path / "x.npy"), "--out", str(tmp_path / "codes.npy")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_same(np.load(tmp_path / "codes.npy"), declared_operations(obj)["encode"](x)["code"], "aekit apply")


# ------------------------------------------------------------------------------------------------ HTTP
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from aekit.serve.app import create_app, load_models

    models = load_models({name: str(fitted(name)[1]) for name in ESTIMATORS})
    with TestClient(create_app(models)) as c:
        yield c


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_operation_over_http(name, client):
    check_http(name, client)


def _request(obj, op_name: str, x, options: dict) -> dict:
    op = declared_operations(obj)[op_name]
    params = {"operation": op_name}
    if op.takes == "count":
        return {"parameters": {**params, "n": x, **options}}
    if op.takes == "streams":
        data = [base64.b64encode(bytes(s)).decode() for s in x]
        return {"inputs": [{"name": "input", "shape": [len(data)], "datatype": "BYTES", "data": data}],
                "parameters": params}
    a = np.asarray(x, dtype=np.float32)
    return {"inputs": [{"name": "input", "shape": list(a.shape), "datatype": "FP32", "data": a.ravel().tolist()}],
            "parameters": params}


def check_http(name: str, client) -> None:
    meta = client.get(f"/v2/models/{name}").json()
    assert list(meta["operations"]) == list(declared_operations(fresh(name))), name
    page = next(m for m in client.get("/explorer/models").json() if m["name"] == name)   # the explorer's view
    assert page["operation_details"] == meta["operation_details"], name
    for op_name in meta["operations"]:
        obj = fresh(name)
        x, options = inputs(obj, op_name)
        want = declared_operations(obj)[op_name](x, **options)
        r = client.post(f"/v2/models/{name}/infer", json=_request(obj, op_name, x, options))
        assert r.status_code == 200, f"{name}.{op_name}: {r.text[:500]}"
        for o in r.json()["outputs"]:
            value = want[o["name"]]
            got = [base64.b64decode(s) for s in o["data"]] if o["datatype"] == "BYTES" else \
                np.asarray(o["data"]).reshape(o["shape"])
            assert_same(got if o["datatype"] != "BYTES" else np.array(got, dtype=object), value,
                        f"{name}.{op_name} {o['name']} over HTTP")
        bad, _ = malformed(obj, op_name)
        r = client.post(f"/v2/models/{name}/infer", json=_request(obj, op_name, bad, {}))
        assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/json", \
            f"{name}.{op_name}: {r.status_code} {r.text[:300]}"
        assert r.json()["error"], f"{name}.{op_name}"


# ------------------------------------------------------------------------------------------------ a new estimator
def test_an_estimator_registered_in_a_test_file_gets_every_surface(client, tmp_path, capsys):
    """ProbeReducer (registered above, nothing else changed) is in the registry, so every test above ran
    on it too; here its own operation is checked on every surface explicitly."""
    assert "conformance-probe" in list_estimators()
    assert isinstance(fresh("conformance-probe"), ProbeReducer)          # save -> aekit.load
    assert set(declared_operations(fresh("conformance-probe"))) == {"encode", "reconstruct", "norm"}
    check_python("conformance-probe")
    check_apply("conformance-probe", tmp_path, capsys)
    check_http("conformance-probe", client)
