// A tiny stand-in for a stitched qloom top with the DMA contract's ports, for the driver
// co-simulation tests: frames of 20 INT4 elements in 3 32-bit words (the last one half
// padding); out, one 64-bit word per frame holding 3 INT16 sums, one per input word.
// m_axis_tlast follows the TLAST of the frame's last input word (the contract's rule).
module qloom_top (
    input  logic        ap_clk,
    input  logic        ap_rst_n,
    input  logic [31:0] s_axis_tdata,
    input  logic        s_axis_tvalid,
    output logic        s_axis_tready,
    input  logic        s_axis_tlast,
    output logic [63:0] m_axis_tdata,
    output logic        m_axis_tvalid,
    input  logic        m_axis_tready,
    output logic        m_axis_tlast
);
  logic [1:0] word;
  logic signed [15:0] acc0, acc1, acc2;
  logic full, last;

  function automatic logic signed [15:0] word_sum(input logic [31:0] w);
    logic signed [15:0] s;
    s = 16'sd0;
    for (int i = 0; i < 8; i++) s = s + 16'(signed'(w[4*i+:4]));
    return s;
  endfunction

  assign s_axis_tready = !full;
  assign m_axis_tvalid = full;
  assign m_axis_tdata = {16'd0, acc2, acc1, acc0};
  assign m_axis_tlast = last;

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      word <= 2'd0;
      full <= 1'b0;
      last <= 1'b0;
    end else if (full) begin
      if (m_axis_tready) full <= 1'b0;
    end else if (s_axis_tvalid) begin
      case (word)
        2'd0: acc0 <= word_sum(s_axis_tdata);
        2'd1: acc1 <= word_sum(s_axis_tdata);
        default: acc2 <= word_sum(s_axis_tdata);
      endcase
      if (word == 2'd2) begin
        word <= 2'd0;
        full <= 1'b1;
        last <= s_axis_tlast;
      end else begin
        word <= word + 2'd1;
      end
    end
  end
endmodule
