"""RTL backend: a hardware graph -> a stitched SystemVerilog design from the qloom library.

`generate(graph, out_dir)` writes the library cores it uses, one wrapper per layer, the
`$readmemh` images of weights and thresholds, the top module (DMA-ready AXI-Stream ports
`s_axis_*`, `m_axis_*` with TLAST, clock `ap_clk`, active-low synchronous reset `ap_rst_n`)
and `design.json`, which test benches and drivers read. The per-layer emitters live in
`layers.py`; the stream packing (ports and .mem images) in `qloom.packing`.
"""

from qloom.backends.rtl.layers import Core, emit
from qloom.backends.rtl.out_kind import with_out_kind
from qloom.backends.rtl.top import generate

__all__ = ["generate", "emit", "Core", "with_out_kind"]
