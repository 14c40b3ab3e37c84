"""Property: random quantized Brevitas networks lower to an IR that equals the QONNX reference."""

import numpy as np
from hypothesis import HealthCheck, given, settings

from qloom import streamline
from qloom.verify.reference import Reference

from equivalence import assert_equivalent
from qnn_factory import calibrate_and_export, net_specs, random_inputs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True)


@settings(max_examples=120, **SETTINGS)
@given(spec=net_specs(allow_conv=False))
def test_random_dense_networks_are_bit_exact(spec, tmp_path):
    check(spec, tmp_path)


@settings(max_examples=80, **SETTINGS)
@given(spec=net_specs(allow_conv=True))
def test_random_conv_networks_are_bit_exact(spec, tmp_path):
    check(spec, tmp_path)


def check(spec, tmp_path):
    path = tmp_path / "net.onnx"
    calibrate_and_export(spec, path)
    graph = streamline.run(path)
    x = random_inputs(spec, 96, seed=spec.seed)
    x = np.concatenate([x, np.zeros_like(x[:1]), np.ones_like(x[:1]), -np.ones_like(x[:1])])  # extremes
    assert_equivalent(graph, Reference(path), x)
