// qloom_rom: read-only memory with a registered (synchronous) read, initialised from a
// $readmemh file of DEPTH lines, each one WIDTH-bit word in hex.
//
// STYLE picks the implementation hint (IR MemStyle); attributes must be literals, hence
// one generate branch each. Checked with Yosys synth_xilinx (xc7):
//   0 auto         no attribute: the tool decides (Yosys: BRAM from ~1k words, else LUTs)
//   1 block        RAMB18E1/RAMB36E1 at any size
//   2 distributed  a ROM in LUTs. Yosys has no LUTRAM mapping for a memory without a
//                  write port and fails on "distributed", so ram_style says "logic"
//                  (read first by Yosys); rom_style = "distributed" is Vivado's spelling
//                  of the same LUT ROM.
//   3 registers    LUTs + the output register too (a constant ROM has nothing to hold in
//                  flip-flops), same netlist as 2 under Yosys.
// keep_hierarchy: with the core flattened around it, Yosys turns the read register into an
// address register and ABC folds a LUT ROM's functions into its consumers, duplicating
// them (a 64x64 weight ROM feeding popcounts grew from 64 to ~350 LUTs); kept apart, a
// DEPTH <= 64 ROM is one LUT6 per bit.
// Latency: data is mem[addr] of the previous clock edge. An empty FILE (the default)
// skips the $readmemh, so a tool elaborating the default parameters (Yosys read_verilog
// without -defer) does not look for a file; generated designs always name one.
(* keep_hierarchy *)
module qloom_rom #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 4,
  parameter FILE = "",
  parameter int STYLE = 0,
  parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic [AW-1:0]    addr,
  output logic [WIDTH-1:0] data
);
  if (STYLE == 1) begin : g_block
    (* ram_style = "block", rom_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    if (FILE != "") begin : g_init
      initial $readmemh(FILE, mem);
    end
    always_ff @(posedge clk) data <= mem[addr];
  end else if (STYLE == 2) begin : g_distributed
    (* ram_style = "logic", rom_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    if (FILE != "") begin : g_init
      initial $readmemh(FILE, mem);
    end
    always_ff @(posedge clk) data <= mem[addr];
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "registers", rom_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    if (FILE != "") begin : g_init
      initial $readmemh(FILE, mem);
    end
    always_ff @(posedge clk) data <= mem[addr];
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    if (FILE != "") begin : g_init
      initial $readmemh(FILE, mem);
    end
    always_ff @(posedge clk) data <= mem[addr];
  end
endmodule
