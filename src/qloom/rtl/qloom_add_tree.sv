// qloom_add_tree: combinational sum of N operands of W bits, modulo 2**W.
//
// A balanced tree in heap order: leaves sit at node[N-1 .. 2N-2], node i = node[2i+1] +
// node[2i+2], the sum is node[0] (works for any N >= 1, depth ceil(log2 N)). One
// `generate` block per node keeps Verilator fast (no procedural loop to unroll).
// Two's complement wraps, so signed and unsigned sums are the same bits; callers size W
// so the exact result fits.
module qloom_add_tree #(
  parameter int N = 2,
  parameter int W = 8
) (
  input  logic [N*W-1:0] leaves,
  output logic [W-1:0]   sum
);
  // split_var: each element is its own signal for Verilator's scheduler (the array is
  // read and written by different tree levels, which is not a combinational loop).
  logic [W-1:0] node [2*N-1] /* verilator split_var */;

  for (genvar i = 0; i < N; i++) begin : g_leaf
    assign node[N-1+i] = leaves[i*W +: W];
  end
  for (genvar i = 0; i < N - 1; i++) begin : g_node
    assign node[i] = node[2*i+1] + node[2*i+2];
  end
  assign sum = node[0];
endmodule
