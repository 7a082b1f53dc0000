"""The baseline of benchmarks/serve.py: what a user would write without ``aekit serve`` — a bare FastAPI app
whose handler parses the same V2 JSON request and calls the same detector's ``anomaly_score`` directly.

    AEKIT_BASELINE_MODELS=table=runs/t,image=runs/i uvicorn serve_baseline:app --host 127.0.0.1 --port 8001

Torch runs single-threaded here as in ``aekit serve``, so that both servers get the same compute.
"""
import os

import numpy as np
from fastapi import FastAPI

import aekit

aekit.set_num_threads(1)
MODELS = {name: aekit.load(path) for name, path in
          (item.split("=", 1) for item in os.environ["AEKIT_BASELINE_MODELS"].split(","))}
app = FastAPI()


@app.post("/v2/models/{name}/infer")
def infer(name: str, body: dict) -> dict:
    tensor = body["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    scores = MODELS[name].anomaly_score(x)
    return {"model_name": name, "outputs": [{"name": "anomaly_score", "shape": [len(scores)], "datatype": "FP32",
                                             "data": scores.tolist()}]}


@app.get("/v2/health/ready")
def ready() -> dict:
    return {"ready": True}
