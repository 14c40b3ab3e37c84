// qloom_fifo: synchronous stream FIFO of DEPTH words, WIDTH bits each.
//
// Stream rules (every qloom module): a word moves on a clock edge where valid && ready.
// Once valid is high, data holds until ready. Here m_tvalid (= not empty) and s_tready
// (= not full) are pure functions of registered state: no combinational path from
// m_tready to s_tready, nor from s_tvalid to m_tvalid. A push and a pop may share a cycle,
// so a non-full FIFO passes one word per clock. Storage has an asynchronous read:
// STYLE 2 (distributed, what the generator asks for) keeps it in LUTRAM (RAM32M holds
// 32 x 6 bits in 4 LUTs); 3 registers; 0 leaves it to the tool (Yosys picks flip-flops
// for a few words, LUTRAM, or block RAM behind an extracted address register).
module qloom_fifo #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 2,
  parameter int STYLE = 0
) (
  input  logic             clk,
  input  logic             rst_n,  // synchronous, active low
  input  logic [WIDTH-1:0] s_tdata,
  input  logic             s_tvalid,
  output logic             s_tready,
  output logic [WIDTH-1:0] m_tdata,
  output logic             m_tvalid,
  input  logic             m_tready
);
  localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  localparam int CW = $clog2(DEPTH + 1);

  logic [AW-1:0] wp, rp;
  logic [CW-1:0] count;  // words stored, 0..DEPTH

  wire push = s_tvalid && s_tready;
  wire pop = m_tvalid && m_tready;
  assign s_tready = count != CW'(DEPTH);
  assign m_tvalid = count != '0;
  if (STYLE == 2) begin : g_distributed
    (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
    assign m_tdata = mem[rp];
    always_ff @(posedge clk) begin
      if (push) mem[wp] <= s_tdata;
    end
  end else if (STYLE == 3) begin : g_registers
    (* ram_style = "registers" *) logic [WIDTH-1:0] mem [DEPTH];
    assign m_tdata = mem[rp];
    always_ff @(posedge clk) begin
      if (push) mem[wp] <= s_tdata;
    end
  end else begin : g_auto
    logic [WIDTH-1:0] mem [DEPTH];
    assign m_tdata = mem[rp];
    always_ff @(posedge clk) begin
      if (push) mem[wp] <= s_tdata;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wp <= '0;
      rp <= '0;
      count <= '0;
    end else begin
      if (push) wp <= (wp == AW'(DEPTH - 1)) ? '0 : wp + 1'b1;
      if (pop) rp <= (rp == AW'(DEPTH - 1)) ? '0 : rp + 1'b1;
      if (push && !pop) count <= count + 1'b1;
      else if (pop && !push) count <= count - 1'b1;
    end
  end
endmodule
