// qloom_credit: reservation counter for a compute pipeline feeding its own output FIFO.
//
// A unit issues a result into a fixed-latency pipeline only while `ok`; the result lands in
// a qloom_fifo of DEPTH words. count = results issued (take) and not yet popped from that
// FIFO (give), so the FIFO can never overflow and the pipeline never has to stall inside.
// `ok` is registered state: the unit's s_tready does not depend combinationally on its
// m_tready. With DEPTH >= latency + 2 a unit whose consumer is always ready issues every
// clock (count settles at latency + 1).
module qloom_credit #(
  parameter int DEPTH = 4
) (
  input  logic clk,
  input  logic rst_n,
  input  logic take,  // a result was issued into the pipeline this cycle
  input  logic give,  // a result left the output FIFO this cycle
  output logic ok     // room for one more result
);
  localparam int CW = $clog2(DEPTH + 1);
  logic [CW-1:0] count;  // 0..DEPTH

  assign ok = count < CW'(DEPTH);

  always_ff @(posedge clk) begin
    if (!rst_n) count <= '0;
    else if (take && !give) count <= count + 1'b1;
    else if (give && !take) count <= count - 1'b1;
  end
endmodule
