"""qloom_fifo and qloom_dwc: element order kept under random stalls, and full throughput."""

import numpy as np
import pytest

from qloom.backends.rtl.stream import pack_rows, unpack_rows

from rtl_helpers import run_core


@pytest.mark.hw
@pytest.mark.parametrize("width,depth,style", [(1, 1, 0), (8, 2, 2), (13, 3, 3), (32, 7, 2), (70, 16, 2)])
def test_fifo_keeps_order(width, depth, style, tmp_path):
    rng = np.random.default_rng(width * 100 + depth)
    words = [int(x) for x in rng.integers(0, 2**min(width, 62), size=60)]
    params = {"WIDTH": width, "DEPTH": depth, "STYLE": style}
    run = run_core(tmp_path / "stall", "qloom_fifo", params, words, width, len(words), width, seed=depth,
                   p_valid=0.6, p_ready=0.5)
    assert run.outputs == words
    run = run_core(tmp_path / "full", "qloom_fifo", params, words, width, len(words), width, seed=depth)
    assert run.outputs == words
    if depth > 1:  # a push and a pop every clock
        assert set(np.diff(run.out_cycles).tolist()) == {1}


@pytest.mark.hw
@pytest.mark.parametrize("n_in,n_out,bits", [(2, 3, 1), (3, 2, 4), (1, 8, 2), (8, 1, 3), (4, 6, 5), (7, 7, 2),
                                             (49, 16, 1), (5, 1, 1), (16, 8, 1), (10, 1, 7), (3, 6, 2)])
def test_dwc_reorders_nothing(n_in, n_out, bits, tmp_path):
    rng = np.random.default_rng(n_in * 31 + n_out)
    total = np.lcm(n_in, n_out) * 6
    elems = rng.integers(0, 2**bits, size=total).astype(np.uint64)
    words = pack_rows(elems.reshape(-1, n_in), bits)
    params = {"IN": n_in, "OUT": n_out, "BITS": bits}
    for name, pv, pr in (("stall", 0.6, 0.5), ("full", 1.0, 1.0)):
        run = run_core(tmp_path / name, "qloom_dwc", params, words, n_in * bits, total // n_out, n_out * bits,
                       seed=n_in + n_out, p_valid=pv, p_ready=pr)
        got = unpack_rows(run.outputs, bits, n_out).reshape(-1)
        np.testing.assert_array_equal(got, elems)
    # the side with fewer elements per word is the bottleneck: it transfers every clock
    gaps = np.diff(run.in_cycles if n_in <= n_out else run.out_cycles)
    assert set(gaps.tolist()) == {1}, gaps.tolist()
