"""The model-folder format: the scaler saved with the model, no pickle, clear errors on damage. (Every
registered model's save -> load and ONNX parity are generic tests in tests/test_models.py.)"""
import json

import numpy as np
import pytest
import torch

from aekit.models import create_model, model_class
from aekit.persistence import ModelFileError, save_model
from aekit.persistence import load_autoencoder as load

SHAPE = (1, 8, 8)


def trained_like(name):
    torch.manual_seed(0)
    shape = SHAPE if "image" in model_class(name).input_kinds else model_class(name).example_input_shape
    model = create_model(name, input_shape=shape, latent_dim=4)
    with torch.no_grad():  # non-default values everywhere, as after training
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def test_scaler_is_saved_with_the_model(tmp_path):
    from aekit.data import Scaler

    X = np.random.default_rng(0).random((50, 10)).astype(np.float32) * 7 + 3
    scaler = Scaler("minmax").fit(X)
    model = create_model("mlp", input_shape=(10,), latent_dim=3, hidden=[8])
    save_model(tmp_path, model, scaler=scaler)
    loaded = load(tmp_path)
    np.testing.assert_allclose(loaded.scaler.transform(X), scaler.transform(X))
    assert loaded.reconstruct(X).shape == X.shape and loaded.encode(X).shape == (50, 3)


def test_weights_file_is_not_a_pickle(tmp_path):
    save_model(tmp_path, trained_like("mlp"))
    head = (tmp_path / "model.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    json.loads((tmp_path / "config.json").read_text())


def _damage(folder, how):
    cfg_path, w_path = folder / "config.json", folder / "model.safetensors"
    if how == "flip-byte":
        blob = bytearray(w_path.read_bytes())
        blob[-5] ^= 0xFF
        w_path.write_bytes(bytes(blob))
    elif how == "truncate":
        w_path.write_bytes(w_path.read_bytes()[:100])
    elif how == "missing-weights":
        w_path.unlink()
    elif how == "missing-config":
        cfg_path.unlink()
    elif how == "bad-json":
        cfg_path.write_text("{not json")
    elif how == "other-architecture":
        cfg = json.loads(cfg_path.read_text())
        cfg["params"]["latent_dim"] = 5
        cfg_path.write_text(json.dumps(cfg))
    elif how == "unknown-model":
        cfg = json.loads(cfg_path.read_text())
        cfg["model"] = "evil"
        cfg_path.write_text(json.dumps(cfg))
    elif how == "future-version":
        cfg = json.loads(cfg_path.read_text())
        cfg["format_version"] = 99
        cfg_path.write_text(json.dumps(cfg))
    elif how == "swapped-weights":  # weights of another model, checksum updated: shapes must still match
        other = create_model("mlp", input_shape=SHAPE, latent_dim=4, hidden=[16])
        save_model(folder / "other", other)
        w_path.write_bytes((folder / "other" / "model.safetensors").read_bytes())
        cfg = json.loads(cfg_path.read_text())
        cfg["weights_sha256"] = json.loads((folder / "other" / "config.json").read_text())["weights_sha256"]
        cfg_path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("how, match", [
    ("flip-byte", r"does not match config.json .*corrupted or replaced"),
    ("truncate", r"does not match config.json"),
    ("missing-weights", r"model.safetensors is missing"),
    ("missing-config", r"config.json is missing"),
    ("bad-json", r"not valid JSON"),
    ("other-architecture", r"does not fit the 'mlp' model"),
    ("unknown-model", r"cannot rebuild the model \(unknown model 'evil'"),
    ("future-version", r"format_version 99"),
    ("swapped-weights", r"does not fit the 'mlp' model"),
])
def test_damaged_folder_gets_clear_error(tmp_path, how, match):
    save_model(tmp_path, trained_like("mlp"))
    _damage(tmp_path, how)
    with pytest.raises(ModelFileError, match=match):
        load(tmp_path)


def test_not_a_folder(tmp_path):
    with pytest.raises(ModelFileError, match=r"no such directory"):
        load(tmp_path / "absent")
