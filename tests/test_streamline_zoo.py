"""Every zoo family, trained: the IR equals qonnx's execute_onnx on 1000 real MNIST test images."""

import numpy as np
import pytest

from qloom import streamline
from qloom.data import to_model_input
from qloom.verify.ir import compare
from qloom.verify.reference import Reference

ZOO = ["tfc-w1a1", "tfc-w2a2", "sfc-w2a2", "lfc-w1a1", "tfc-w4a4", "sfc-w8a8", "cnv-w2a2", "cnv-w1a1"]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_ir_is_bit_exact_on_mnist(name, trained_qonnx, mnist_test_batch):
    path = trained_qonnx(name)
    graph = streamline.run(path)
    images, labels = mnist_test_batch(1000)
    x = to_model_input(images).numpy()
    result = compare(graph, Reference(path), x, labels)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["layers_compared"] >= 3  # input quantizer and hidden activations, layer by layer
    assert result["ir_accuracy"] == result["reference_accuracy"] > 0.15  # briefly trained: above chance


def test_extreme_inputs_do_not_overflow(trained_qonnx):
    path = trained_qonnx("tfc-w2a2")
    graph = streamline.run(path)
    x = np.stack([np.zeros((1, 28, 28)), np.ones((1, 28, 28)), np.full((1, 28, 28), 0.5)]).astype(np.float32)
    result = compare(graph, Reference(path), x)
    assert result["mismatches"] == 0
