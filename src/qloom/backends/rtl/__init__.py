"""RTL backend: a hardware graph -> a stitched SystemVerilog design from the qloom library.

`generate(graph, out_dir)` writes the library cores it uses, one wrapper per layer, the
`$readmemh` images of weights and thresholds, the top module (DMA-ready AXI-Stream ports
`s_axis_*`, `m_axis_*` with TLAST, clock `ap_clk`, active-low synchronous reset `ap_rst_n`)
and `design.json`, which test benches and drivers read. The per-layer emitters live in
`layers.py`; the stream packing (ports and .mem images) in `qloom.packing`. The backend's cost
model (`cost.RtlCostModel`: `datapath.py` says how qloom_mvtu computes, `coeffs.py` holds the
constants fitted to Yosys runs of the cores) is what the folding reads, through
`qloom.fold.model.CostModel`; both it and the emitters read each layer's `qloom.hw.interface`.
"""

from qloom.backends.rtl.layers import Core, emit
from qloom.backends.rtl.out_kind import with_out_kind
from qloom.backends.rtl.top import generate

__all__ = ["generate", "emit", "Core", "with_out_kind"]
