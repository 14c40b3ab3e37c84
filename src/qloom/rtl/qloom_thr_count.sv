// qloom_thr_count: how many of N thresholds a signed value reaches, #{i : x >= t_i}.
//
// x and each threshold are W-bit two's complement; thresholds are packed, t_i at
// thr[i*W +: W]. Ascending order is not needed for the count (it is for FINN-style binary
// search, which this parallel form avoids). Purely combinational: N comparators and a
// popcount tree. count is CW = clog2(N+1) bits.
module qloom_thr_count #(
  parameter int N = 1,
  parameter int W = 8,
  parameter int CW = $clog2(N + 1)
) (
  input  logic [W-1:0]   x,
  input  logic [N*W-1:0] thr,
  output logic [CW-1:0]  count
);
  logic [N*CW-1:0] ge;  // one CW-wide 0/1 leaf per threshold

  for (genvar i = 0; i < N; i++) begin : g_cmp
    assign ge[i*CW +: CW] = CW'($signed(x) >= $signed(thr[i*W +: W]));
  end
  qloom_add_tree #(.N(N), .W(CW)) u_sum (.leaves(ge), .sum(count));
endmodule
