// qloom_ram: single-port RAM with a write-first registered read, one clock.
//
// rdata is mem[addr] as of the previous clock edge, after that edge's write: a word written
// at an edge is read back in the next cycle. The address is registered and the array read
// asynchronously, the form Yosys maps to LUTRAM (RAM32M, RAM64M, ...) with no bypass logic,
// and to a block RAM port in WRITE_FIRST mode (Yosys then adds a bypass: one LUT and two
// flip-flops per bit). STYLE is the resolved memory style (qloom.fold.memory_styles), one
// generate branch each because attributes must be literals:
//   0 auto (no attribute), 1 block (RAMB18/36), 2 distributed (LUTRAM), 3 registers.
module qloom_ram #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 4,
  parameter int STYLE = 0,
  parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
  input  logic             clk,
  input  logic             we,
  input  logic [AW-1:0]    addr,
  input  logic [WIDTH-1:0] wdata,
  output logic [WIDTH-1:0] rdata
);
  logic [AW-1:0] addr_q;
  always_ff @(posedge clk) addr_q <= addr;

  if (STYLE == 1) begin : g_block
    (* ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= wdata;
    end
    assign rdata = mem[addr_q];
  end else if (STYLE == 2) begin : g_distributed
    (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= wdata;
    end
    assign rdata = mem[addr_q];
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "registers" *) logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= wdata;
    end
    assign rdata = mem[addr_q];
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    always_ff @(posedge clk) begin
      if (we) mem[addr] <= wdata;
    end
    assign rdata = mem[addr_q];
  end
endmodule
