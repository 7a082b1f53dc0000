"""Video: the ``video`` data kind, clip files, Moving MNIST, the video models, VideoAnomalyDetector and
``aekit detect-video`` (a real video file made here with imageio)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit.data import DataError
from aekit.data.kinds import get_kind, infer_layout, kind_of
from aekit.data.video import ANOMALY_KINDS, load_clips, moving_digits, read_video


def small_digits() -> np.ndarray:
    """scikit-learn's 8x8 digits as 16x16 images in 0..240 (no download)."""
    from sklearn.datasets import load_digits

    return np.kron(load_digits().images, np.ones((2, 2))) * 15


def write_video(path, clip: np.ndarray) -> None:
    """A grey clip (T, H, W) in 0..255 as a real video file (mp4 through PyAV, gif through Pillow)."""
    iio = pytest.importorskip("imageio.v3")
    frames = clip.astype(np.uint8)
    if str(path).endswith(".gif"):
        iio.imwrite(path, frames)
    else:
        pytest.importorskip("av")
        iio.imwrite(path, np.repeat(frames[..., None], 3, axis=-1), plugin="pyav", codec="libx264", fps=10)


# ------------------------------------------------------------------------------------------------ the data kind
def test_video_kind_is_clips_of_frames():
    X, layout = infer_layout(np.zeros((2, 5, 3, 8, 8), np.float32))
    assert layout.kind == "video" and layout.model_shape == (5, 3, 8, 8) and X.shape == (2, 5, 3, 8, 8)
    assert kind_of((4, 1, 16, 16)) == "video"
    assert get_kind("video").default_scaler((0, 255)).method == "range"
    with pytest.raises(DataError, match="clips"):
        get_kind("video").check_shape((4, 16, 16))


def test_load_clips_reads_npy_layouts(tmp_path):
    cases = {(6, 8, 8): (1, 6, 1, 8, 8), (6, 3, 8, 8): (1, 6, 3, 8, 8), (6, 8, 8, 3): (1, 6, 3, 8, 8),
             (2, 6, 1, 8, 8): (2, 6, 1, 8, 8)}
    for shape, want in cases.items():
        np.save(tmp_path / "c.npy", np.ones(shape, np.uint8))
        x = load_clips(tmp_path / "c.npy")
        assert x.shape == want and x.dtype == np.float32, shape
    np.save(tmp_path / "bad.npy", np.ones((4, 4)))
    with pytest.raises(DataError, match=r"expected clips \(N, T, C, H, W\)"):
        load_clips(tmp_path / "bad.npy")
    with pytest.raises(DataError, match="not a video file"):
        read_video(tmp_path / "c.txt")


@pytest.mark.parametrize("suffix", [".gif", pytest.param(".mp4", marks=pytest.mark.e2e)])  # mp4: x264, seconds
def test_a_real_video_file_reads_as_a_grey_clip(tmp_path, suffix):
    clip = np.zeros((6, 16, 16))
    for t in range(6):
        clip[t, 4:10, t:t + 6] = 255
    write_video(tmp_path / f"c{suffix}", clip)
    x = read_video(tmp_path / f"c{suffix}")
    assert x.shape == (6, 1, 16, 16)
    assert np.abs(x[:, 0] - clip).mean() < 8          # lossy coding changes a few levels
    assert read_video(tmp_path / f"c{suffix}", channels=3, max_frames=2).shape == (2, 3, 16, 16)


def test_moving_digits_makes_bouncing_digits_and_labels_each_anomaly_kind():
    digits = small_digits()
    clips, labels = moving_digits(digits, 2, 10, size=32, speed=2, seed=0)
    assert clips.shape == (2, 10, 1, 32, 32) and labels.sum() == 0
    assert 0 <= clips.min() and clips.max() <= 255 and clips.reshape(20, -1).max(axis=1).min() > 0
    again, _ = moving_digits(digits, 2, 10, size=32, speed=2, seed=0)
    np.testing.assert_array_equal(clips, again)
    for kind in ANOMALY_KINDS:
        _, labels = moving_digits(digits, 3, 10, size=32, speed=2, anomaly_fraction=1, anomaly_kinds=(kind,), seed=1)
        per_clip = labels.sum(axis=1)
        assert (per_clip == (1 if kind in ("jump", "reverse") else 4)).all(), kind
    with pytest.raises(ValueError, match="anomaly_kinds"):
        moving_digits(digits, 1, anomaly_kinds=("melt",))


# ------------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name", ["conv3d-video", "next-frame"])
def test_video_models_give_clips_back(name):
    from aekit.models import create_model

    model = create_model(name, input_shape=(4, 1, 16, 16), latent_dim=8)
    x = torch.rand(3, 4, 1, 16, 16)
    out = model(x)
    assert out.recon.shape == x.shape and out.code.shape == (3, 8) and model.encode(x).shape == (3, 8)
    with pytest.raises(ValueError, match="divisible"):
        create_model(name, input_shape=(4, 1, 18, 18))


def test_next_frame_predicts_each_frame_from_the_frames_before_it_only():
    from aekit.models import create_model

    model = create_model("next-frame", input_shape=(5, 1, 16, 16), latent_dim=4, context=2).eval()
    x = torch.rand(1, 5, 1, 16, 16)
    y = x.clone()
    y[:, 3] = torch.rand(1, 1, 16, 16)                       # change frame 3
    a, b = model(x).recon, model(y).recon
    assert torch.equal(a[:, :2], x[:, :2])                    # the context frames come back as they are
    assert torch.equal(a[:, 2:4], b[:, 2:4])                  # frames 2 and 3 are predicted from frames < 3
    assert not torch.equal(a[:, 4], b[:, 4])                  # frame 4 is predicted from frames 2 and 3


# ------------------------------------------------------------------------------------------------ the detector
def test_detector_refuses_one_clip_without_the_batch_axis_and_other_frame_shapes():
    from aekit import VideoAnomalyDetector

    clips, _ = moving_digits(small_digits(), 4, 6, size=16, speed=1, seed=0)
    with pytest.raises(DataError, match=r"add the batch axis"):
        VideoAnomalyDetector(epochs=1).fit(clips[0])
    det = VideoAnomalyDetector(window=3, epochs=1, latent_dim=4, score_region=8).fit(clips)
    scores = det.anomaly_score(clips[:2, :5])                 # any clip length
    assert scores.shape == (2, 5) and det.error_maps(clips[:1]).shape == (1, 6, 16, 16)
    assert det.reconstruct(clips[:1]).shape == clips[:1].shape
    with pytest.raises(DataError, match=r"frames of shape \(1, 16, 16\)"):
        det.anomaly_score(np.zeros((1, 5, 1, 8, 8)))


@pytest.mark.e2e
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_detect_video_scores_a_real_video_file(tmp_path, suffix, capsys):
    """A clip with an unseen object in frames 14-17, written as a real video file, read and scored."""
    from aekit.cli import main

    clips, labels = moving_digits(small_digits(), 1, 24, size=32, speed=2, anomaly_fraction=1,
                                  anomaly_kinds=("object",), seed=3)
    write_video(tmp_path / f"clip{suffix}", clips[0, :, 0])
    np.save(tmp_path / "truth.npy", labels[0])
    out = tmp_path / "out"
    code = main(["detect-video", str(tmp_path / f"clip{suffix}"), "--truth", str(tmp_path / "truth.npy"),
                 "--epochs", "3", "--seed", "0", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["frames"] == 24 and metrics["frame_roc_auc"] > 0.9, metrics
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "clip,frame,anomaly_score,flagged,is_anomaly" and len(rows) == 25
    ranges = json.loads((out / "ranges.json").read_text())
    assert any(r["first_frame"] <= np.flatnonzero(labels[0])[0] <= r["last_frame"] + 1 for r in ranges), ranges
    assert np.load(out / "error_maps.npy").shape == (1, 24, 32, 32)
    assert len(list((out / "heatmaps").glob("*.png"))) == 24
    html = (out / "report.html").read_text()
    assert "frames with their error maps" in html.lower() and (out / "model" / "config.json").is_file()
    # the saved model applied to the same file gives the same scores
    code = main(["detect-video", str(tmp_path / f"clip{suffix}"), "--model", str(out / "model"), "--quiet",
                 "--out", str(tmp_path / "again")])
    assert code == 0
    assert (tmp_path / "again" / "scores.csv").read_text().splitlines()[1:] == [r.rsplit(",", 1)[0] for r in rows[1:]]


@pytest.mark.quality
def test_detector_defaults_beat_per_frame_autoencoder_and_pca_on_moving_digits():
    """Frame-level ROC-AUC on a small Moving-digits set with every anomaly kind (benchmarks/video.py in small)."""
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    from aekit import AnomalyDetector, VideoAnomalyDetector

    digits = small_digits()
    common = {"size": 32, "speed": 2.0}
    train, _ = moving_digits(digits[:1000], 60, 12, seed=0, **common)
    test, labels = moving_digits(digits[1000:], 40, 12, anomaly_fraction=0.6, seed=1, **common)
    ours = roc_auc_score(labels.ravel(), VideoAnomalyDetector().fit(train).anomaly_score(test).ravel())
    frames_tr, frames_te = train[:, :, 0].reshape(-1, 32, 32) / 255, test[:, :, 0].reshape(-1, 32, 32) / 255
    frame_ae = roc_auc_score(labels.ravel(), AnomalyDetector().fit(frames_tr).anomaly_score(frames_te))
    pca = PCA(32, random_state=0).fit(frames_tr.reshape(len(frames_tr), -1))
    flat = frames_te.reshape(len(frames_te), -1)
    pca_auc = roc_auc_score(labels.ravel(), ((pca.inverse_transform(pca.transform(flat)) - flat) ** 2).mean(axis=1))
    assert ours > max(frame_ae, pca_auc), (ours, frame_ae, pca_auc)
