"""qloom.packing: frames <-> DMA bytes, the one layout verify, drivers and co-simulation use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qloom import packing
from qloom.errors import QloomError
from qloom.ir import BIPOLAR, IntType

TYPES = [BIPOLAR] + [IntType(b, False) for b in (1, 2, 3, 4, 7, 8, 16, 33)] + \
        [IntType(b, True) for b in (2, 3, 4, 5, 8, 9, 16, 32)]


def _values(rng, t, shape):
    return rng.choice([-1, 1], size=shape) if t.bipolar else rng.integers(t.min, t.max + 1, size=shape, dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(t=st.sampled_from(TYPES), width=st.sampled_from(packing.DMA_WIDTHS), h=st.integers(1, 3),
       w=st.integers(1, 3), c=st.integers(1, 9), n=st.integers(1, 4), dense=st.booleans(), seed=st.integers(0, 99))
def test_unpack_inverts_pack(t, width, h, w, c, n, dense, seed):
    if t.bits > width:
        return
    k = width // t.bits if dense else max(1, (width // t.bits) // 2)  # also words with spare bits
    port = packing.dma_port("s_axis", width, t, (h, w, c), k)
    x = _values(np.random.default_rng(seed), t, (n, h, w, c))
    data = packing.pack_frames(port, x)
    assert len(data) == n * port["bytes_per_frame"] == n * port["words_per_frame"] * width // 8
    assert np.array_equal(packing.unpack_frames(port, data, n), x)
    chunks = packing.to_chunks(port, data)
    assert chunks.shape == (n * port["words_per_frame"], -(-width // 32))
    assert packing.from_chunks(port, chunks) == data


def test_golden_bytes_of_one_frame():
    """INT4 frame (1, 1, 5) in 16-bit words, 4 elements per word: [1, -1, 2, -8 | 7, pad]."""
    port = packing.dma_port("s_axis", 16, IntType(4, True), (1, 1, 5))
    assert (port["elems_per_word"], port["words_per_frame"], port["bytes_per_frame"]) == (4, 2, 4)
    data = packing.pack_frames(port, np.array([[1, -1, 2, -8, 7]]))
    # word 0 = 0x8 << 12 | 0x2 << 8 | 0xF << 4 | 0x1 = 0x82F1 -> bytes F1 82; word 1 = 0x0007
    assert data == bytes([0xF1, 0x82, 0x07, 0x00])
    assert packing.to_chunks(port, data).tolist() == [[0x82F1], [0x0007]]


def test_golden_bipolar_and_spare_bits():
    """Bipolar: +1 -> 1, -1 -> 0; 3-bit UINT in an 8-bit word holds 2 elements, bits 6, 7 zero."""
    bp = packing.dma_port("m_axis", 8, BIPOLAR, (1, 1, 10))
    assert packing.pack_frames(bp, np.array([1, -1, -1, 1, 1, 1, -1, -1, 1, -1])) == bytes([0b00111001, 0b01])
    u3 = packing.dma_port("s_axis", 8, IntType(3, False), (1, 1, 3))
    assert packing.pack_frames(u3, np.array([5, 7, 1])) == bytes([0b111101, 0b001])
    assert u3["signed"] is False and bp["signed"] is False and bp["dtype"] == "BIPOLAR"


def test_contract_keys():
    port = packing.dma_port("s_axis", 64, IntType(8, False), (28, 28, 1))
    assert port == {"port": "s_axis", "width": 64, "words_per_frame": 98, "bytes_per_frame": 784, "elem_bits": 8,
                    "elems_per_word": 8, "elems_per_frame": 784, "dtype": "UINT8", "signed": False,
                    "shape": [28, 28, 1], "order": packing.ORDER}


def test_errors_name_the_problem():
    port = packing.dma_port("s_axis", 16, IntType(4, True), (1, 1, 5))
    with pytest.raises(QloomError, match="outside INT4"):
        packing.pack_frames(port, np.array([[8, 0, 0, 0, 0]]))
    with pytest.raises(QloomError, match="do not match"):
        packing.pack_frames(port, np.zeros((2, 4)))
    with pytest.raises(QloomError, match="expected 8"):
        packing.unpack_frames(port, bytes(6), 2)
    with pytest.raises(QloomError, match="padding elements"):  # the unused element of the last word
        packing.unpack_frames(port, bytes([0, 0, 0, 0x10]), 1)
    u3 = packing.dma_port("s_axis", 8, IntType(3, False), (1, 1, 2))
    with pytest.raises(QloomError, match="padding bits"):
        packing.unpack_frames(u3, bytes([0x80]), 1)
    assert packing.unpack_frames(u3, bytes([0x80]), 1, check_padding=False).tolist() == [[[[0, 0]]]]
    with pytest.raises(ValueError, match="power of two"):
        packing.dma_port("s_axis", 24, IntType(4, True), (1, 1, 5))
    with pytest.raises(QloomError, match="inconsistent"):
        packing.bytes_per_frame({**port, "words_per_frame": 3})
