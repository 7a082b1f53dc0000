"""One model folder, one aekit.load: every folder the library writes opens with it, older ones too, and
nothing the library writes is a pickle."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import aekit
from aekit.cli import main
from aekit.persistence import TrainedAutoencoder, read_kind

FIXTURES = Path(__file__).parent / "fixtures" / "v0.1.0"
PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")   # pickle protocol 2+; torch.save's zip container


def assert_no_pickle(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            head = f.read_bytes()[:4]
            assert not head.startswith(PICKLE_MAGIC), f"{f} looks like a pickle / torch.save file"
            assert f.suffix in (".json", ".safetensors", ".csv", ".html", ".png", ".npy"), f


def test_train_folder_opens_as_an_autoencoder_and_keeps_resume_state_apart(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--latent-dim", "4", "--epochs", "2",
                 "--limit", "300", "--out", str(out), "--quiet"]) == 0
    loaded = aekit.load(out)
    assert isinstance(loaded, TrainedAutoencoder) and read_kind(out) == "autoencoder"
    assert sorted(p.name for p in (out / "checkpoints").iterdir())[-1] == "state.json"
    assert_no_pickle(out)


def test_fit_anomaly_detector_folder_opens_as_the_detector(tmp_path):
    out = tmp_path / "det"
    assert main(["fit", "anomaly-detector", "--data", "digits", "--limit", "300", "--param", "epochs=2",
                 "--param", "min_steps=0", "--out", str(out)]) == 0
    det = aekit.load(out)
    assert isinstance(det, aekit.AnomalyDetector) and read_kind(out) == "estimator"
    X = load_digits().images[:20, None]          # the digits dataset's layout: (n, 1, 8, 8)
    assert det.predict(X).shape == (20,)
    assert_no_pickle(out)


def test_restorer_save_opens_as_the_restorer(tmp_path):
    X = load_digits().images[:60]
    est = aekit.Restorer(task="denoise", epochs=1, random_state=0).fit(X)
    est.save(tmp_path / "r")
    back = aekit.load(tmp_path / "r")
    assert isinstance(back, aekit.Restorer)
    np.testing.assert_array_equal(back.predict(X[:3]), est.predict(X[:3]))
    assert_no_pickle(tmp_path / "r")


def test_folders_of_aekit_0_1_0_still_load_with_identical_outputs():
    x = np.load(FIXTURES / "reducer_input.npy")
    reducer = aekit.load(FIXTURES / "reducer")
    assert isinstance(reducer, aekit.Reducer)
    # to float32 rounding: the thread count (aekit/threads.py adapts it to the load) changes the order of sums
    np.testing.assert_allclose(reducer.transform(x), np.load(FIXTURES / "reducer_codes.npy"), rtol=1e-5, atol=1e-6)
    trained = aekit.load(FIXTURES / "train")
    assert isinstance(trained, TrainedAutoencoder)
    # to float32 rounding: the thread count changes the order of BLAS sums
    np.testing.assert_allclose(trained.reconstruct(x.reshape(-1, 1, 8, 8)), np.load(FIXTURES / "train_recon.npy"),
                               rtol=1e-5, atol=1e-6)


def test_load_estimator_refuses_an_autoencoder_folder_with_a_clear_error():
    with pytest.raises(ValueError, match=r"holds an autoencoder, not an estimator.*aekit.load opens both"):
        aekit.load_estimator(FIXTURES / "train")


def test_transfer_weights_takes_a_folder(tmp_path):
    target = aekit.create_model("mlp", input_shape=(1, 8, 8), latent_dim=2, hidden=[8])
    copied = aekit.transfer_weights(FIXTURES / "train", target)
    assert copied and all(k.startswith("encoder.") for k in copied)
