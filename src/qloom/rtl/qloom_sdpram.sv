// qloom_sdpram: simple dual-port RAM, one write port and one registered read port, one clock.
//
// rdata is mem[raddr] of the previous clock edge; a read of the address written at the same
// edge returns the old word (read-first, which block RAM and LUTRAM both do without extra
// logic). STYLE is the resolved memory style (qloom.fold.memory_styles), one generate
// branch each because attributes must be literals:
//   0 auto (no attribute), 1 block (RAMB18/36), 2 distributed (LUTRAM and an output
//   register), 3 registers (flip-flops).
module qloom_sdpram #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 4,
  parameter int STYLE = 0,
  parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic             we,
  input  logic [AW-1:0]    waddr,
  input  logic [WIDTH-1:0] wdata,
  input  logic [AW-1:0]    raddr,
  output logic [WIDTH-1:0] rdata
);
  if (STYLE == 1) begin : g_block
    (* ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[waddr] <= wdata;
      rdata <= mem[raddr];
    end
  end else if (STYLE == 2) begin : g_distributed
    (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[waddr] <= wdata;
      rdata <= mem[raddr];
    end
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "registers" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[waddr] <= wdata;
      rdata <= mem[raddr];
    end
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[waddr] <= wdata;
      rdata <= mem[raddr];
    end
  end
endmodule
