// qloom_line: a delay line of DEPTH words addressed like a RAM: q is mem[addr] now
// (combinational), and when we the word d replaces it at the clock edge. A pass that visits
// the addresses in turn gets back what it stored one round earlier.
//
// The read is asynchronous, so the line lives in LUTRAM or flip-flops, never block RAM.
// STYLE (qloom.fold.memory_styles): 2 distributed (LUTRAM), 3 registers; 0 leaves it to
// the tool.
module qloom_line #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 4,
  parameter int STYLE = 0,
  parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic             we,
  input  logic [AW-1:0]    addr,
  input  logic [WIDTH-1:0] d,
  output logic [WIDTH-1:0] q
);
  if (STYLE == 2) begin : g_distributed
    (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= d;
    end
    assign q = mem[addr];
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "registers" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= d;
    end
    assign q = mem[addr];
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= d;
    end
    assign q = mem[addr];
  end
endmodule
