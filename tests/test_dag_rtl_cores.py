"""qloom_fork, qloom_add and qloom_concat against their Python models under Icarus, with random
valid on every input and random ready on every output (and at full rate: one word per clock)."""

import numpy as np
import pytest

from qloom import semantics
from qloom.ir import BIPOLAR, AddStreams, Concat, IntType
from qloom.packing import pack_words, unpack_words

from dag_rtl_helpers import Port, packed, run_ports
from rtl_helpers import random_values

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731

# the cores' latency in clocks (first input word -> first output valid) at full rate
LATENCY = {"qloom_fork": 1, "qloom_add": 2, "qloom_concat": 2}


def add_model(a, b, shift_a, shift_b):
    """AddStreams: the contract's semantics."""
    return semantics.add_streams(a, b, shift_a, shift_b)


def concat_model(xs):
    """Concat along channels (the last axis), in port order."""
    return semantics.concat(xs)


def _flag(b: bool) -> int:
    return 1 if b else 0


def _first_latency(run, ins: list[str], out: str) -> int:
    return run.out_cycles[out][0] - min(run.in_cycles[i][0] for i in ins)


# ---------------------------------------------------------------- fork


@pytest.mark.hw
@pytest.mark.parametrize("width,k", [(1, 2), (7, 3), (33, 4), (16, 2)])
def test_fork_copies_to_every_consumer(width, k, tmp_path):
    rng = np.random.default_rng(width * 10 + k)
    words = [int(x) for x in rng.integers(0, 2**min(width, 62), size=80)]
    readies = [0.3, 0.8, 1.0, 0.5][:k]  # consumers at different speeds
    for name, pv, prs in (("stall", 0.7, readies), ("full", 1.0, [1.0] * k)):
        ins = [Port("i0", width, words, p=pv)]
        outs = [Port(f"o{j}", width, n=len(words), p=pr) for j, pr in enumerate(prs)]
        conn = {"s_tdata": "i0_tdata", "s_tvalid": "i0_tvalid", "s_tready": "i0_tready",
                "m_tdata": packed(outs, "tdata"), "m_tvalid": packed(outs, "tvalid"),
                "m_tready": packed(outs, "tready")}
        run = run_ports(tmp_path / name, "qloom_fork", {"WIDTH": width, "K": k}, ins, outs, conn, seed=k)
        for o in outs:
            assert run.outputs[o.name] == words, o.name
    for o in outs:  # full rate: every consumer gets a word per clock
        assert set(np.diff(run.out_cycles[o.name]).tolist()) == {1}
    assert set(np.diff(run.in_cycles["i0"]).tolist()) == {1}
    assert _first_latency(run, ["i0"], "o0") == LATENCY["qloom_fork"]


@pytest.mark.hw
def test_fork_slow_consumer_holds_the_input(tmp_path):
    """A consumer that never takes a word lets the others run exactly 2 words ahead."""
    words = list(range(1, 11))
    ins = [Port("i0", 4, words)]
    outs = [Port("o0", 4, n=len(words)), Port("o1", 4, n=0, p=0.0)]
    conn = {"s_tdata": "i0_tdata", "s_tvalid": "i0_tvalid", "s_tready": "i0_tready",
            "m_tdata": packed(outs, "tdata"), "m_tvalid": packed(outs, "tvalid"), "m_tready": packed(outs, "tready")}
    run = run_ports(tmp_path, "qloom_fork", {"WIDTH": 4, "K": 2}, ins, outs, conn, max_cycles=300)
    assert run.outputs["o0"] == [1, 2] and run.outputs["o1"] == []
    assert len(run.in_cycles["i0"]) == 2


# ---------------------------------------------------------------- add

ADD_CASES = {
    # name: (a type, b type, shift_a, shift_b, pe)
    "u4_u4": (U(4), U(4), 0, 0, 1),
    "s4_u3_shift_b2_pe3": (S(4), U(3), 0, 2, 3),
    "s8_s8_shift_a1_pe4": (S(8), S(8), 1, 0, 4),
    "bipolar_s3_pe2": (BIPOLAR, S(3), 0, 0, 2),
    "bipolar_bipolar_shift": (BIPOLAR, BIPOLAR, 1, 0, 1),
    "u1_s2_both_shifts_pe5": (U(1), S(2), 3, 1, 5),
    "u8_bipolar": (U(8), BIPOLAR, 0, 0, 2),
}


def add_out_type(ta: IntType, tb: IntType, sa: int, sb: int) -> IntType:
    """The smallest type holding the sum's range (the IR's AddStreams out_dtype)."""
    return AddStreams(name="a", in_shape=(1, 1, 1), in_dtype=ta, in_dtype_b=tb, shift_a=sa, shift_b=sb).out_dtype


def _add_params(ta, tb, sa, sb, pe, out) -> dict:
    return {"PE": pe, "A_BITS": ta.bits, "A_SIGNED": _flag(ta.signed), "A_BIPOLAR": _flag(ta.bipolar),
            "SHIFT_A": sa, "B_BITS": tb.bits, "B_SIGNED": _flag(tb.signed), "B_BIPOLAR": _flag(tb.bipolar),
            "SHIFT_B": sb, "OUT_BITS": out.bits}


def _run_add(path, params, ta, tb, pe, a, b, out, pa=1.0, pb=1.0, pr=1.0, seed=1):
    ins = [Port("a", pe * ta.bits, pack_words(a, ta, pe), p=pa), Port("b", pe * tb.bits, pack_words(b, tb, pe), p=pb)]
    outs = [Port("m", pe * out.bits, n=a.size // pe, p=pr)]
    conn = {f"{s}_{x}": f"{s}_{x}" for s in ("a", "b", "m") for x in ("tdata", "tvalid", "tready")}
    run = run_ports(path, "qloom_add", params, ins, outs, conn, seed=seed)
    return run, unpack_words(run.outputs["m"], out, pe)


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(ADD_CASES))
def test_add_matches_model(case, tmp_path):
    ta, tb, sa, sb, pe = ADD_CASES[case]
    seed = sorted(ADD_CASES).index(case) + 300
    rng = np.random.default_rng(seed)
    out = add_out_type(ta, tb, sa, sb)
    shape = (3, 4, 2 * pe)  # 3 "frames" of 4 pixels
    a, b = random_values(rng, ta, shape), random_values(rng, tb, shape)
    a.reshape(-1)[:2], b.reshape(-1)[:2] = [ta.min, ta.max], [tb.min, tb.max]  # both ends of the range
    want = add_model(a, b, sa, sb)
    assert out.contains(want)
    params = _add_params(ta, tb, sa, sb, pe, out)
    run, got = _run_add(tmp_path / "stall", params, ta, tb, pe, a, b, out, 0.6, 0.8, 0.5, seed)
    np.testing.assert_array_equal(got.reshape(shape), want)
    run, got = _run_add(tmp_path / "full", params, ta, tb, pe, a, b, out, seed=seed)
    np.testing.assert_array_equal(got.reshape(shape), want)
    assert set(np.diff(run.out_cycles["m"]).tolist()) == {1}
    assert _first_latency(run, ["a", "b"], "m") == LATENCY["qloom_add"]


@pytest.mark.hw
def test_add_wrong_shift_is_caught(tmp_path):
    """The comparison can fail: the same streams through a core with the shifts swapped differ."""
    ta, tb, pe = S(4), U(3), 2
    rng = np.random.default_rng(5)
    a, b = random_values(rng, ta, (8, pe)), random_values(rng, tb, (8, pe))
    out = add_out_type(ta, tb, 1, 2)  # holds both sums
    _, got = _run_add(tmp_path, _add_params(ta, tb, 0, 2, pe, out), ta, tb, pe, a, b, out)
    assert not np.array_equal(got.reshape(a.shape), add_model(a, b, 1, 1))
    np.testing.assert_array_equal(got.reshape(a.shape), add_model(a, b, 0, 2))


# ---------------------------------------------------------------- concat

CONCAT_CASES = {
    # name: (channels per port, types per port, pe)
    "u2_u2": ((2, 3), (U(2), U(2)), 1),
    "s4_u3_bipolar_pe2": ((4, 2, 6), (S(4), U(3), BIPOLAR), 2),
    "bipolar_s2": ((1, 1), (BIPOLAR, S(2)), 1),
    "four_ports_pe3": ((3, 6, 3, 9), (U(4), S(5), U(1), S(3)), 3),
    "u8_one_word_each_pe4": ((4, 4), (U(8), S(6)), 4),
}


def concat_out_type(types) -> IntType:
    """The smallest type holding every port's range (the IR's Concat out_dtype)."""
    return Concat(name="c", in_shape=(1, 1, 1), in_dtype=types[0], channels=(1,) * len(types),
                  dtypes=tuple(types)).out_dtype


def _run_concat(path, chans, types, pe, xs, out, p_in, p_out, seed, rng):
    k = len(chans)
    slot = pe * out.bits
    ins = []
    for i, (t, x) in enumerate(zip(types, xs)):
        words = pack_words(x, t, pe)
        pad = slot - pe * t.bits  # garbage above the port's word: the core must ignore it
        if pad:
            words = [w | (int(g) << (pe * t.bits)) for w, g in zip(words, rng.integers(0, 2**min(pad, 60), len(words)))]
        ins.append(Port(f"s{i}", slot, words, p=p_in[i]))
    n_out = sum(x.size for x in xs) // pe
    outs = [Port("m", slot, n=n_out, p=p_out)]
    conn = {"s_tdata": packed(ins, "tdata"), "s_tvalid": packed(ins, "tvalid"), "s_tready": packed(ins, "tready"),
            "m_tdata": "m_tdata", "m_tvalid": "m_tvalid", "m_tready": "m_tready"}
    params = {"K": k, "PE": pe, "WORDS": tuple(c // pe for c in chans), "IN_BITS": tuple(t.bits for t in types),
              "IN_SIGNED": tuple(_flag(t.signed) for t in types), "IN_BIPOLAR": tuple(_flag(t.bipolar) for t in types),
              "OUT_BITS": out.bits}
    run = run_ports(path, "qloom_concat", params, ins, outs, conn, seed=seed)
    return run, unpack_words(run.outputs["m"], out, pe)


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(CONCAT_CASES))
def test_concat_matches_model(case, tmp_path):
    chans, types, pe = CONCAT_CASES[case]
    seed = sorted(CONCAT_CASES).index(case) + 400
    rng = np.random.default_rng(seed)
    out = concat_out_type(types)
    xs = [random_values(rng, t, (2, 3, c)) for t, c in zip(types, chans)]  # 2 frames of 3 pixels
    want = concat_model(xs)
    p_in = [0.5, 0.9, 0.7, 0.3][: len(chans)]
    run, got = _run_concat(tmp_path / "stall", chans, types, pe, xs, out, p_in, 0.6, seed, rng)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    run, got = _run_concat(tmp_path / "full", chans, types, pe, xs, out, [1.0] * len(chans), 1.0, seed, rng)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    assert set(np.diff(run.out_cycles["m"]).tolist()) == {1}  # one output word per clock
    assert _first_latency(run, [f"s{i}" for i in range(len(chans))], "m") == LATENCY["qloom_concat"]


@pytest.mark.hw
def test_concat_port_order_matters(tmp_path):
    """The comparison can fail: ports given in the other order produce other words."""
    chans, types, pe = (2, 2), (U(3), U(3)), 1
    rng = np.random.default_rng(9)
    xs = [random_values(rng, U(3), (4, 2)) for _ in range(2)]
    _, got = _run_concat(tmp_path, chans, types, pe, xs[::-1], U(3), [1.0, 1.0], 1.0, 1, rng)
    assert not np.array_equal(got.reshape(4, 4), concat_model(xs))
