"""OpenAPI descriptions of the routes whose bodies are read by hand (:mod:`aekit.serve.inputs`): the KServe V2
request and response, the binary bodies, and the error every refused request gets."""
from __future__ import annotations

TENSOR = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
    "name": {"type": "string", "example": "input"},
    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "example": [1, 64]},
    "datatype": {"type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                                            "INT64", "FP16", "FP32", "FP64", "BYTES"]},
    "data": {"type": "array", "description": "the values, flat in row-major order (BYTES: base64 strings)",
             "items": {}}}}
INFER_REQUEST = {"type": "object", "properties": {
    "id": {"type": "string"},
    "inputs": {"type": "array", "items": TENSOR, "minItems": 1, "maxItems": 1},
    "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    "parameters": {"type": "object", "properties": {
        "operation": {"type": "string", "description": "default: the model's first (GET /v2/models/{name})"},
        "n": {"type": "integer", "minimum": 1, "description": "sample: how many"},
        "seed": {"type": "integer", "minimum": 0, "description": "sample: the random seed (drawn when absent)"}}}}}
INFER_RESPONSE = {"type": "object", "properties": {
    "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string", "nullable": True},
    "parameters": {"type": "object"}, "outputs": {"type": "array", "items": TENSOR}}}
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "description": "what is wrong, naming the field, what came and what was expected"},
    "field": {"type": "string", "nullable": True}, "received": {}, "expected": {}}}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
ERRORS = {str(code): {"description": what, "content": {"application/json": {"schema": ERROR}}} for code, what in [
    (400, "a malformed request"), (404, "no such model or operation"), (406, "an answer type this route cannot give"),
    (413, "a body, array or image over the limits"), (415, "a body type this operation does not take"),
    (422, "the model refused the input"), (500, "the model failed"), (503, "the queue is full"),
    (504, "the request timed out")]}


def infer_spec() -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": INFER_REQUEST}}},
            "responses": {"200": {"description": "the outputs",
                                  "content": {"application/json": {"schema": INFER_RESPONSE}}}, **ERRORS}}


def operation_spec() -> dict:
    return {"requestBody": {"description": "samples as .npy (one sample or a batch), one PNG / JPEG image, CSV rows "
                                           "(one flattened sample per row, optional header), a .aek stream "
                                           "(decompress), a KServe V2 JSON request, or nothing (sample)",
                            "content": {"application/x-npy": _BINARY, "image/png": _BINARY, "image/jpeg": _BINARY,
                                        "text/csv": {"schema": {"type": "string"}},
                                        "application/octet-stream": _BINARY,
                                        "application/json": {"schema": INFER_REQUEST}}},
            "parameters": [
                {"name": "output", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "comma-separated outputs to answer with (default: all; .npy / PNG: the first)"},
                {"name": "n", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
                 "description": "sample: how many"},
                {"name": "seed", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
                 "description": "sample: the random seed"}],
            "responses": {"200": {"description": "by the Accept header: V2 JSON (default), .npy, PNG, CSV or the "
                                                 ".aek stream",
                                  "content": {"application/json": {"schema": INFER_RESPONSE},
                                              "application/x-npy": _BINARY, "image/png": _BINARY,
                                              "text/csv": {"schema": {"type": "string"}},
                                              "application/octet-stream": _BINARY}}, **ERRORS}}
