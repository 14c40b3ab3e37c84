// qloom_add: elementwise sum of two streams (an AddStreams layer), PE elements per word.
//
// out = (a << SHIFT_A) + (b << SHIFT_B), exact: OUT_BITS is the smallest type holding the
// sum's range (the IR's out_dtype), so the sum taken modulo 2**OUT_BITS in two's complement
// is its encoding whatever the signs (unsigned out: the sum is never negative). Inputs are
// unsigned, signed (two's complement) or bipolar (bit b -> 2b - 1), each per its *_SIGNED /
// *_BIPOLAR flags; every input type's range lies inside the output's, so OUT_BITS >= *_BITS.
// Element p of a word is at bits [p*BITS, (p+1)*BITS) on every port.
//
// Handshake rule: each input owns a 2-word qloom_fifo of registers (a_tready / b_tready =
// its registered not-full flag, so neither input's ready depends on the other input's valid
// or on m_tready); a pair is summed when both buffers hold a word and the output register is
// empty or being read; m_tvalid is the output register's valid. Full rate: one word per
// clock. Latency: 2 clocks (input buffer, output register).
module qloom_add #(
  parameter int PE = 1,
  parameter int A_BITS = 4,
  parameter int A_SIGNED = 0,
  parameter int A_BIPOLAR = 0,
  parameter int SHIFT_A = 0,
  parameter int B_BITS = 4,
  parameter int B_SIGNED = 0,
  parameter int B_BIPOLAR = 0,
  parameter int SHIFT_B = 0,
  parameter int OUT_BITS = 5
) (
  input  logic                   clk,
  input  logic                   rst_n,  // synchronous, active low
  input  logic [PE*A_BITS-1:0]   a_tdata,
  input  logic                   a_tvalid,
  output logic                   a_tready,
  input  logic [PE*B_BITS-1:0]   b_tdata,
  input  logic                   b_tvalid,
  output logic                   b_tready,
  output logic [PE*OUT_BITS-1:0] m_tdata,
  output logic                   m_tvalid,
  input  logic                   m_tready
);
  logic [PE*A_BITS-1:0] a_word;
  logic [PE*B_BITS-1:0] b_word;
  logic a_have, b_have, out_v;
  wire fire = a_have && b_have && (!out_v || m_tready);

  qloom_fifo #(.WIDTH(PE*A_BITS), .DEPTH(2), .STYLE(3)) u_a (
    .clk(clk), .rst_n(rst_n), .s_tdata(a_tdata), .s_tvalid(a_tvalid), .s_tready(a_tready),
    .m_tdata(a_word), .m_tvalid(a_have), .m_tready(fire));
  qloom_fifo #(.WIDTH(PE*B_BITS), .DEPTH(2), .STYLE(3)) u_b (
    .clk(clk), .rst_n(rst_n), .s_tdata(b_tdata), .s_tvalid(b_tvalid), .s_tready(b_tready),
    .m_tdata(b_word), .m_tvalid(b_have), .m_tready(fire));

  logic [PE*OUT_BITS-1:0] sum;
  for (genvar p = 0; p < PE; p++) begin : g_pe
    wire [A_BITS-1:0] xa = a_word[p*A_BITS +: A_BITS];
    wire [B_BITS-1:0] xb = b_word[p*B_BITS +: B_BITS];
    logic [OUT_BITS-1:0] va, vb;  // the values in the output's two's complement
    if (A_BIPOLAR != 0) begin : g_a_bipolar
      assign va = xa[0] ? OUT_BITS'(1) : '1;
    end else begin : g_a_int
      assign va = OUT_BITS'($signed({A_SIGNED != 0 && xa[A_BITS-1], xa}));
    end
    if (B_BIPOLAR != 0) begin : g_b_bipolar
      assign vb = xb[0] ? OUT_BITS'(1) : '1;
    end else begin : g_b_int
      assign vb = OUT_BITS'($signed({B_SIGNED != 0 && xb[B_BITS-1], xb}));
    end
    assign sum[p*OUT_BITS +: OUT_BITS] = (va << SHIFT_A) + (vb << SHIFT_B);
  end

  always_ff @(posedge clk) begin
    if (fire) m_tdata <= sum;
    if (!rst_n) out_v <= 1'b0;
    else if (fire) out_v <= 1'b1;
    else if (m_tready) out_v <= 1'b0;
  end
  assign m_tvalid = out_v;
endmodule
