"""qloom_fifo and qloom_dwc: element order kept under random stalls, and full throughput."""

import numpy as np
import pytest

from qloom.packing import pack_rows, unpack_rows

from rtl_helpers import run_core


@pytest.mark.hw
@pytest.mark.parametrize("width,depth,style", [(1, 1, 0), (8, 2, 2), (13, 3, 3), (32, 7, 2), (70, 16, 2),
                                               (1, 1, 1), (6, 3, 1), (9, 4, 1), (16, 45, 1)])
def test_fifo_keeps_order(width, depth, style, tmp_path):
    """Every style (1: block RAM, read one clock ahead into a 2-word queue) keeps the order
    under random stalls and passes a word per clock (block RAM: from 4 words, its 3 clocks
    of latency need 3 in flight)."""
    rng = np.random.default_rng(width * 100 + depth)
    words = [int(x) for x in rng.integers(0, 2**min(width, 62), size=60)]
    params = {"WIDTH": width, "DEPTH": depth, "STYLE": style}
    run = run_core(tmp_path / "stall", "qloom_fifo", params, words, width, len(words), width, seed=depth,
                   p_valid=0.6, p_ready=0.5)
    assert run.outputs == words
    run = run_core(tmp_path / "full", "qloom_fifo", params, words, width, len(words), width, seed=depth)
    assert run.outputs == words
    if depth > (3 if style == 1 else 1):  # a push and a pop every clock
        assert set(np.diff(run.out_cycles).tolist()) == {1}


@pytest.mark.hw
@pytest.mark.parametrize("n_in,n_out,bits", [(2, 3, 1), (3, 2, 4), (1, 8, 2), (8, 1, 3), (4, 6, 5), (7, 7, 2),
                                             (49, 16, 1), (5, 1, 1), (16, 8, 1), (10, 1, 7), (3, 6, 2)])
def test_dwc_reorders_nothing(n_in, n_out, bits, tmp_path):
    rng = np.random.default_rng(n_in * 31 + n_out)
    total = np.lcm(n_in, n_out) * 6
    elems = rng.integers(0, 2**bits, size=total).astype(np.uint64)
    words = pack_rows(elems.reshape(-1, n_in), bits)
    params = {"IN": n_in, "OUT": n_out, "BITS": bits, "FRAME": 0}
    for name, pv, pr in (("stall", 0.6, 0.5), ("full", 1.0, 1.0)):
        run = run_core(tmp_path / name, "qloom_dwc", params, words, n_in * bits, total // n_out, n_out * bits,
                       seed=n_in + n_out, p_valid=pv, p_ready=pr)
        got = unpack_rows(run.outputs, bits, n_out).reshape(-1)
        np.testing.assert_array_equal(got, elems)
    # the side with fewer elements per word is the bottleneck: it transfers every clock
    gaps = np.diff(run.in_cycles if n_in <= n_out else run.out_cycles)
    assert set(gaps.tolist()) == {1}, gaps.tolist()


def dwc_model(elems: np.ndarray, n_in: int, n_out: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """What qloom_dwc with FRAME does: frames of `frame` elements arrive in words of n_in, a
    frame's last word part padding; the output is the frames' elements in words of n_out.
    Returns (input words as (words, n_in) with random padding, expected output elements)."""
    frames = elems.reshape(-1, frame)
    n_words = -(-frame // n_in)
    rng = np.random.default_rng(frame)
    words = rng.integers(0, elems.max() + 1, size=(len(frames), n_words * n_in)).astype(np.uint64)
    words[:, :frame] = frames  # the padding after the frame's elements is garbage, to be dropped
    return words.reshape(-1, n_in), frames.reshape(-1)


@pytest.mark.hw
@pytest.mark.parametrize("n_in,n_out,bits,frame", [
    (8, 49, 8, 784),   # TFC's 28x28 pixels: 8 per DMA word -> 49 per first-layer word
    (4, 5, 2, 20),     # a frame of whole words, ratio not a divisor (gearbox)
    (3, 5, 2, 25),     # the frame's last word carries 1 element of 3
    (4, 2, 3, 6),      # narrowing with a half-empty last word (general form)
    (64, 49, 1, 196),  # narrowing, non-divisor, partial last word
    (1, 3, 4, 9),      # gearbox from single elements
    (6, 4, 2, 16),     # narrowing by a non-divisor, last word 4 of 6
])
def test_dwc_frames_drop_padding(n_in, n_out, bits, frame, tmp_path):
    rng = np.random.default_rng(n_in * 7 + n_out + frame)
    n_frames = 3
    elems = rng.integers(0, 2**bits, size=n_frames * frame).astype(np.uint64)
    words, want = dwc_model(elems, n_in, n_out, frame)
    params = {"IN": n_in, "OUT": n_out, "BITS": bits, "FRAME": frame}
    for name, pv, pr in (("stall", 0.6, 0.5), ("full", 1.0, 1.0)):
        run = run_core(tmp_path / name, "qloom_dwc", params, pack_rows(words, bits), n_in * bits,
                       len(want) // n_out, n_out * bits, seed=n_in + frame, p_valid=pv, p_ready=pr)
        got = unpack_rows(run.outputs, bits, n_out).reshape(-1)
        np.testing.assert_array_equal(got, want)
    # at full rate the side with fewer words per frame is never the one that waits
    if -(-frame // n_in) >= frame // n_out:
        assert set(np.diff(run.in_cycles).tolist()) == {1}
    else:
        assert set(np.diff(run.out_cycles).tolist()) == {1}


@pytest.mark.hw
def test_dwc_without_frame_keeps_padding(tmp_path):
    """The frame test can fail: the same words through a FRAME = 0 converter keep the padding."""
    elems = np.random.default_rng(3).integers(0, 4, size=2 * 25).astype(np.uint64)
    words, want = dwc_model(elems, 3, 5, 25)
    run = run_core(tmp_path, "qloom_dwc", {"IN": 3, "OUT": 5, "BITS": 2, "FRAME": 0}, pack_rows(words, 2), 6,
                   len(want) // 5, 10, seed=1)
    assert not np.array_equal(unpack_rows(run.outputs, 2, 5).reshape(-1), want)
