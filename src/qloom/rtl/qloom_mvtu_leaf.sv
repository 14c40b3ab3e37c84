// qloom_mvtu_leaf: one lane's term x * w for qloom_mvtu's sum tree (DOT >= 1).
//
// leaf is LEAF_BITS two's complement (the generator sizes it for every product of the
// types). The term the tree adds is leaf ^ {LEAF_BITS{mask}}; it equals x * w except
// where noted (the generator moves those per-weight constants into the thresholds):
//   1 MASKED    bipolar w: leaf = x, mask = (w == -1): the tree adds ~x = -x - 1 (+1 short).
//   2 TABLE     exact, from a constant table of all 2**(IN_BITS + W_BITS) products.
//   3 POW2      2-bit signed w: leaf = x, 0, ~x or ~(x << 1): every bit a function of
//               w and two bits of x (one LUT); negative weights leave the tree 1 short.
//   4 SHIFTADD  exact: a bipolar operand negates the other; else shift-add over the
//               narrower operand's bits (products stay in LUTs).
//   5 DSP       exact: `*` (Yosys maps it to a DSP48).
// Bipolar codes: b stands for 2b - 1. Signed codes are two's complement.
module qloom_mvtu_leaf #(
  parameter int IN_BITS = 2,
  parameter int IN_SIGNED = 0,
  parameter int IN_BIPOLAR = 0,
  parameter int W_BITS = 2,
  parameter int W_SIGNED = 1,
  parameter int W_BIPOLAR = 0,
  parameter int DOT = 2,
  parameter int LEAF_BITS = 4
) (
  input  logic [IN_BITS-1:0]   x,
  input  logic [W_BITS-1:0]    w,
  output logic [LEAF_BITS-1:0] leaf,
  output logic                 mask
);
  // x widened to LEAF_BITS by its own signedness (bipolar inputs never reach DOT 1 or 3)
  wire [LEAF_BITS-1:0] xe = LEAF_BITS'($signed({IN_SIGNED != 0 && x[IN_BITS-1], x}));

  // DOT 2: the table of every product, entry {w, x} at LEAF_BITS * {w, x} (module scope:
  // a constant function may not sit under a generate block)
  localparam int K = DOT == 2 ? IN_BITS + W_BITS : 0;
  localparam int TBITS = LEAF_BITS * (2 ** K);
  function automatic logic [TBITS-1:0] products(input int bits);  // bits = LEAF_BITS
    integer c, xv, wv;
    products = '0;
    for (c = 0; c < 2 ** K; c = c + 1) begin
      xv = c % (1 << IN_BITS);
      wv = c >> IN_BITS;
      if (IN_BIPOLAR != 0) xv = 2 * xv - 1;
      else if (IN_SIGNED != 0 && xv >= (1 << (IN_BITS - 1))) xv = xv - (1 << IN_BITS);
      if (W_BIPOLAR != 0) wv = 2 * wv - 1;
      else if (W_SIGNED != 0 && wv >= (1 << (W_BITS - 1))) wv = wv - (1 << W_BITS);
      products = products | ((TBITS'(xv * wv) & TBITS'((1 << bits) - 1)) << (c * bits));
    end
  endfunction

  if (DOT == 1) begin : g_masked
    assign leaf = xe;
    assign mask = !w[0];
  end else if (DOT == 2) begin : g_table
    localparam logic [TBITS-1:0] TABLE = products(LEAF_BITS);
    assign leaf = TABLE[{w, x} * LEAF_BITS +: LEAF_BITS];
    assign mask = 1'b0;
  end else if (DOT == 3) begin : g_pow2
    // w: 01 -> x, 00 -> 0, 11 (-1) -> ~x = -x - 1, 10 (-2) -> ~(2x) = -2x - 1
    wire [LEAF_BITS-1:0] mag = w[0] ? xe : w[1] ? xe << 1 : '0;
    assign leaf = w[1] ? ~mag : mag;
    assign mask = 1'b0;
  end else if (DOT == 4) begin : g_shiftadd
    localparam int TB = IN_BITS + W_BITS + 2;  // exact, then taken mod 2**LEAF_BITS
    logic signed [TB-1:0] t;
    if (IN_BIPOLAR != 0) begin : g_in_bipolar
      wire signed [TB-1:0] wv = TB'($signed({W_SIGNED != 0 && w[W_BITS-1], w}));
      assign t = x[0] ? wv : -wv;
    end else if (W_BIPOLAR != 0) begin : g_w_bipolar
      wire signed [TB-1:0] xv = TB'($signed({IN_SIGNED != 0 && x[IN_BITS-1], x}));
      assign t = w[0] ? xv : -xv;
    end else begin : g_lut_mul
      // shift-add over the narrower operand's bits (Yosys maps any `*` of 2+ bit operands
      // and a 9+ bit result to a DSP48)
      localparam bit BY_W = W_BITS <= IN_BITS;
      localparam int NB = BY_W ? W_BITS : IN_BITS;
      localparam bit NEG_MSB = BY_W ? W_SIGNED != 0 : IN_SIGNED != 0;  // two's complement MSB weighs -2**(NB-1)
      logic [NB-1:0] b;
      logic signed [TB-1:0] a;
      if (BY_W) begin : g_by_w
        assign b = w;
        assign a = TB'($signed({IN_SIGNED != 0 && x[IN_BITS-1], x}));
      end else begin : g_by_x
        assign b = x;
        assign a = TB'($signed({W_SIGNED != 0 && w[W_BITS-1], w}));
      end
      logic [NB*TB-1:0] partial;  // running sums of the shifted copies
      for (genvar i = 0; i < NB; i++) begin : g_bit
        wire signed [TB-1:0] pp = b[i] ? a <<< i : '0;
        wire signed [TB-1:0] term = (NEG_MSB && i == NB - 1) ? -pp : pp;
        if (i == 0) begin : g_first
          assign partial[0 +: TB] = term;
        end else begin : g_next
          assign partial[i*TB +: TB] = partial[(i-1)*TB +: TB] + term;
        end
      end
      assign t = partial[(NB-1)*TB +: TB];
    end
    assign leaf = LEAF_BITS'(t);
    assign mask = 1'b0;
    if (TB > LEAF_BITS) begin : g_wrap  // the product fits LEAF_BITS
      wire _unused_high_bits = &{1'b0, t[TB-1:LEAF_BITS]};
    end
  end else begin : g_dsp
    localparam int TB = IN_BITS + W_BITS + 2;
    wire signed [TB-1:0] xv = TB'($signed({IN_SIGNED != 0 && x[IN_BITS-1], x}));
    wire signed [TB-1:0] wv = TB'($signed({W_SIGNED != 0 && w[W_BITS-1], w}));
    wire signed [TB-1:0] t = xv * wv;
    assign leaf = LEAF_BITS'(t);
    assign mask = 1'b0;
    if (TB > LEAF_BITS) begin : g_wrap
      wire _unused_high_bits = &{1'b0, t[TB-1:LEAF_BITS]};
    end
  end
  if (DOT != 1 && DOT != 3) begin : g_xe_unused
    wire _unused_ok = &{1'b0, xe};
  end
endmodule
