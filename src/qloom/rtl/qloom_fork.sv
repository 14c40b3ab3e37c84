// qloom_fork: one stream copied to K consumers (a Fork layer: out_i = in for every i).
//
// Handshake rule (per-output skid buffers): each output owns a 2-word qloom_fifo of
// registers. An input word is taken only when every output buffer has room, and is then
// written into all K buffers in the same clock; output i sends from its own buffer. So
// s_tready = AND of the buffers' registered not-full flags and m_tvalid[i] = buffer i not
// empty: no combinational path from any m_tready to s_tready, nor from s_tvalid to any
// m_tvalid, whatever the consumers do. A push and a pop share a cycle, so consumers that
// take a word every clock see one word per clock; a consumer that stalls lets the others
// run at most 2 words ahead, then the input waits (the top sizes the FIFO behind each
// output for the branches' latency difference, fold.dag).
// Latency: 1 clock (input word -> valid on every output). Registers: K * 2 * WIDTH.
// Output i is m_tdata[i*WIDTH +: WIDTH], m_tvalid[i], m_tready[i].
module qloom_fork #(
  parameter int WIDTH = 8,
  parameter int K = 2
) (
  input  logic               clk,
  input  logic               rst_n,  // synchronous, active low
  input  logic [WIDTH-1:0]   s_tdata,
  input  logic               s_tvalid,
  output logic               s_tready,
  output logic [K*WIDTH-1:0] m_tdata,
  output logic [K-1:0]       m_tvalid,
  input  logic [K-1:0]       m_tready
);
  logic [K-1:0] room;  // buffer i is not full (registered state of u_buf)
  assign s_tready = &room;
  wire push = s_tvalid && s_tready;

  for (genvar i = 0; i < K; i++) begin : g_out
    qloom_fifo #(.WIDTH(WIDTH), .DEPTH(2), .STYLE(3)) u_buf (
      .clk(clk), .rst_n(rst_n),
      .s_tdata(s_tdata), .s_tvalid(push), .s_tready(room[i]),
      .m_tdata(m_tdata[i*WIDTH +: WIDTH]), .m_tvalid(m_tvalid[i]), .m_tready(m_tready[i]));
  end
endmodule
