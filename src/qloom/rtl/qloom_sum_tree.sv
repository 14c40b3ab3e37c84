// qloom_sum_tree: balanced sum of N W-bit leaves (two's complement, or unsigned with
// SIGNED = 0), each node only as wide as its sum.
//
// The tree splits its leaves into a left half of ceil(N/2) and a right half (recursively),
// so a node over n leaves is W + clog2(n) bits: a 49-leaf tree of 9-bit leaves costs about
// 49 * 9 carry-chain LUTs on 7-series, where a tree at the accumulator width costs twice
// that. Every adder output is kept (`keep`): otherwise Yosys merges the adders into one
// $macc and maps it to full adders (~1.5x the LUTs of carry chains for multi-bit leaves).
//
// MASKED = 0: sum = exact sum of the leaves; mask_out = 0.
// MASKED = 1: leaf i stands for leaves[i] ^ {W{mask[i]}} (a free one's complement, e.g. a
// +-1 weight times x as x or ~x = -x - 1). The complement is never computed at a leaf: a
// node with children (l, ml), (r, mr) computes
//     raw = l - (r ^ ~{mr ^ ml})      (one carry chain; the XOR folds into its LUTs and
//                                       `-` keeps l as the chain's direct operand)
// and passes on (raw, ml). With T the value a (sum, mask) pair stands for (sum ^ mask):
//     T(node) = T(l) + T(r) + (1 - ml)
// so the tree's value (sum ^ {OW{mask_out}}) is the exact sum of the leaf values plus, for
// every node, 1 when the mask of its leftmost leaf is 0. Masks are functions of the weights
// only, so the generator folds that count into the thresholds (see qloom.backends.rtl.datapath).
// A node's value fits OW bits: n leaves in [-2^(W-1), 2^(W-1)-1] plus at most n-1 ones.
module qloom_sum_tree #(
  parameter int N = 2,
  parameter int W = 8,
  parameter int SIGNED = 1,
  parameter int MASKED = 0,  // needs SIGNED
  parameter int OW = W + $clog2(N)
) (
  input  logic [N*W-1:0] leaves,
  input  logic [N-1:0]   mask,
  output logic [OW-1:0]  sum,
  output logic           mask_out
);
  if (N == 1) begin : g_leaf
    if (SIGNED != 0) begin : g_sext
      assign sum = OW'($signed(leaves));
    end else begin : g_zext
      assign sum = OW'(leaves);
    end
    if (MASKED != 0) begin : g_mask
      assign mask_out = mask[0];
    end else begin : g_no_mask
      assign mask_out = 1'b0;
      wire _unused_ok = &{1'b0, mask};  // plain leaves carry no masks
    end
  end else begin : g_node
    localparam int NL = (N + 1) / 2;
    localparam int NR = N - NL;
    localparam int LW = W + $clog2(NL);
    localparam int RW = W + $clog2(NR);
    logic [LW-1:0] l;
    logic [RW-1:0] r;
    logic ml, mr;
    (* keep *) logic [OW-1:0] node;  // kept: see the header (leaves are not, so a leaf's logic
    assign sum = node;               // can fold into the LUTs of the adder consuming it)
    qloom_sum_tree #(.N(NL), .W(W), .SIGNED(SIGNED), .MASKED(MASKED)) u_l (
      .leaves(leaves[0 +: NL*W]), .mask(mask[0 +: NL]), .sum(l), .mask_out(ml));
    qloom_sum_tree #(.N(NR), .W(W), .SIGNED(SIGNED), .MASKED(MASKED)) u_r (
      .leaves(leaves[NL*W +: NR*W]), .mask(mask[NL +: NR]), .sum(r), .mask_out(mr));
    if (MASKED != 0) begin : g_masked
      assign node = OW'($signed(l)) - (OW'($signed(r)) ^ {OW{~(mr ^ ml)}});
      assign mask_out = ml;
    end else if (SIGNED != 0) begin : g_plain
      assign node = OW'($signed(l)) + OW'($signed(r));
      assign mask_out = 1'b0;
      wire _unused_ok = &{1'b0, ml, mr};  // plain leaves carry no masks
    end else begin : g_unsigned
      assign node = OW'(l) + OW'(r);
      assign mask_out = 1'b0;
      wire _unused_ok = &{1'b0, ml, mr};  // plain leaves carry no masks
    end
  end
endmodule
