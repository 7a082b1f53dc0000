"""Tests of the data layer (aekit.data): loaders, IDX, downloads, scalers and splits.

No test touches the network: ``urllib.request.urlopen`` is replaced by a function that fails, and
download tests replace ``aekit.data.download._open_url`` to serve local bytes.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aekit.data.datasets as datasets_mod
import aekit.data.download as download_mod
from aekit.data import (
    DataError,
    Dataset,
    NotFittedError,
    Scaler,
    Split,
    list_datasets,
    load_dataset,
    read_idx,
    train_val_test_split,
)
from aekit.data.datasets import IdxFile
from aekit.data.idx import images_and_labels

REAL_DATA_DIR = os.environ.get("AEKIT_DATA_DIR")  # set by conftest.py when ../shared/data exists
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _real_mnist_dir() -> Path:
    if not REAL_DATA_DIR or not all((Path(REAL_DATA_DIR) / "mnist" / f"{f}.gz").is_file() for f in MNIST_FILES):
        pytest.skip("real MNIST not available: set AEKIT_DATA_DIR to a folder holding mnist/*-ubyte.gz")
    return Path(REAL_DATA_DIR) / "mnist"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No network, a private download cache, no data directory unless a test sets one."""

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("AEKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AEKIT_DATA_DIR", raising=False)


# ------------------------------------------------------------------------------------- helpers
def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_png(path: Path, size=(6, 5), mode="L", value=0) -> Path:
    """A ``size`` = (height, width) image filled with a gradient plus ``value``."""
    h, w = size
    base = (np.arange(h * w).reshape(h, w) * 7 + value) % 256
    arr = base.astype(np.uint8) if mode == "L" else np.stack([base, base // 2, 255 - base], -1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def fake_idx_dataset(root: Path, n_train=7, n_test=3, *, gz=True) -> dict[str, bytes]:
    """Small IDX files under ``root``; returns file name -> decompressed bytes."""
    rng = np.random.default_rng(0)
    content = {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, (n_train,))),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, (n_test,))),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, raw in content.items():
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (root / name).write_bytes(raw)
    return content


def patch_fashion_specs(monkeypatch, content: dict[str, bytes], *, gz_md5: dict[str, str] | None = None):
    """Make fashion-mnist's published checksums those of ``content`` (fake, small files)."""
    ds = datasets_mod.IDX_DATASETS["fashion-mnist"]
    files = {
        role: IdxFile(spec.filename, len(content[spec.filename]), gz_md5=(gz_md5 or {}).get(spec.filename))
        for role, spec in ds.files.items()
    }
    monkeypatch.setitem(datasets_mod.IDX_DATASETS, "fashion-mnist", type(ds)(ds.name, ds.mirrors, files, ds.classes))


def serve(monkeypatch, responder):
    """Replace the downloader: ``responder(url)`` returns bytes or raises."""
    urls = []

    def fake_open(url):
        urls.append(url)
        return io.BytesIO(responder(url))

    monkeypatch.setattr(download_mod, "_open_url", fake_open)
    return urls


# ------------------------------------------------------------------------------------ registry
def test_list_datasets():
    assert list_datasets() == ["cifar10", "digits", "fashion-mnist", "mnist"]


@pytest.mark.parametrize("source", ["not-a-dataset", "mnistt", "missing/file.npy"])
def test_unknown_name_lists_known_names(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"unknown dataset .*cifar10, digits, fashion-mnist, mnist"):
        load_dataset(source)


@pytest.mark.parametrize("bad", [dict(limit=0), dict(limit=-3), dict(image_size=0), dict(image_size=(4, -1))])
def test_bad_arguments_raise_value_error(bad):
    with pytest.raises(ValueError, match="must be"):
        load_dataset("digits", **bad)


@pytest.mark.parametrize("bad", [dict(limit=2.5), dict(limit=True), dict(image_size="8"), dict(grayscale="yes")])
def test_bad_argument_types_raise_type_error(bad):
    with pytest.raises(TypeError, match="must be"):
        load_dataset("digits", **bad)


def test_unsupported_file_type(tmp_path):
    (tmp_path / "data.txt").write_text("1,2\n")
    with pytest.raises(DataError, match=r"data\.txt.*unsupported file type '\.txt'"):
        load_dataset(tmp_path / "data.txt")


# -------------------------------------------------------------------------------------- digits
def test_digits_loads():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset)
    assert (ds.name, ds.kind, ds.value_range, ds.test) == ("digits", "image", (0.0, 16.0), None)
    assert ds.train.X.shape == (1797, 1, 8, 8) and ds.train.X.dtype == np.float32
    assert ds.train.y.shape == (1797,) and ds.train.y.dtype == np.int64
    assert ds.sample_shape == (1, 8, 8)
    assert ds.train.X.min() == 0 and ds.train.X.max() == 16


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(limit=10), (10, 1, 8, 8)),
        (dict(limit=5, image_size=16), (5, 1, 16, 16)),
        (dict(limit=5, image_size=(4, 6)), (5, 1, 4, 6)),
        (dict(limit=5, grayscale=False), (5, 3, 8, 8)),
    ],
)
def test_digits_options(kwargs, shape):
    ds = load_dataset("DIGITS", **kwargs)
    assert ds.train.X.shape == shape and ds.train.X.dtype == np.float32
    assert len(ds.train.y) == shape[0]
    assert ds.train.X.min() >= 0 and ds.train.X.max() <= 16  # bilinear stays within the raw range


# ---------------------------------------------------------------------------------- real MNIST
@pytest.fixture(scope="module")
def mnist() -> Dataset:
    if not REAL_DATA_DIR:
        pytest.skip("real MNIST not available: AEKIT_DATA_DIR is not set and ../shared/data is absent")
    mnist_dir = Path(REAL_DATA_DIR) / "mnist"
    if not all((mnist_dir / f"{f}.gz").is_file() for f in MNIST_FILES):
        pytest.skip(f"real MNIST not available in {mnist_dir}")
    return load_dataset("mnist", data_dir=REAL_DATA_DIR, download=False)


def test_mnist_from_data_dir(mnist):
    assert mnist.train.X.shape == (60000, 1, 28, 28) and mnist.train.X.dtype == np.float32
    assert mnist.test.X.shape == (10000, 1, 28, 28)
    assert mnist.train.y.shape == (60000,) and mnist.train.y.dtype == np.int64
    assert mnist.test.y.shape == (10000,)
    assert mnist.value_range == (0.0, 255.0)
    assert mnist.train.X.min() == 0 and mnist.train.X.max() == 255
    assert set(np.unique(mnist.train.y)) == set(range(10))
    # the (recompressed) .gz copies passed the MD5 check of their decompressed content
    verified = {Path(k[0]).name for k in download_mod._VERIFIED}
    assert {f"{f}.gz" for f in MNIST_FILES} <= verified


def test_mnist_env_data_dir_and_limit(monkeypatch):
    mnist_dir = _real_mnist_dir()
    monkeypatch.setenv("AEKIT_DATA_DIR", str(mnist_dir.parent))
    ds = load_dataset("mnist", download=False, limit=50)
    assert ds.train.X.shape == (50, 1, 28, 28) and ds.test.X.shape == (50, 1, 28, 28)


def test_mnist_tampered_copy_is_rejected(tmp_path):
    mnist_dir = _real_mnist_dir()
    bad_dir = tmp_path / "data" / "mnist"
    bad_dir.mkdir(parents=True)
    for f in MNIST_FILES[:2]:
        (bad_dir / f"{f}.gz").symlink_to(mnist_dir / f"{f}.gz")
    raw = bytearray(gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    (bad_dir / "t10k-images-idx3-ubyte.gz").symlink_to(mnist_dir / "t10k-images-idx3-ubyte.gz")
    (bad_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch: expected MD5 27ae3e4e"):
        load_dataset("mnist", data_dir=tmp_path / "data", download=False)


def test_mnist_download_into_cache(monkeypatch, tmp_path):
    """A download serving the official content lands in the cache and is found there next time."""
    mnist_dir = _real_mnist_dir()
    urls = serve(monkeypatch, lambda url: (mnist_dir / url.rsplit("/", 1)[1]).read_bytes())
    ds = load_dataset("mnist", data_dir=tmp_path / "empty", limit=20)
    assert ds.train.X.shape == (20, 1, 28, 28) and ds.test.X.shape == (20, 1, 28, 28)
    assert urls == [f"https://ossci-datasets.s3.amazonaws.com/mnist/{f}.gz" for f in
                    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{f}.gz" for f in MNIST_FILES)
    again = load_dataset("mnist", download=False, limit=20)
    np.testing.assert_array_equal(again.train.X, ds.train.X)


# ----------------------------------------------------------------------- downloads (fake data)
def test_corrupted_download_leaves_no_file(monkeypatch, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"not mnist at all" * 100))
    urls = serve(monkeypatch, lambda url: junk.read_bytes())
    with pytest.raises(DataError, match=r"(?s)ossci-datasets.*checksum mismatch: expected MD5 6bbc9ace.*, got [0-9a-f]{32}.*yann\.lecun"):
        load_dataset("mnist", data_dir=tmp_path / "empty")
    assert len(urls) == 2  # both mirrors were tried
    cache = tmp_path / "cache" / "mnist"
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert list(cache.iterdir()) == []  # no partial / temporary files either


def test_partial_download_leaves_no_file(monkeypatch, tmp_path):
    class Broken(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 10:
                raise OSError("connection reset")
            return super().read(11)

    monkeypatch.setattr(download_mod, "_open_url", lambda url: Broken(b"\x1f\x8b" + b"x" * 100))
    with pytest.raises(DataError, match=r"download failed \(OSError: connection reset\)"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    assert list((tmp_path / "cache" / "fashion-mnist").iterdir()) == []


def test_network_failure_names_urls(tmp_path):
    # urllib.request.urlopen is disabled by the autouse fixture: the real downloader fails cleanly
    with pytest.raises(DataError, match=r"(?s)fashion-mnist\.s3-website.*train-images-idx3-ubyte\.gz: download failed"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "empty")


def test_missing_files_without_download_names_folders(tmp_path):
    (tmp_path / "data" / "mnist").mkdir(parents=True)  # data dir present but empty
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte .* not found in .*data/mnist and .*cache/mnist.*download=False"):
        load_dataset("mnist", data_dir=tmp_path / "data", download=False)


def test_fake_fashion_download_then_cache(monkeypatch, tmp_path):
    served = tmp_path / "served"
    content = fake_idx_dataset(served)
    gz_md5 = {n: download_mod.md5_file(served / f"{n}.gz") for n in content}
    patch_fashion_specs(monkeypatch, content, gz_md5=gz_md5)
    urls = serve(monkeypatch, lambda url: (served / url.rsplit("/", 1)[1]).read_bytes())
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    assert ds.train.X.shape == (7, 1, 28, 28) and ds.test.X.shape == (3, 1, 28, 28)
    assert ds.classes[0] == "T-shirt/top" and len(urls) == 4
    expected = np.frombuffer(content["train-images-idx3-ubyte"][16:], np.uint8).reshape(7, 1, 28, 28)
    np.testing.assert_array_equal(ds.train.X, expected)
    assert load_dataset("fashion-mnist", download=False).train.X.shape == (7, 1, 28, 28)


def test_fashion_data_dir_gz_checksum_mismatch(monkeypatch, tmp_path):
    content = fake_idx_dataset(tmp_path / "data" / "fashion-mnist")
    patch_fashion_specs(monkeypatch, content, gz_md5={n: "0" * 32 for n in content})
    with pytest.raises(DataError, match=r"fashion-mnist/train-images-idx3-ubyte\.gz: checksum mismatch: expected MD5 0{32} of the \.gz file"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "data", download=False)


def test_fashion_plain_files_checked_by_size(monkeypatch, tmp_path):
    content = fake_idx_dataset(tmp_path / "data" / "fashion-mnist", gz=False)
    patch_fashion_specs(monkeypatch, content)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "data", download=False)
    assert ds.train.X.shape == (7, 1, 28, 28)
    (tmp_path / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: size mismatch: expected 11 bytes .*got 12"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "data", download=False)


def test_idx_label_count_mismatch_names_both_files(monkeypatch, tmp_path):
    folder = tmp_path / "data" / "fashion-mnist"
    content = fake_idx_dataset(folder, gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    content["train-labels-idx1-ubyte"] = idx_bytes(np.zeros(5))
    patch_fashion_specs(monkeypatch, content)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte holds 7 images but .*train-labels-idx1-ubyte holds 5 labels"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "data", download=False)


# ---------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    out = read_idx(path)
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    data = idx_bytes(np.zeros((3, 4, 4)))[:-5]
    path = tmp_path / "trunc.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"trunc\.idx: truncated IDX file: dimensions \(3, 4, 4\) need 48 data bytes, got 43"):
        read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((10, 28, 28))))[:-30])
    with pytest.raises(DataError, match=r"cut\.gz: truncated or corrupted gzip data"):
        read_idx(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x02\x08\x01" + b"\x00" * 8, r"bad\.idx: not an IDX file: bad magic number 0x01020801"),
        (b"\x00\x00\x08\x00", r"bad\.idx: not an IDX file: bad magic number 0x00000800"),
        (b"\x00\x00", r"bad\.idx: not an IDX file: 2 bytes"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", r"bad\.idx: unsupported IDX type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", r"bad\.idx: truncated IDX header: 3 dimensions need 16 header bytes, got 8"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", r"bad\.idx: IDX file has 1 trailing bytes"),
    ],
)
def test_read_idx_bad_files(tmp_path, data, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_idx_images_labels_mismatch():
    with pytest.raises(DataError, match=r"imgs holds 3 images but labs holds 2 labels"):
        images_and_labels(np.zeros((3, 2, 2)), np.zeros(2), "imgs", "labs")


# -------------------------------------------------------------------------------------- cifar10
def _cifar_records(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1)
    return rec.astype(np.uint8).tobytes()


def _fake_cifar_dir(root: Path) -> Path:
    batches = root / "cifar10" / "cifar-10-batches-bin"
    batches.mkdir(parents=True)
    for i in range(1, 6):
        (batches / f"data_batch_{i}.bin").write_bytes(_cifar_records(2, i))
    (batches / "test_batch.bin").write_bytes(_cifar_records(3, 9))
    return batches


def test_cifar10_from_batches(tmp_path):
    batches = _fake_cifar_dir(tmp_path / "data")
    ds = load_dataset("cifar10", data_dir=tmp_path / "data", download=False)
    assert ds.train.X.shape == (10, 3, 32, 32) and ds.test.X.shape == (3, 3, 32, 32)
    assert ds.value_range == (0.0, 255.0) and ds.train.y.dtype == np.int64
    first = np.frombuffer((batches / "data_batch_1.bin").read_bytes()[:3073], np.uint8)
    assert ds.train.y[0] == first[0]
    np.testing.assert_array_equal(ds.train.X[0], first[1:].reshape(3, 32, 32))
    assert load_dataset("cifar10", data_dir=tmp_path / "data", limit=3, grayscale=True).train.X.shape == (3, 1, 32, 32)


def test_cifar10_bad_batch_size(tmp_path):
    batches = _fake_cifar_dir(tmp_path / "data")
    (batches / "data_batch_1.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(DataError, match=r"data_batch_1\.bin: 3000 bytes, expected a non-zero multiple of 3073"):
        load_dataset("cifar10", data_dir=tmp_path / "data", download=False)


def test_cifar10_tarball_checksum_mismatch(tmp_path):
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        data = _cifar_records(1, 0)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"cifar-10-binary\.tar\.gz: checksum mismatch: expected MD5 c32a1d4a"):
        load_dataset("cifar10", data_dir=tmp_path / "data", download=False)


def test_cifar10_corrupted_download(monkeypatch, tmp_path):
    urls = serve(monkeypatch, lambda url: b"<html>not found</html>")
    with pytest.raises(DataError, match=r"cifar-10-binary\.tar\.gz: checksum mismatch: expected MD5 c32a1d4a.*, got [0-9a-f]{32}"):
        load_dataset("cifar10", data_dir=tmp_path / "empty")
    assert urls == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
    assert list((tmp_path / "cache" / "cifar10").iterdir()) == []


# -------------------------------------------------------------------------------------- npy
@pytest.mark.parametrize(
    "shape, expected, kind",
    [
        ((5, 7), (5, 7), "table"),
        ((5, 6, 4), (5, 1, 6, 4), "image"),
        ((5, 3, 6, 4), (5, 3, 6, 4), "image"),
        ((5, 1, 6, 4), (5, 1, 6, 4), "image"),
        ((5, 6, 4, 3), (5, 3, 6, 4), "image"),
        ((5, 6, 4, 1), (5, 1, 6, 4), "image"),
    ],
)
def test_npy_layouts(tmp_path, shape, expected, kind):
    arr = np.random.default_rng(0).random(shape)
    np.save(tmp_path / "a.npy", arr)
    ds = load_dataset(tmp_path / "a.npy")
    assert ds.train.X.shape == expected and ds.train.X.dtype == np.float32 and ds.kind == kind
    assert ds.train.y is None and ds.test is None and ds.name == str(tmp_path / "a.npy")
    if len(shape) == 4 and shape[3] in (1, 3) and shape[1] not in (1, 3):
        np.testing.assert_allclose(ds.train.X, np.transpose(arr, (0, 3, 1, 2)).astype(np.float32))


@pytest.mark.parametrize(
    "arr, value_range",
    [
        (np.full((2, 4, 4), 200, np.uint8), (0.0, 255.0)),
        (np.full((2, 4, 4), 0.5), (0.0, 1.0)),
        (np.full((2, 4, 4), 3.0), None),
        (np.full((2, 4), 0.5), None),  # tables never get a range
    ],
)
def test_npy_value_range(tmp_path, arr, value_range):
    np.save(tmp_path / "a.npy", arr)
    assert load_dataset(tmp_path / "a.npy").value_range == value_range


@pytest.mark.parametrize(
    "arr, message",
    [
        (np.zeros(5), r"shape \(5,\) has rank 1, expected rank 2"),
        (np.zeros((2, 2, 2, 2, 2)), r"shape \(2, 2, 2, 2, 2\) has rank 5"),
        (np.zeros((2, 5, 6, 7)), r"shape \(2, 5, 6, 7\) has no channel axis"),
        (np.zeros((0, 3)), r"X is empty \(shape \(0, 3\)\)"),
        (np.array([[1.0, np.nan], [np.inf, 2.0], [3.0, np.nan]]), r"3 NaN/inf value\(s\).*first at index \(0, 1\)"),
        (np.array([["a", "b"]]), r"dtype <U1, expected a numeric"),
        (np.array([[1e300, 1.0]]), r"1 NaN/inf value\(s\) \(or values too large for float32\)"),
    ],
)
def test_npy_errors(tmp_path, arr, message):
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(DataError, match=r"bad\.npy.*" + message):
        load_dataset(tmp_path / "bad.npy")


def test_npy_object_array_is_never_unpickled(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[1, "x"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"obj\.npy: cannot read \.npy file"):
        load_dataset(tmp_path / "obj.npy")


def test_npy_limit_and_resize(tmp_path):
    np.save(tmp_path / "imgs.npy", np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3)).astype(np.uint8))
    ds = load_dataset(tmp_path / "imgs.npy", limit=4, image_size=(4, 5), grayscale=True)
    assert ds.train.X.shape == (4, 1, 4, 5) and ds.value_range == (0.0, 255.0)
    assert 0 <= ds.train.X.min() and ds.train.X.max() <= 255


def test_table_rejects_image_options(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"image_size and grayscale apply to image data"):
        load_dataset(tmp_path / "t.npy", image_size=8)


def test_relative_path_found_in_data_dir(tmp_path, monkeypatch):
    (tmp_path / "data" / "tables").mkdir(parents=True)
    np.save(tmp_path / "data" / "tables" / "t.npy", np.ones((3, 2)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AEKIT_DATA_DIR", str(tmp_path / "data"))
    ds = load_dataset("tables/t.npy")
    assert ds.train.X.shape == (3, 2) and ds.name == "tables/t.npy"


# -------------------------------------------------------------------------------------- npz
@pytest.mark.parametrize("xkey, ykey", [("X", "y"), ("x", "labels"), ("data", None)])
def test_npz_keys(tmp_path, xkey, ykey):
    arrays = {xkey: np.arange(12.0).reshape(4, 3)}
    if ykey:
        arrays[ykey] = np.array([0, 1, 1, 0])
    np.savez(tmp_path / "d.npz", **arrays)
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.kind == "table" and ds.train.X.shape == (4, 3) and ds.test is None
    if ykey:
        assert ds.train.y.dtype == np.int64 and ds.train.y.tolist() == [0, 1, 1, 0]
    else:
        assert ds.train.y is None


def test_npz_predefined_test_split_and_string_labels(tmp_path):
    np.savez(
        tmp_path / "d.npz",
        X=np.zeros((4, 5, 5), np.uint8), y=np.array(["cat", "dog", "cat", "ant"]),
        X_test=np.ones((2, 5, 5), np.uint8), y_test=np.array(["dog", "bee"]),
    )
    ds = load_dataset(tmp_path / "d.npz", limit=3)
    assert ds.kind == "image" and ds.train.X.shape == (3, 1, 5, 5) and ds.test.X.shape == (2, 1, 5, 5)
    assert ds.classes == ("ant", "bee", "cat", "dog")
    assert ds.train.y.tolist() == [2, 3, 2] and ds.test.y.tolist() == [3, 1]
    assert ds.value_range == (0.0, 255.0)
    _, _, test = train_val_test_split(ds, val_fraction=0.34)
    assert test is ds.test


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(features=np.zeros((2, 2)), y=np.zeros(2)), r"no data array, found keys \['features', 'y'\], expected 'X'"),
        (dict(X=np.zeros((3, 2)), y=np.zeros(2)), r"'y' has shape \(2,\) but 'X' has shape \(3, 2\)"),
        (dict(X=np.zeros((3, 2)), X_test=np.zeros((2, 3))), r"'X_test' samples have shape \(3,\) but 'X' samples have shape \(2,\)"),
        (dict(X=np.zeros((3, 2)), y_test=np.zeros(2)), r"has 'y_test' but no 'X_test'"),
        (dict(X=np.zeros((0, 2))), r"\[X\]: X is empty"),
        (dict(X=np.array([[0.0, 1.0], [np.nan, 2.0]])), r"1 NaN/inf value\(s\).*first at index \(1, 0\)"),
        (dict(X=np.zeros((2, 2)), y=np.array([0.5, 1.0]) * np.nan), r"labels contain NaN"),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=r"bad\.npz.*" + message):
        load_dataset(tmp_path / "bad.npz")


# -------------------------------------------------------------------------------------- csv
def test_csv_with_label_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,Class\n1,2,dog\n3.5,-4,cat\n\n5,6e1,dog\n")
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.kind == "table" and ds.value_range is None
    np.testing.assert_array_equal(ds.train.X, np.array([[1, 2], [3.5, -4], [5, 60]], np.float32))
    assert ds.classes == ("cat", "dog") and ds.train.y.tolist() == [1, 0, 1]


def test_csv_without_labels_and_limit(tmp_path):
    (tmp_path / "t.csv").write_text("x1,x2,x3\n" + "".join(f"{i},{i + 1},{i + 2}\n" for i in range(10)))
    ds = load_dataset(tmp_path / "t.csv", limit=4)
    assert ds.train.X.shape == (4, 3) and ds.train.y is None and ds.sample_shape == (3,)


def test_csv_label_codes_do_not_depend_on_limit(tmp_path):
    (tmp_path / "t.csv").write_text("f,target\n1,b\n2,c\n3,a\n4,oops-not-checked\n")
    ds = load_dataset(tmp_path / "t.csv", limit=2)
    assert ds.train.X.shape == (2, 1) and ds.train.y.tolist() == [1, 2]
    assert ds.classes == ("a", "b", "c", "oops-not-checked")


def test_csv_integer_labels_keep_their_values(tmp_path):
    (tmp_path / "t.csv").write_text("f,label\n0.1,1\n0.2,1\n")
    assert load_dataset(tmp_path / "t.csv").train.y.tolist() == [1, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3,abc\n", r"column 'b', data row 2 \(line 3\): non-numeric value 'abc'"),
        ("a,b\n1,\n", r"column 'b', data row 1 \(line 2\): non-numeric value ''"),
        ("", r"CSV file is empty"),
        ("a,b\n", r"no data rows after the header"),
        ("1,2\n3,4\n", r"looks like data, expected a header row"),
        ("a,b\n1,2,3\n", r"data row 1 \(line 2\) has 3 fields, expected 2"),
        ("a,y,label\n1,2,3\n", r"several label columns \['y', 'label'\]"),
        ("a,b\n1,nan\ninf,2\n", r"2 NaN/inf value\(s\).*first at index \(0, 1\)"),
        ("label\ncat\n", r"only a label column"),
    ],
)
def test_csv_errors(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=r"bad\.csv.*" + message):
        load_dataset(tmp_path / "bad.csv")


# ------------------------------------------------------------------------------ image folders
def test_image_folder_flat_grey(tmp_path):
    for i in range(3):
        write_png(tmp_path / "imgs" / f"{i}.png", value=i)
    ds = load_dataset(tmp_path / "imgs")
    assert ds.kind == "image" and ds.train.X.shape == (3, 1, 6, 5) and ds.train.y is None
    assert ds.value_range == (0.0, 255.0) and ds.train.X.dtype == np.float32
    np.testing.assert_array_equal(ds.train.X[1, 0], np.asarray(Image.open(tmp_path / "imgs" / "1.png")))


def test_image_folder_subfolders_give_labels(tmp_path):
    write_png(tmp_path / "imgs" / "zebra" / "a.png")
    write_png(tmp_path / "imgs" / "cat" / "b.PNG")
    write_png(tmp_path / "imgs" / "cat" / "nested" / "c.jpg")
    write_png(tmp_path / "imgs" / "ant" / "d.BMP")
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("ignored")
    ds = load_dataset(tmp_path / "imgs")
    assert ds.classes == ("ant", "cat", "zebra")
    assert ds.train.y.tolist() == [0, 1, 1, 2] and ds.train.y.dtype == np.int64
    assert ds.train.X.shape == (4, 1, 6, 5)
    assert load_dataset(tmp_path / "imgs", limit=2).train.y.tolist() == [0, 1]


@pytest.mark.parametrize("grayscale, channels", [(None, 3), (False, 3), (True, 1)])
def test_image_folder_grey_and_rgb(tmp_path, grayscale, channels):
    grey = write_png(tmp_path / "imgs" / "a.png", mode="L")
    write_png(tmp_path / "imgs" / "b.png", mode="RGB")
    ds = load_dataset(tmp_path / "imgs", grayscale=grayscale)
    assert ds.train.X.shape == (2, channels, 6, 5)
    if channels == 3:  # the grey image is replicated into the three channels
        g = np.asarray(Image.open(grey), dtype=np.float32)
        for c in range(3):
            np.testing.assert_array_equal(ds.train.X[0, c], g)


@pytest.mark.parametrize("image_size, shape", [(4, (4, 4)), ((3, 7), (3, 7))])
def test_image_folder_resize(tmp_path, image_size, shape):
    write_png(tmp_path / "imgs" / "a.png", size=(6, 5))
    write_png(tmp_path / "imgs" / "b.png", size=(10, 12), mode="RGB")
    ds = load_dataset(tmp_path / "imgs", image_size=image_size)
    assert ds.train.X.shape == (2, 3) + shape


def test_image_folder_mixed_sizes_need_image_size(tmp_path):
    write_png(tmp_path / "imgs" / "a.png", size=(6, 5))
    write_png(tmp_path / "imgs" / "b.png", size=(8, 5))
    with pytest.raises(DataError, match=r"a\.png is 6x5 .* but .*b\.png is 8x5; pass image_size"):
        load_dataset(tmp_path / "imgs")


def test_image_folder_unreadable_file(tmp_path):
    write_png(tmp_path / "imgs" / "a.png")
    (tmp_path / "imgs" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        load_dataset(tmp_path / "imgs")


@pytest.mark.parametrize("extra", [None, "notes.txt", ".hidden.png"])
def test_image_folder_empty(tmp_path, extra):
    (tmp_path / "imgs").mkdir()
    if extra:
        (tmp_path / "imgs" / extra).write_text("x")
    with pytest.raises(DataError, match=r"imgs: no images found"):
        load_dataset(tmp_path / "imgs")


def test_image_folder_top_level_and_subfolders(tmp_path):
    write_png(tmp_path / "imgs" / "top.png")
    write_png(tmp_path / "imgs" / "cls" / "a.png")
    with pytest.raises(DataError, match=r"both at the top level \(e\.g\. top\.png\) and in subfolders"):
        load_dataset(tmp_path / "imgs")


# ---------------------------------------------------------------------------------- scalers
def _features(shape=(50, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random(shape) * 200 - 50).astype(np.float32)
    X[:, 0] = 7.0  # constant features
    return X


@pytest.mark.parametrize("method", ["none", "range", "minmax", "standard"])
def test_scaler_round_trip(method):
    X = _features()
    scaler = Scaler(method).fit(X, value_range=(-50, 150))
    Z = scaler.transform(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape and np.isfinite(Z).all()
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-5, atol=1e-5)
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform(X), Z)
    np.testing.assert_array_equal(restored.inverse_transform(Z), scaler.inverse_transform(Z))


def test_scaler_ranges():
    X = _features()
    Z = Scaler("minmax").fit(X).transform(X)
    assert Z.min() == 0.0 and Z.max() == 1.0 and np.all(Z[:, 0] == 0.0)
    Z = Scaler("standard").fit(X).transform(X)
    np.testing.assert_allclose(Z[:, 1:].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z[:, 1:].std(axis=0), 1, atol=1e-4)
    Z = Scaler("range").fit(np.array([[0, 255], [51, 102]]), value_range=(0, 255)).transform([[0, 255], [51, 102]])
    np.testing.assert_allclose(Z, [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_scaler_default_for():
    digits = load_dataset("digits", limit=20)
    s = Scaler.default_for(digits)
    assert s.method == "range" and not s.is_fitted
    assert s.fit(digits.train.X).transform(digits.train.X).max() == 1.0  # value_range (0, 16) remembered
    table = Dataset("t", "table", Split(np.zeros((3, 2), np.float32)))
    assert Scaler.default_for(table).method == "minmax"


def test_scaler_default_for_asks_the_dataset_and_refuses_anything_else():
    """Scalers sit below datasets and kinds (no import cycle): the dataset picks its kind's default scaler."""
    digits = load_dataset("digits", limit=20)
    assert Scaler.default_for(digits).to_dict() == digits.default_scaler().to_dict()
    with pytest.raises(TypeError, match=r"dataset must be an aekit.data.Dataset, got ndarray"):
        Scaler.default_for(digits.train.X)


def test_scaler_errors():
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit"):
        Scaler().transform(np.zeros((2, 3)))
    scaler = Scaler("minmax").fit(np.zeros((4, 1, 28, 28)))
    with pytest.raises(DataError, match=r"samples of shape \(784,\), expected samples of shape \(1, 28, 28\)"):
        scaler.transform(np.zeros((4, 784)))
    with pytest.raises(DataError, match=r"samples of shape \(\), expected samples of shape \(1, 28, 28\)"):
        scaler.inverse_transform(np.zeros(4))
    with pytest.raises(ValueError, match=r"method 'range' needs value_range"):
        Scaler("range").fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"must be one of .*got 'zscore'"):
        Scaler("zscore")
    with pytest.raises(DataError, match=r"1 NaN/inf value\(s\), first at index \(1, 0\)"):
        Scaler("standard").fit(np.array([[1.0], [np.nan]]))


def test_scaler_unfitted_dict_round_trip():
    s = Scaler.from_dict(json.loads(json.dumps(Scaler("range", value_range=(0, 255)).to_dict())))
    assert s.method == "range" and s.value_range == (0.0, 255.0) and not s.is_fitted


def _good_dict():
    return Scaler("minmax").fit(np.arange(6.0).reshape(3, 2)).to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: [], r"expected a dict, got list"),
        (lambda d: d.update(method="zscore"), r"method is 'zscore', expected one of"),
        (lambda d: d.update(version=99), r"version is 99, expected 1"),
        (lambda d: d.update(offset=[0.0]), r"offset is 1 values, expected a list of 2 finite numbers"),
        (lambda d: d.update(scale=[1.0, "x"]), r"scale is 2 values, expected a list of 2 finite numbers"),
        (lambda d: d.update(scale=[1.0, 0.0]), r"scale has values <= 0"),
        (lambda d: d.update(feature_shape=[2, -1]), r"feature_shape is \[2, -1\], expected a list of positive ints"),
        (lambda d: d.update(value_range=[3, 1]), r"value_range must be a pair of finite numbers"),
        (lambda d: d.update(method="range", value_range=None, offset=[0.0], scale=[1.0]), r"method 'range' needs value_range"),
    ],
)
def test_scaler_from_dict_malformed(change, message):
    d = _good_dict()
    result = change(d)
    with pytest.raises(DataError, match=message):
        Scaler.from_dict(d if result is None else result)


@pytest.mark.parametrize("method", ["minmax", "standard"])
@pytest.mark.parametrize("shape", [(40, 3, 25), (40, 2, 6, 5)])  # sequences (N, C, T); images (N, C, H, W)
def test_scaler_per_channel(method, shape):
    rng = np.random.default_rng(0)
    units = np.array([1.0, 1e3, 1e-2][:shape[1]]).reshape(-1, *(1,) * (len(shape) - 2))
    X = (rng.random(shape) * units + units).astype(np.float32)
    scaler = Scaler(method, per="channel").fit(X)
    assert scaler.offset_.shape == scaler.scale_.shape == (shape[1], *(1,) * (len(shape) - 2))
    Z = scaler.transform(X)
    axes = (0, *range(2, len(shape)))
    if method == "minmax":
        np.testing.assert_allclose(Z.min(axis=axes), 0, atol=1e-6)
        np.testing.assert_allclose(Z.max(axis=axes), 1, atol=1e-6)
    else:
        np.testing.assert_allclose(Z.mean(axis=axes), 0, atol=1e-5)
        np.testing.assert_allclose(Z.std(axis=axes), 1, atol=1e-4)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-5)
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert restored.per == "channel" and len(scaler.to_dict()["offset"]) == shape[1]
    np.testing.assert_array_equal(restored.transform(X), Z)


def test_scaler_per_channel_constant_channel_and_repr():
    X = np.zeros((4, 2, 5), np.float32)
    X[:, 1] = np.arange(5)
    scaler = Scaler("minmax", per="channel").fit(X)
    np.testing.assert_array_equal(scaler.scale_.ravel(), [1.0, 4.0])  # constant channel: scale 1
    assert repr(scaler) == "Scaler('minmax', per='channel') [fitted on samples of shape (2, 5)]"


def test_scaler_per_errors():
    with pytest.raises(ValueError, match=r"Scaler per must be one of \('feature', 'channel'\), got 'time'"):
        Scaler("minmax", per="time")
    d = Scaler("minmax", per="channel").fit(np.zeros((2, 3, 4))).to_dict()
    with pytest.raises(DataError, match=r"offset is 12 values, expected a list of 3 finite numbers for method "
                                        r"'minmax', per 'channel' and feature_shape \[3, 4\]"):
        Scaler.from_dict({**d, "offset": [0.0] * 12})
    with pytest.raises(DataError, match=r"Scaler.from_dict: per must be one of .*, got 'time'"):
        Scaler.from_dict({**d, "per": "time"})


def test_scaler_dict_without_per_is_per_feature():
    """Scalers saved before ``per`` existed load as they were: one offset / scale per feature."""
    X = _features()
    d = Scaler("minmax").fit(X).to_dict()
    del d["per"]
    np.testing.assert_array_equal(Scaler.from_dict(d).transform(X), Scaler("minmax").fit(X).transform(X))


def test_scaler_default_for_sequences_is_per_channel():
    X = np.random.default_rng(0).random((10, 3, 20)).astype(np.float32)
    s = Scaler.default_for(Dataset("s", "sequence", Split(X), value_range=(0.0, 1.0)))
    assert (s.method, s.per) == ("minmax", "channel")


def test_dataset_kinds_and_sample_shapes():
    seq = Dataset("s", "sequence", Split(np.zeros((10, 3, 20), np.float32)), test=Split(np.zeros((4, 3, 20), np.float32)))
    assert seq.sample_shape == (3, 20)
    with pytest.raises(ValueError, match=r"Dataset kind must be one of \('image', 'sequence', 'table', 'video'\), "
                                         r"got 'graph'"):
        Dataset("v", "graph", Split(np.zeros((2, 3), np.float32)))
    with pytest.raises(DataError, match=r"Dataset 's': train sample shape \(20,\) does not fit kind 'sequence': "
                                        r"expected sequences shaped \(C, T\)"):
        Dataset("s", "sequence", Split(np.zeros((10, 20), np.float32)))
    with pytest.raises(DataError, match=r"Dataset 'i': test sample shape \(8, 8\) does not fit kind 'image'"):
        Dataset("i", "image", Split(np.zeros((2, 1, 8, 8), np.float32)), test=Split(np.zeros((2, 8, 8), np.float32)))


# ----------------------------------------------------------------------------------- splits
def _table(n=100):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return Dataset("t", "table", Split(X, np.arange(n, dtype=np.int64)))


@pytest.mark.parametrize(
    "val, test, sizes",
    [(0.1, 0.2, (70, 10, 20)), (0.25, 0.0, (75, 25, None)), (0.0, 0.3, (70, 0, 30)), (0.15, 0.15, (70, 15, 15))],
)
def test_split_sizes(val, test, sizes):
    train, v, t = train_val_test_split(_table(), val_fraction=val, test_fraction=test)
    assert (len(train), len(v), None if t is None else len(t)) == sizes
    parts = [train.y, v.y] + ([] if t is None else [t.y])
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))  # a partition of the samples
    for part in [train, v] + ([] if t is None else [t]):
        np.testing.assert_array_equal(part.X[:, 0], part.y * 2)  # X and y stay aligned


def test_split_determinism():
    ds = _table()
    a = train_val_test_split(ds, random_state=1)
    b = train_val_test_split(ds, random_state=1)
    c = train_val_test_split(ds, random_state=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.X, y.X)
    assert not np.array_equal(a[0].y, c[0].y)


def test_split_predefined_test():
    ds = load_dataset("digits", limit=100)
    ds.test = Split(np.zeros((7, 1, 8, 8), np.float32), np.zeros(7, np.int64))
    train, val, test = train_val_test_split(ds, val_fraction=0.2, test_fraction=0.5)
    assert (len(train), len(val), test) == (80, 20, ds.test)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(val_fraction=1.0), ValueError, r"val_fraction must be in \[0, 1\), got 1.0"),
        (dict(test_fraction=-0.1), ValueError, r"test_fraction must be in \[0, 1\), got -0.1"),
        (dict(val_fraction=0.5, test_fraction=0.5), ValueError, r"val_fraction \+ test_fraction must be < 1"),
        (dict(val_fraction="0.1"), TypeError, r"val_fraction must be a number"),
        (dict(val_fraction=float("nan")), TypeError, r"val_fraction must be a number"),
    ],
)
def test_split_bad_fractions(kwargs, error, message):
    with pytest.raises(error, match=message):
        train_val_test_split(_table(), **kwargs)


def test_split_too_few_samples():
    with pytest.raises(DataError, match=r"2 training samples are too few"):
        train_val_test_split(_table(2), val_fraction=0.5, test_fraction=0.4)
