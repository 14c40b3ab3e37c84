"""`qloom train`, datasets and export: bad values are one-line errors (exit 2), never a
traceback, a silent pass or NaN weights; a full disk names the file."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
import torch
from torch import nn

from qloom import data, train
from qloom.errors import QloomError

from cli_helpers import run_cli

TINY = ["--model", "tfc-w1a1", "--dataset", "digits", "--epochs", "1", "--limit-train", "64", "--limit-eval", "32",
        "--batch-size", "32", "--quiet"]


def _expect_error(argv, *needles):
    rc, out, err = run_cli(argv)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("flags, needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**70)], "--seed"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--epochs", "-2"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_train_flags(tmp_path, flags, needle):
    _expect_error(["train", *TINY, "--out", tmp_path / "o", *flags], needle)
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_recipe_refuses_bad_values_from_the_api():
    for bad in (dict(epochs=0), dict(batch_size=-1), dict(lr=float("inf")), dict(lr=float("nan")),
                dict(label_smoothing=float("nan"))):
        with pytest.raises(QloomError, match="training option"):
            train.default_recipe("tfc-w1a1", **bad)
    with pytest.raises(QloomError, match="seed"):
        train.train_zoo_model("tfc-w1a1", "digits", "unused", seed=-1)


def test_non_finite_loss_stops_training():
    class Nan(nn.Module):  # a diverged model: every logit NaN
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)
            with torch.no_grad():
                self.fc.weight.fill_(float("nan"))

        def forward(self, x):
            return self.fc(x.flatten(1))

    recipe = train.Recipe(epochs=1, batch_size=16)
    with pytest.raises(QloomError, match="training diverged.*lower --lr"):
        train.train_model(Nan(), "digits", recipe, limit_train=32, limit_eval=16, progress=False)


def test_export_refuses_non_finite_weights(tmp_path):
    from qloom.export import export_qonnx_model
    from qloom.models import build_model

    model = build_model("tfc-w1a1", input_shape=(1, 8, 8), num_classes=10)
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() > 1)[0, 0] = float("nan")
    with pytest.raises(QloomError, match="non-finite"):
        export_qonnx_model(model, tmp_path / "m.onnx", (1, 8, 8))
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny train")
    rc, _, err = run_cli(["train", *TINY, "--out", out])
    assert rc == 0, err
    return out


@pytest.mark.parametrize("drop", ["optimizer", "recipe", "model_name", "gen_state"])
def test_checkpoint_missing_keys(trained_dir, tmp_path, drop):
    out = tmp_path / "o"
    out.mkdir()
    state = train.load_checkpoint(trained_dir / "checkpoint.pt")
    del state[drop]
    torch.save(state, out / "checkpoint.pt")
    _expect_error(["train", *TINY, "--out", out, "--resume"], "lacks", drop)
    if drop in train.MODEL_KEYS:
        with pytest.raises(QloomError, match=f"lacks {drop}"):
            train.load_trained(out)


def test_checkpoint_with_wrong_shapes_or_not_a_dict(trained_dir, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    state = train.load_checkpoint(trained_dir / "checkpoint.pt")
    key = next(k for k, v in state["model"].items() if v.dim() == 2)
    state["model"][key] = torch.zeros(3, 3)
    state["best_state"] = None
    torch.save(state, out / "checkpoint.pt")
    _expect_error(["train", *TINY, "--out", out, "--resume"], "does not fit")
    with pytest.raises(QloomError, match="does not fit"):
        train.load_trained(out)
    torch.save([1, 2, 3], out / "checkpoint.pt")
    _expect_error(["train", *TINY, "--out", out, "--resume"], "not a qloom checkpoint")
    (out / "checkpoint.pt").unlink()
    (out / "checkpoint.pt").mkdir()
    _expect_error(["train", *TINY, "--out", out, "--resume"], "is a folder")


def test_output_folder_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    _expect_error(["train", *TINY, "--out", tmp_path / "f"], "is a file")


@pytest.mark.parametrize("name", ["checkpoint.pt", "model.onnx", "metrics.json"])
def test_full_disk_names_the_file(tmp_path, name):
    """/dev/full fails every write with ENOSPC: the real error, no mocking."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    out = tmp_path / "o"
    out.mkdir()
    (out / f"{name}.tmp").symlink_to("/dev/full")
    err = _expect_error(["train", *TINY, "--out", out], name, "No space left on device")
    assert "free some disk space" in err
    assert not (out / f"{name}.tmp").exists()  # no partial file left
    assert not (out / name).exists() and not (out / "metrics.json").exists()


def test_os_errors_without_a_file_name_name_the_output_folder(tmp_path, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train, "train_zoo_model", full)
    _expect_error(["train", *TINY, "--out", tmp_path / "o"], str(tmp_path / "o"), "No space left")
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "o" / "checkpoint.pt"))

    monkeypatch.setattr(train, "train_zoo_model", denied)
    _expect_error(["train", *TINY, "--out", tmp_path / "o"], "checkpoint.pt: Permission denied", "permissions")
    monkeypatch.setattr(train, "train_zoo_model", lambda *a, **k: 1 / 0)  # a bug keeps its traceback
    with pytest.raises(ZeroDivisionError):
        run_cli(["train", *TINY, "--out", tmp_path / "o"])


# ---------------------------------------------------------------- IDX files


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _idx_dir(d, images=None):
    d.mkdir()
    rng = np.random.default_rng(0)
    for p, n in (("train", 20), ("t10k", 5)):
        (d / f"{p}-images-idx3-ubyte").write_bytes(images if images is not None and p == "train"
                                                   else _idx(rng.integers(0, 256, (n, 4, 4), dtype=np.uint8)))
        (d / f"{p}-labels-idx1-ubyte").write_bytes(_idx(rng.integers(0, 3, n).astype(np.uint8)))
    return d


@pytest.mark.parametrize("content, needle", [
    (b"", "not an uint8 IDX"),
    (b"\x00\x00\x08", "not an uint8 IDX"),
    (b"\x00\x00\x08\x03\x00\x00", "bad IDX header"),  # 3 dimensions announced, 2 bytes of them
    (b"\x00\x00\x08\x00", "bad IDX header"),  # 0 dimensions
    (b"\x00\x00\x08\xff" + b"\xff" * 1020, "bad IDX header"),  # 255 huge dimensions: no overflow
    (struct.pack(">BBBBIII", 0, 0, 8, 3, 1000, 28, 28) + b"\x01" * 10, "header says"),
    (b"\x1f\x8b\x08\x00garbage", "damaged gzip"),
])
def test_bad_idx_file(tmp_path, content, needle):
    d = _idx_dir(tmp_path / "idx", images=content)
    data._load_idx_files.cache_clear()
    _expect_error(["train", *TINY[:2], "--dataset", f"idx:{d}", "--out", tmp_path / "o", *TINY[4:]], needle)


def test_fake_gz_and_folders(tmp_path):
    d = _idx_dir(tmp_path / "idx")
    f = d / "train-images-idx3-ubyte"
    f.rename(d / "train-images-idx3-ubyte.gz")  # named .gz, not compressed
    data._load_idx_files.cache_clear()
    with pytest.raises(QloomError, match="not gzip-compressed"):
        data.load_dataset(f"idx:{d}", "train")
    (d / "train-images-idx3-ubyte.gz").unlink()
    (d / "train-images-idx3-ubyte").mkdir()
    data._load_idx_files.cache_clear()
    with pytest.raises(QloomError, match="is a folder"):
        data.load_dataset(f"idx:{d}", "train")
    with pytest.raises(QloomError, match="is a file"):
        data.load_dataset(f"idx:{d / 'train-labels-idx1-ubyte'}", "train")


def test_gzip_detected_by_content(tmp_path):
    d = _idx_dir(tmp_path / "idx")
    f = d / "t10k-labels-idx1-ubyte"
    f.write_bytes(gzip.compress(f.read_bytes()))  # compressed without the .gz name: still read
    data._load_idx_files.cache_clear()
    assert len(data.load_dataset(f"idx:{d}", "test")[1]) == 5
