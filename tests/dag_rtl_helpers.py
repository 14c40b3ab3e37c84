"""Small DAG graphs and random DAGs for the DAG RTL tests; the Icarus bench of the cores with
several stream ports (qloom_fork, qloom_add, qloom_concat) is `rtl_helpers.run_ports`, the one
bench of every core (re-exported here)."""

from __future__ import annotations

from rtl_helpers import Port, PortsRun, packed, run_ports  # noqa: F401  (the DAG tests import them from here)


# ---------------------------------------------------------------- small DAG graphs


def graph_residual(seed=0, pe=2, skew_heavy=False):
    """thr -> fork -> (3x3 conv: window + MatVec with thresholds) + skip -> add -> thr.
    `skew_heavy`: the conv branch's window double-buffers whole frames, so the skip FIFO
    must hold about a frame."""
    import numpy as np

    from qloom.ir import AddStreams, Fork, IntType, SlidingWindow, Threshold

    from rtl_helpers import _graph, _mv

    rng = np.random.default_rng(seed)
    u2, s8 = IntType(2, False), IntType(8, True)
    h = 6 if skew_heavy else 4
    t0 = Threshold(name="thr0", in_shape=(h, h, 4), in_dtype=s8,
                   thresholds=np.sort(rng.integers(-60, 60, size=(4, 3)), axis=1), out_base=0, pe=pe)
    fk = Fork(name="fork", in_shape=t0.out_shape, in_dtype=t0.out_dtype, k=2, pe=pe)
    sw = SlidingWindow(name="swg", in_shape=fk.out_shape, in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1), simd=2,
                       inputs=("fork",))
    cv = _mv(rng, "conv", sw.out_shape, u2, IntType(2, True), 4, 3, 0, 1, pe=2, simd=6)
    ad = AddStreams(name="add", in_shape=fk.out_shape, in_dtype=u2, in_dtype_b=cv.out_dtype, shift_a=1, pe=pe,
                    inputs=("fork", "conv"))
    acc = ad.out_dtype
    t1 = Threshold(name="thr1", in_shape=ad.out_shape, in_dtype=acc,
                   thresholds=np.sort(rng.integers(acc.min, acc.max + 1, size=(4, 2)), axis=1), pe=pe)
    return _graph("residual" + ("_heavy" if skew_heavy else ""), [t0, fk, sw, cv, ad, t1])


def graph_concat3(seed=1):
    """fork to three readers: a threshold, a 1x1 conv and the stream itself, concatenated
    (mixed types), then a 1x1 conv over all channels."""
    import numpy as np

    from qloom.ir import Concat, Fork, IntType, Threshold

    from rtl_helpers import _graph, _mv

    rng = np.random.default_rng(seed)
    u3 = IntType(3, False)
    t0 = Threshold(name="thr0", in_shape=(3, 3, 6), in_dtype=IntType(6, True),
                   thresholds=np.sort(rng.integers(-20, 20, size=(6, 7)), axis=1), pe=3)
    fk = Fork(name="split", in_shape=t0.out_shape, in_dtype=u3, k=3, pe=3)
    ta = Threshold(name="thr_a", in_shape=fk.out_shape, in_dtype=u3, thresholds=np.array([[2]] * 6), out_base=-1,
                   out_step=2, pe=6, inputs=("split",))
    mb = _mv(rng, "conv_b", fk.out_shape, u3, IntType(3, True), 3, None, pe=1, simd=2)
    mb = _replace(mb, inputs=("split",))
    ct = Concat(name="cat", in_shape=ta.out_shape, in_dtype=ta.out_dtype, channels=(6, 3, 6),
                dtypes=(ta.out_dtype, mb.out_dtype, u3), pe=3, inputs=("thr_a", "conv_b", "split"))
    fc = _mv(rng, "conv_c", ct.out_shape, ct.out_dtype, IntType(2, True), 4, None, pe=2, simd=5)
    return _graph("concat3", [t0, fk, ta, mb, ct, fc])


def graph_residual_deep(seed=4):
    """The residual block over a 24x24x8 map (16-bit words): the window's frame buffer makes
    the skip FIFO hold a frame, ~600 words, which the folding puts in block RAM."""
    import numpy as np

    from qloom.ir import AddStreams, Fork, IntType, SlidingWindow, Threshold

    from rtl_helpers import _graph, _mv

    rng = np.random.default_rng(seed)
    u2 = IntType(2, False)
    t0 = Threshold(name="thr0", in_shape=(24, 24, 8), in_dtype=IntType(8, True),
                   thresholds=np.sort(rng.integers(-60, 60, size=(8, 3)), axis=1), pe=8)
    fk = Fork(name="fork", in_shape=t0.out_shape, in_dtype=u2, k=2, pe=8)
    sw = SlidingWindow(name="swg", in_shape=fk.out_shape, in_dtype=u2, kernel=(3, 3), pad=(1, 1, 1, 1), simd=8,
                       inputs=("fork",))
    cv = _mv(rng, "conv", sw.out_shape, u2, IntType(2, True), 8, 3, 0, 1, pe=8, simd=24)
    ad = AddStreams(name="add", in_shape=fk.out_shape, in_dtype=u2, in_dtype_b=cv.out_dtype, pe=8,
                    inputs=("fork", "conv"))
    acc = ad.out_dtype
    t1 = Threshold(name="thr1", in_shape=ad.out_shape, in_dtype=acc,
                   thresholds=np.sort(rng.integers(acc.min, acc.max + 1, size=(8, 2)), axis=1), pe=8)
    return _graph("residual_deep", [t0, fk, sw, cv, ad, t1])


def graph_pool_fork(seed=2):
    """thr (PE 4) -> 2x2 max pool (PE 4) -> fork (PE 1) -> thr + skip -> add -> thr, every layer
    64 cycles, a 4 -> 1 converter behind the pool: its FIFO sits in front of the converter (the
    wide side). (With the FIFO behind it this small design still runs at 64 cycles: the pool's
    rows are short; the board-folded resnet-w2a2 lost 9% there, bench/bench_resnet.py.)"""
    import numpy as np

    from qloom.ir import AddStreams, Fork, IntType, Pool, PoolMode, Threshold

    from rtl_helpers import _graph

    rng = np.random.default_rng(seed)
    u2 = IntType(2, False)
    t0 = Threshold(name="thr0", in_shape=(8, 8, 4), in_dtype=IntType(8, True),
                   thresholds=np.sort(rng.integers(-60, 60, size=(4, 3)), axis=1), pe=4)
    pl = Pool(name="pool", in_shape=t0.out_shape, in_dtype=u2, mode=PoolMode.MAX, kernel=(2, 2), stride=(2, 2), pe=4)
    fk = Fork(name="fork", in_shape=pl.out_shape, in_dtype=u2, k=2, pe=1)
    tb = Threshold(name="thr_b", in_shape=fk.out_shape, in_dtype=u2, thresholds=np.array([[1, 2, 3]] * 4), pe=1,
                   inputs=("fork",))
    ad = AddStreams(name="add", in_shape=fk.out_shape, in_dtype=u2, in_dtype_b=tb.out_dtype, pe=1,
                    inputs=("fork", "thr_b"))
    acc = ad.out_dtype
    t1 = Threshold(name="thr1", in_shape=ad.out_shape, in_dtype=acc,
                   thresholds=np.sort(rng.integers(acc.min, acc.max + 1, size=(4, 2)), axis=1), pe=1)
    return _graph("pool_fork", [t0, pl, fk, tb, ad, t1])


def _replace(layer, **changes):
    import dataclasses

    return dataclasses.replace(layer, **changes)


DAG_GRAPHS = {
    "residual": lambda: graph_residual(),
    "residual_heavy": lambda: graph_residual(seed=3, pe=4, skew_heavy=True),
    "concat3": lambda: graph_concat3(),
    "pool_fork": lambda: graph_pool_fork(),
    "residual_deep": lambda: graph_residual_deep(),
}


class _Dag:
    """Builds a random IR DAG layer by layer (names, inputs, random foldings)."""

    def __init__(self, rng, h: int, w: int):
        self.rng, self.h, self.w = rng, h, w
        self.layers: list = []
        self.n = 0

    def name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def pe(self, c: int) -> int:
        from qloom.fold.rules import divisors

        return int(self.rng.choice(divisors(c)))

    def add(self, layer):
        self.layers.append(layer)
        return layer

    def thr(self, src, c: int, bits: int, inputs=()):
        """Requantize to `bits` unsigned (1 bit: sometimes bipolar)."""
        import numpy as np

        from qloom.ir import Threshold

        t = src.out_dtype
        n = (1 << bits) - 1
        if bits == 1 and self.rng.random() < 0.5:  # bipolar out
            thr = self.rng.integers(t.min, t.max + 1, size=(c, 1))
            return self.add(Threshold(name=self.name("thr"), in_shape=src.out_shape, in_dtype=t, thresholds=thr,
                                      out_base=-1, out_step=2, pe=self.pe(c), inputs=inputs))
        thr = np.sort(self.rng.integers(t.min, t.max + 2, size=(c, n)), axis=1)
        return self.add(Threshold(name=self.name("thr"), in_shape=src.out_shape, in_dtype=t, thresholds=thr,
                                  pe=self.pe(c), inputs=inputs))

    def conv1x1(self, src, mh: int, inputs=(), n_thr=None):
        import dataclasses

        from qloom.ir import IntType

        from rtl_helpers import _mv

        c = src.out_shape[2]
        mv = _mv(self.rng, self.name("mv"), src.out_shape, src.out_dtype, IntType(2, True), mh, n_thr,
                 pe=self.pe(mh), simd=self.pe(c))
        return self.add(dataclasses.replace(mv, inputs=inputs))

    def conv3x3(self, src, mh: int, inputs=()):
        from qloom.ir import IntType, SlidingWindow

        from rtl_helpers import _mv

        c = src.out_shape[2]
        sw = self.add(SlidingWindow(name=self.name("swg"), in_shape=src.out_shape, in_dtype=src.out_dtype,
                                    kernel=(3, 3), pad=(1, 1, 1, 1), simd=self.pe(c), inputs=inputs))
        t = sw.out_dtype
        return self.add(_mv(self.rng, self.name("conv"), sw.out_shape, t, IntType(2, True), mh, 3 if t.bits > 1 else 1,
                            0, 1, pe=self.pe(mh), simd=self.pe(9 * c)))

    def pool(self, src, inputs=()):
        from qloom.ir import Pool, PoolMode

        c = src.out_shape[2]
        return self.add(Pool(name=self.name("pool"), in_shape=src.out_shape, in_dtype=src.out_dtype,
                             mode=PoolMode.MAX, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1), pe=self.pe(c),
                             inputs=inputs))

    def branch(self, fork, c: int):
        """One reader of `fork`: the stream itself (None), a threshold, a 1x1 conv with
        thresholds, a 3x3 conv or a max pool; returns its last layer."""
        kind = self.rng.choice(["id", "thr", "mv", "conv", "pool"], p=[0.25, 0.2, 0.2, 0.2, 0.15])
        inputs = (fork.name,)
        if kind == "id":
            return fork
        if kind == "thr":
            return self.thr(fork, c, int(self.rng.integers(1, 4)), inputs)
        if kind == "mv":
            return self.conv1x1(fork, c, inputs, n_thr=int(self.rng.integers(1, 4)))
        if kind == "pool":
            return self.pool(fork, inputs)
        return self.conv3x3(fork, c, inputs)


def random_dag(seed: int):
    """A small random DAG: an input threshold, 1-2 blocks (a residual add of two readers of a
    fork, or a concat of 2-3), each requantized, then a 1x1 conv to logits; random widths,
    foldings, shifts."""
    from qloom.ir import AddStreams, Concat, Fork, IntType

    from rtl_helpers import _graph

    import numpy as np

    rng = np.random.default_rng(seed)
    h = int(rng.integers(2, 5))
    b = _Dag(rng, h, int(rng.integers(2, 5)))
    c = int(rng.choice([2, 3, 4, 6]))
    from qloom.ir import Threshold

    x0 = Threshold(name="in_thr", in_shape=(h, b.w, c), in_dtype=IntType(6, True),
                   thresholds=np.sort(rng.integers(-32, 33, size=(c, 3)), axis=1), pe=b.pe(c))
    cur = b.add(x0)
    for _ in range(int(rng.integers(1, 3))):
        k = 2 if rng.random() < 0.6 else 3
        fk = b.add(Fork(name=b.name("fork"), in_shape=cur.out_shape, in_dtype=cur.out_dtype, k=k, pe=b.pe(c),
                        inputs=(cur.name,)))
        ends = [b.branch(fk, c) for _ in range(k)]
        if k == 2 and rng.random() < 0.6:  # residual add (shapes equal: every branch keeps C)
            sa, sb = (int(s) for s in rng.integers(0, 2, size=2))
            cur = b.add(AddStreams(name=b.name("add"), in_shape=ends[0].out_shape, in_dtype=ends[0].out_dtype,
                                   in_dtype_b=ends[1].out_dtype, shift_a=sa, shift_b=sb, pe=b.pe(c),
                                   inputs=tuple(e.name for e in ends)))
        else:
            chans = tuple(e.out_shape[2] for e in ends)
            cur = b.add(Concat(name=b.name("cat"), in_shape=ends[0].out_shape, in_dtype=ends[0].out_dtype,
                               channels=chans, dtypes=tuple(e.out_dtype for e in ends),
                               pe=b.pe(int(np.gcd.reduce(chans))), inputs=tuple(e.name for e in ends)))
        cur = b.thr(cur, cur.out_shape[2], int(rng.integers(1, 4)), (cur.name,))
        c = cur.out_shape[2]
    b.conv1x1(cur, int(rng.integers(2, 5)), (cur.name,))
    return _graph(f"random_dag_{seed}", b.layers)
