// qloom_tlast: AXI-Stream TLAST for a frame pipeline (the top's DMA ports).
//
// Rule (design.json "dma.tlast"): m_tlast is high on the last word of every output frame
// whose input frame ended with s_tlast high. TLAST on any other input word is ignored: a
// frame is IN_WORDS words, counted here, and the pipeline never sees TLAST.
// Handshakes only: the data bypasses this module. The input side (s_*) is forwarded to
// the pipeline (c_*), the pipeline's output (r_*) to the output side (m_*).
//
// A queue of DEPTH flags holds one s_tlast per frame in flight: pushed when an input
// frame's last word is accepted, popped when its output frame's last word leaves. Two
// gates, both only on a frame's last word:
//   input:  the last word of a frame waits while the queue is full;
//   output: the last word of a frame waits while the queue is empty (its flag not known).
// No deadlock:
//   (1) The input gate closes only with DEPTH >= 1 flags queued: DEPTH frames whose
//       input is complete. Every qloom layer emits a frame's output once it holds the
//       frame's input and its output is drained, needing no later frame (frame buffers are
//       handed over at the frame's last word; pools finish windows in the padding by
//       virtual pixels; width converters hold whole frames apart). So the oldest queued
//       frame leaves, its flag pops and the gate opens; no word behind the gate is needed
//       for that.
//   (2) The output gate closes only on the last output word of a frame j whose last input
//       word is not accepted yet (possible only if a layer finishes frame j early, e.g. a
//       pool whose windows leave trailing rows unused). The queue is then empty (older
//       frames have left), so the input gate is open. Every layer has then emitted all
//       of frame j it will emit before that word, and takes the rest of frame j's input
//       without emitting: the tail rows no window needs (pool: reserved output space is
//       free, frame j's outputs have left its queue), or the rest of a vector or frame
//       buffer. So the missing input words go in, the flag is pushed and the word leaves.
// Ready/valid: s_tready = c_tready unless gated, c_tvalid = s_tvalid unless gated (and
// likewise on the output), so the AXI rule holds: m_tvalid, once high, stays high until
// the transfer (only a pop, i.e. a transfer, empties the queue).
module qloom_tlast #(
  parameter int IN_WORDS = 1,   // input words per frame
  parameter int OUT_WORDS = 1,  // output words per frame
  parameter int DEPTH = 2       // frames in flight between the two counters
) (
  input  logic clk,
  input  logic rst_n,
  input  logic s_tvalid,
  input  logic s_tlast,
  output logic s_tready,
  output logic c_tvalid,
  input  logic c_tready,
  input  logic r_tvalid,
  output logic r_tready,
  output logic m_tvalid,
  output logic m_tlast,
  input  logic m_tready
);
  localparam int IW = IN_WORDS > 1 ? $clog2(IN_WORDS) : 1;
  localparam int OW = OUT_WORDS > 1 ? $clog2(OUT_WORDS) : 1;
  logic [IW-1:0] in_word;
  logic [OW-1:0] out_word;
  wire in_last = in_word == IW'(IN_WORDS - 1);
  wire out_last = out_word == OW'(OUT_WORDS - 1);

  logic q_ready, q_valid, q_flag;
  wire in_hold = in_last && !q_ready;
  wire out_hold = out_last && !q_valid;
  assign c_tvalid = s_tvalid && !in_hold;
  assign s_tready = c_tready && !in_hold;
  assign m_tvalid = r_tvalid && !out_hold;
  assign r_tready = m_tready && !out_hold;
  assign m_tlast = out_last && q_flag;
  wire in_fire = c_tvalid && c_tready;
  wire out_fire = m_tvalid && m_tready;

  qloom_fifo #(.WIDTH(1), .DEPTH(DEPTH), .STYLE(2)) u_flags (
    .clk(clk), .rst_n(rst_n),
    .s_tdata(s_tlast), .s_tvalid(in_fire && in_last), .s_tready(q_ready),
    .m_tdata(q_flag), .m_tvalid(q_valid), .m_tready(out_fire && out_last)
  );

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      in_word <= '0;
      out_word <= '0;
    end else begin
      if (in_fire) in_word <= in_last ? '0 : in_word + 1'b1;
      if (out_fire) out_word <= out_last ? '0 : out_word + 1'b1;
    end
  end
endmodule
