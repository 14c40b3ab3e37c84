"""The cost model of qloom_fork, qloom_add and qloom_concat against Yosys `synth_xilinx` of the
core alone (the sweeps behind the coefficients are in backends/rtl/coeffs.py)."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from qloom import synth, tools
from qloom.backends.rtl import layers
from qloom.backends.rtl.emit import LIB_DIR
from qloom.fold.resources import layer_resources
from qloom.ir import BIPOLAR, AddStreams, Concat, Fork, IntType, MemStyle

U = lambda b: IntType(b, False)  # noqa: E731
S = lambda b: IntType(b, True)  # noqa: E731


def _yosys(module: str, params: dict, workdir) -> dict:
    """LUT (slice LUTs, LUTRAM included) and FF of one library core, flattened."""
    def value(v):
        return f"{32 * len(v)}'h" + "".join(f"{x:08x}" for x in reversed(v)) if isinstance(v, tuple) else str(v)

    # copied next to the script: YoWASP maps /tmp to a private folder, so a checkout under /tmp
    # is invisible to it by absolute path (qloom's synth stage also uses relative paths)
    names = [f"{m}.sv" for m in layers.LIBRARY_DEPS[module]]
    for name in names:
        shutil.copyfile(LIB_DIR / name, workdir / name)
    files = " ".join(names)
    sets = " ".join(f"-set {k} {value(v)}" for k, v in params.items())
    (workdir / "s.ys").write_text(f"read_verilog -sv {files}\nchparam {sets} {module}\n"
                                  f"synth_xilinx -family xc7 -noiopad -top {module} -flatten\n"
                                  "tee -q -o stat.json stat -json\n")
    subprocess.run([*tools.yosys_command(), "-q", "s.ys"], cwd=workdir, check=True, capture_output=True)
    cells = json.loads((workdir / "stat.json").read_text())["design"]["num_cells_by_type"]
    return {"LUT": sum(n for c, n in cells.items() if c.startswith("LUT"))
            + sum(n * synth.LUTRAM_SITES.get(c, 0) for c, n in cells.items()),
            "FF": sum(n for c, n in cells.items() if c.startswith("FD")),
            "BRAM18": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0)}


CASES = {
    "fork_k3_w12": Fork(name="f", in_shape=(2, 2, 12), in_dtype=U(4), k=3, pe=3),
    "fork_k4_w8": Fork(name="f", in_shape=(2, 2, 8), in_dtype=U(2), k=4, pe=4),  # Yosys 101 LUT (model was 68)
    "fork_k6_w16": Fork(name="f", in_shape=(2, 2, 8), in_dtype=U(4), k=6, pe=4),
    "add_pe4_s4_u3": AddStreams(name="a", in_shape=(2, 2, 8), in_dtype=S(4), in_dtype_b=U(3), shift_b=1, pe=4),
    "concat_3_ports_mixed": Concat(name="c", in_shape=(2, 2, 4), in_dtype=U(2), channels=(4, 2, 6),
                                   dtypes=(U(2), S(4), BIPOLAR), pe=2),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", sorted(CASES))
def test_dag_core_cost_near_yosys(case, tmp_path):
    layer = CASES[case]
    core = layers.emit(layer, "x")
    got = _yosys(core.module, core.params, tmp_path)
    est = layer_resources(layer)
    assert abs(est["LUT"] - got["LUT"]) <= 0.25 * got["LUT"], (est, got)
    assert abs(est["FF"] - got["FF"]) <= 0.1 * got["FF"] + 2, (est, got)
    assert est["BRAM18"] == 0 and est["DSP"] == 0


@pytest.mark.hw
@pytest.mark.parametrize("width,depth,style", [(16, 596, MemStyle.BLOCK), (1, 4734, MemStyle.BLOCK),
                                               (16, 2884, MemStyle.BLOCK), (16, 2884, MemStyle.DISTRIBUTED)])
def test_skip_fifo_cost_near_yosys(width, depth, style, tmp_path):
    """A deep skip FIFO in block RAM (qloom_fifo STYLE 1) or LUTRAM: BRAM18 exact, LUT within
    25%, FF within 15% of Yosys; block RAM is what the folding picks at these sizes."""
    from qloom.backends.rtl.cost import fifo_resources
    from qloom.backends.rtl.top import FIFO_STYLE
    from qloom.fold.memstyle import fifo_mem_style

    layer = Fork(name="f", in_shape=(1, 1, width), in_dtype=U(1), k=2, pe=width)  # any layer with that input word
    est = fifo_resources(layer, depth=depth, style=style)
    got = _yosys("qloom_fifo", {"WIDTH": width, "DEPTH": depth, "STYLE": FIFO_STYLE[style]}, tmp_path)
    assert est["BRAM18"] == got["BRAM18"], (est, got)
    assert abs(est["LUT"] - got["LUT"]) <= 0.25 * got["LUT"], (est, got)
    assert abs(est["FF"] - got["FF"]) <= 0.15 * got["FF"] + 2, (est, got)
    assert fifo_mem_style(depth, width) is MemStyle.BLOCK


def test_dag_core_cost_grows_with_the_streams():
    """More outputs, wider words, more ports: more of each resource (the model is not constant)."""
    base = layer_resources(Fork(name="f", in_shape=(1, 1, 8), in_dtype=U(4), k=2, pe=2))
    wide = layer_resources(Fork(name="f", in_shape=(1, 1, 8), in_dtype=U(4), k=2, pe=8))
    more = layer_resources(Fork(name="f", in_shape=(1, 1, 8), in_dtype=U(4), k=4, pe=2))
    assert wide["LUT"] > base["LUT"] and wide["FF"] > base["FF"]
    assert more["LUT"] > base["LUT"] and more["FF"] > base["FF"]
    two = layer_resources(Concat(name="c", in_shape=(1, 1, 4), in_dtype=U(2), channels=(4, 4), dtypes=(U(2), U(2))))
    three = layer_resources(Concat(name="c", in_shape=(1, 1, 4), in_dtype=U(2), channels=(4, 4, 4),
                                   dtypes=(U(2),) * 3))
    assert np.all([three[k] > two[k] for k in ("LUT", "FF")])


@pytest.mark.hw
@pytest.mark.slow
@pytest.mark.parametrize("name", ["residual", "concat3"])
def test_dag_design_costs_near_yosys(name, tmp_path):
    """Whole DAG tops through Yosys: the new cores and the FIFOs on a join's ports (the skip
    FIFO sized by edge_fifo_depths) within 25% of LUT, per instance."""
    from qloom import synth
    from qloom.backends.rtl.top import generate
    from qloom.fold.calibration import compare

    from dag_rtl_helpers import DAG_GRAPHS

    g = DAG_GRAPHS[name]()
    generate(g, tmp_path)
    c = compare(g, synth.synthesize(tmp_path))
    joins = [l.name for l in g.layers if l.kind in ("Fork", "AddStreams", "Concat")]
    for part in ("layers", "streams"):
        for n in joins:
            if n in c[part]:
                est, got = c[part][n]["est"]["LUT"], c[part][n]["yosys"]["LUT"]
                assert abs(est - got) <= 0.25 * got, (part, n, est, got)


def test_shared_thresholds_cost_no_rom():
    """A Threshold whose channels share their thresholds (the requant after a residual add)
    has a constant ROM, which Yosys folds into the compares (resnet-w2a2: 38 LUT where the
    per-channel model said 78): the estimate drops the ROM and its control, not the compares."""
    from qloom.backends.rtl.cost import shared_thresholds
    from qloom.ir import Threshold

    rng = np.random.default_rng(0)
    per = np.sort(rng.integers(-8, 8, size=(32, 3)), axis=1)
    shared = np.tile(per[:1], (32, 1))
    a = Threshold(name="t", in_shape=(2, 2, 32), in_dtype=S(4), thresholds=per, pe=1)
    b = Threshold(name="t", in_shape=(2, 2, 32), in_dtype=S(4), thresholds=shared, pe=1)
    assert not shared_thresholds(a) and shared_thresholds(b)
    ea, eb = layer_resources(a), layer_resources(b)
    assert eb["LUT"] < 0.5 * ea["LUT"] and eb["FF"] < ea["FF"]
    assert 30 * 0.75 <= eb["LUT"] <= 30 * 1.25  # Yosys synth_xilinx of this shape: 30 LUT, 22 FF
