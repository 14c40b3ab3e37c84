// qloom_rom: read-only memory with a registered (synchronous) read, initialised from a
// $readmemh file of DEPTH lines, each one WIDTH-bit word in hex.
//
// STYLE picks the implementation hint (IR MemStyle): 0 auto (no attribute, the tool
// decides), 1 block (BRAM), 2 distributed (LUTRAM), 3 registers (logic/flip-flops).
// Attributes must be literals for the synthesis tools, hence one generate branch each.
// Latency: data is mem[addr] of the previous clock edge.
module qloom_rom #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 4,
  parameter FILE = "rom.mem",
  parameter int STYLE = 0,
  parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic [AW-1:0]    addr,
  output logic [WIDTH-1:0] data
);
  if (STYLE == 1) begin : g_block
    (* ram_style = "block", rom_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) data <= mem[addr];
  end else if (STYLE == 2) begin : g_distributed
    (* ram_style = "distributed", rom_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) data <= mem[addr];
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "logic", rom_style = "logic" *) logic [WIDTH-1:0] mem [DEPTH];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) data <= mem[addr];
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) data <= mem[addr];
  end
endmodule
