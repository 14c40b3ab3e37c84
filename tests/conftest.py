"""Shared fixtures: briefly trained zoo models (per session) and real MNIST test images.

`trained_qonnx(name, dataset="mnist")` -> Path of a QONNX model.onnx trained for a few seconds
on a small subset; `trained_model(name, dataset="mnist")` -> (eval-mode Brevitas module, Path).
`mnist_test_batch(n)` -> (uint8 images (n,28,28), int64 labels (n,)) from the MNIST test set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Quick training for the fixtures (seconds per model): small batches, no regularisation and a
# fast BN learning rate give ~80-90% test accuracy, well above chance, for every family.
QUICK = dict(epochs=2, limit_train=3000, limit_eval=500, batch_size=32, shift=0, label_smoothing=0, bn_lr=0.03)
QUICK_FAMILY = {
    "cnv": dict(QUICK, epochs=1, limit_train=1500, limit_eval=200),
    "lfc": dict(QUICK, limit_train=1500),
}


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """Factory: (name, dataset="mnist") -> (Brevitas module with the chosen weights, model.onnx)."""
    from qloom.models import canonical_name
    from qloom.train import load_trained, train_zoo_model

    cache: dict = {}

    def make(name: str, dataset: str = "mnist"):
        name = canonical_name(name)
        key = (name, dataset)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"trained-{name}-{dataset.replace(':', '_').replace('/', '_')}")
            quick = QUICK_FAMILY.get(name.split("-")[0], QUICK)
            train_zoo_model(name, dataset, out, seed=0, progress=False, **quick)
            cache[key] = (load_trained(out), Path(out) / "model.onnx")
        return cache[key]

    return make


@pytest.fixture(scope="session")
def trained_qonnx(trained_model):
    """Factory: (name, dataset="mnist") -> Path to the briefly trained model's QONNX file."""

    def make(name: str, dataset: str = "mnist") -> Path:
        return trained_model(name, dataset)[1]

    return make


@pytest.fixture(scope="session")
def mnist_test_batch():
    """Factory: n -> (uint8 images (n,28,28), int64 labels (n,)), the first n MNIST test images."""
    from qloom.data import load_dataset

    def make(n: int = 32):
        x, y = load_dataset("mnist", "test")
        return x[:n].copy(), y[:n].copy()

    return make
