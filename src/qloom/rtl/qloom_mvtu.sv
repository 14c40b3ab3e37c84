// qloom_mvtu: matrix-vector-threshold unit, PE rows x SIMD columns per clock.
//
// For every input vector x (MW elements, SF = MW/SIMD words of SIMD elements) it computes
// the MH accumulators of W @ x in NF = MH/PE row folds and emits one word of PE outputs
// per fold: with N_THR > 0 out = OUT_BASE + OUT_STEP * #(acc >= t) (encoded domain), else
// out = ACC_SCALE * acc + ACC_OFFSET. Elements are packed LSB first.
//
// Schedule: step (nf, sf) runs once per clock with no bubbles between folds, vectors or
// frames, so a vector takes NF*SF clocks. Fold nf == 0 reads the stream and stores each
// word in the input buffer; every fold reads its word from the buffer (nf > 0 replay it;
// it is rewritten by the next vector's fold 0 only after every fold of this vector read
// that word).
//
// Dot product of one step, per PE (DOT, chosen by qloom.backends.rtl.datapath, which also derives
// the thresholds, so `acc` may differ from W @ x by a per-row constant the thresholds hold):
//   0 POPCOUNT  bipolar x bipolar: acc = #(x xnor w) (thresholds in the popcount domain);
//               three lanes' xnor count per two LUT6, then a sum tree of the counts.
//   1 MASKED    bipolar weights: leaf = x as LEAF_BITS signed, complemented (x ^ 1s =
//               -x - 1) where w = -1, by qloom_sum_tree's free masks; acc gets +1 per step.
//   2 TABLE     any product of IN_BITS + W_BITS <= 6 bits: a constant table, one LUT per bit.
//   3 POW2      2-bit signed weights (0, 1, -1, -2): leaf = x, 0, ~x or ~(x << 1), one LUT
//               per bit; each negative weight leaves its +1 to the thresholds.
//   4 SHIFTADD  one operand <= 4 bits: shift-add over its bits in LUTs.
//   5 DSP       wider products: `*` (a DSP48 each).
//   6 PAIRED    MASKED over lane pairs: x0 + x1 and x0 - x1 once for all PEs, each PE picks
//               one per pair (w0 == w1) and complements it where w0 = -1.
// Leaves of DOT >= 1 are summed by a qloom_sum_tree whose nodes grow one bit per level.
//
// Pipeline (LAT = 3 clocks from issue to the output FIFO):
//   issue: counters advance; weight ROM read (registered), input word written/addressed.
//   s1:    per-PE sum tree, accumulate; on the last sf: threshold ROM read.
//   s2:    threshold count -> output word, pushed into the output FIFO.
// There is no stall inside the pipeline: a result-producing step (last sf) issues only
// while qloom_credit promises the output FIFO a free slot; other steps run ahead freely.
// s_tready and m_tvalid are functions of registered state only.
//
// MMV > 1 (FINN's MMV): an input word holds MMV vectors' words (vector v in the v-th
// SIMD*IN_BITS bits) and an output word MMV vectors' PE outputs (vector v in the v-th
// PE*OUT_BITS bits); every step computes all MMV against the one weight word it reads, so
// the weights are read once and the lanes, sum trees and accumulators are replicated.
// qloom.fold.rules allows MMV > 1 only at NF = SF = 1, where these words are plain stream order.
module qloom_mvtu #(
  parameter int MW = 4,
  parameter int MH = 4,
  parameter int PE = 1,
  parameter int SIMD = 1,
  parameter int IN_BITS = 1,
  parameter int IN_SIGNED = 0,
  parameter int IN_BIPOLAR = 0,
  parameter int W_BITS = 1,
  parameter int W_SIGNED = 0,
  parameter int W_BIPOLAR = 0,
  parameter int DOT = 0,        // dot-product scheme, see above
  parameter int LEAF_BITS = 2,  // signed width of one lane's term (DOT >= 1)
  parameter int ACC_BITS = 8,   // signed; holds every accumulator and stored threshold
  parameter int N_THR = 0,      // thresholds per row; 0: output the scaled accumulator
  parameter int OUT_BITS = 8,
  parameter int OUT_BASE = 0,   // encoded output = OUT_BASE + OUT_STEP * count
  parameter int OUT_STEP = 1,
  parameter int ACC_SCALE = 1,  // N_THR = 0: out = ACC_SCALE * acc + ACC_OFFSET (scale 1 or 2)
  parameter int ACC_OFFSET = 0,
  parameter WEIGHT_FILE = "",   // NF*SF lines of PE*SIMD*W_BITS bits
  parameter THRESH_FILE = "",   // NF lines of PE*N_THR*ACC_BITS bits
  parameter int W_STYLE = 0,    // qloom_rom STYLE of the weights
  parameter int T_STYLE = 0,    // qloom_rom STYLE of the thresholds
  parameter int BUF_STYLE = 0,  // qloom_ram STYLE of the input buffer
  parameter int MMV = 1         // optional: vectors per word (see above)
) (
  input  logic                     clk,
  input  logic                     rst_n,
  input  logic [MMV*SIMD*IN_BITS-1:0]  s_tdata,
  input  logic                     s_tvalid,
  output logic                     s_tready,
  output logic [MMV*PE*OUT_BITS-1:0]   m_tdata,
  output logic                     m_tvalid,
  input  logic                     m_tready
);
  localparam int SF = MW / SIMD;
  localparam int NF = MH / PE;
  localparam int WDEPTH = SF * NF;
  localparam int SFW = SF > 1 ? $clog2(SF) : 1;
  localparam int NFW = NF > 1 ? $clog2(NF) : 1;
  localparam int WAW = WDEPTH > 1 ? $clog2(WDEPTH) : 1;
  localparam int IW = SIMD * IN_BITS;
  localparam int LAT = 3;
  localparam int QDEPTH = LAT + 2;  // qloom_credit: full rate when the consumer keeps up

  // ---------------------------------------------------------------- issue
  logic [SFW-1:0] sf;     // column fold of the current step
  logic [NFW-1:0] nf;     // row fold of the current step
  logic [WAW-1:0] waddr;  // nf * SF + sf, the weight ROM address
  logic credit_ok;

  wire need_in = nf == '0;  // fold 0 takes its word from the stream
  wire last_sf = sf == SFW'(SF - 1);
  wire last_nf = nf == NFW'(NF - 1);
  wire may_issue = credit_ok || !last_sf;  // only the last column fold produces a result
  wire issue = may_issue && (s_tvalid || !need_in);
  assign s_tready = may_issue && need_in;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sf <= '0;
      nf <= '0;
      waddr <= '0;
    end else if (issue) begin
      sf <= last_sf ? '0 : sf + 1'b1;
      if (last_sf) nf <= last_nf ? '0 : nf + 1'b1;
      waddr <= (waddr == WAW'(WDEPTH - 1)) ? '0 : waddr + 1'b1;
    end
  end

  // s1 control, registered at issue
  logic s1_valid, s1_push, acc_clear;
  logic [NFW-1:0] s1_nf;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      s1_valid <= 1'b0;
      s1_push <= 1'b0;
    end else begin
      s1_valid <= issue;
      s1_push <= issue && last_sf;
    end
    s1_nf <= nf;
  end
  // accumulators restart after a row's last step (and at reset): a synchronous reset
  assign acc_clear = !rst_n || s1_push;

  // ---------------------------------------------------------------- operands of s1
  logic [MMV*IW-1:0] s1_x;  // the SIMD input elements of this step (of each of the MMV vectors)
  if (NF > 1) begin : g_buffer
    // input vector buffer, SF words: fold 0 writes the stream word at issue and every fold
    // reads its word back in s1 (write-first), so s1 needs no stream/buffer multiplexer
    qloom_ram #(.WIDTH(MMV * IW), .DEPTH(SF), .STYLE(BUF_STYLE)) u_ibuf (
      .clk(clk), .we(issue && need_in), .addr(sf), .wdata(s_tdata), .rdata(s1_x));
  end else begin : g_no_buffer
    always_ff @(posedge clk) s1_x <= s_tdata;
  end

  logic [PE*SIMD*W_BITS-1:0] wq;  // weights of this step, PE rows x SIMD columns
  qloom_rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(WDEPTH), .FILE(WEIGHT_FILE), .STYLE(W_STYLE))
    u_weights (.clk(clk), .addr(waddr), .data(wq));

  // ---------------------------------------------------------------- s1 and s2 per PE
  logic s2_valid;
  always_ff @(posedge clk) begin
    if (!rst_n) s2_valid <= 1'b0;
    else s2_valid <= s1_push;
  end

  localparam int TW = N_THR > 0 ? PE * N_THR * ACC_BITS : 1;  // no zero-width vectors
  logic [TW-1:0] tq;  // thresholds of the s2 fold (read on s1's last step)
  if (N_THR > 0) begin : g_thr_rom
    qloom_rom #(.WIDTH(TW), .DEPTH(NF), .FILE(THRESH_FILE), .STYLE(T_STYLE))
      u_thresholds (.clk(clk), .addr(s1_nf), .data(tq));
  end else begin : g_no_thr_rom
    assign tq = '0;
    wire _unused_ok = &{1'b0, s1_nf, tq};  // no thresholds: fold index not needed
  end

  // DOT 6: lanes in pairs, their sum and difference computed once for all PEs
  localparam int NPAIR = DOT == 6 ? SIMD / 2 : 0;
  localparam int NLEAF = DOT == 6 ? (SIMD + 1) / 2 : SIMD;  // sum tree leaves per PE
  logic [(NPAIR > 0 ? MMV * NPAIR : 1)*LEAF_BITS-1:0] pair_sum, pair_diff;  // pair j of vector v at v*NPAIR + j
  if (NPAIR > 0) begin : g_pairs
    for (genvar k = 0; k < MMV * NPAIR; k++) begin : g_pair
      localparam int X0 = (k / NPAIR) * IW + 2 * (k % NPAIR) * IN_BITS;  // lane 2j of vector v
      wire [LEAF_BITS-1:0] a = LEAF_BITS'($signed({IN_SIGNED != 0 && s1_x[X0+IN_BITS-1], s1_x[X0 +: IN_BITS]}));
      wire [LEAF_BITS-1:0] b = LEAF_BITS'($signed({IN_SIGNED != 0 && s1_x[X0+2*IN_BITS-1], s1_x[X0+IN_BITS +: IN_BITS]}));
      assign pair_sum[k*LEAF_BITS +: LEAF_BITS] = a + b;
      assign pair_diff[k*LEAF_BITS +: LEAF_BITS] = a - b;
    end
  end else begin : g_no_pairs
    assign {pair_sum, pair_diff} = '0;
    wire _unused_ok = &{1'b0, pair_sum, pair_diff};
  end

  logic [MMV*PE*OUT_BITS-1:0] result;  // s2 output word
  for (genvar q = 0; q < MMV * PE; q++) begin : g_pe  // PE p of vector v
    localparam int V = q / PE;
    localparam int p = q % PE;
    wire [SIMD*W_BITS-1:0] wp = wq[p*SIMD*W_BITS +: SIMD*W_BITS];  // the weight word all MMV share
    wire [IW-1:0] xv = s1_x[V*IW +: IW];
    logic [ACC_BITS-1:0] acc, acc_next, s2_acc;

    if (DOT == 0) begin : g_popcount
      // groups of three lanes: xnor and 2-bit count in two LUT6 (sum and majority), then
      // an unsigned tree of the group counts
      localparam int NG = (SIMD + 2) / 3;
      localparam int CB = 2 + $clog2(NG);
      logic [2*NG-1:0] groups;
      logic [CB-1:0] count;
      logic count_mask_unused;  // plain tree: always 0
      for (genvar g = 0; g < NG; g++) begin : g_group
        logic [2:0] b;  // the group's xnor bits, 0 past the last lane
        for (genvar j = 0; j < 3; j++) begin : g_lane
          if (3 * g + j < SIMD) begin : g_real
            assign b[j] = xv[(3*g + j)*IN_BITS] ~^ wp[(3*g + j)*W_BITS];
          end else begin : g_none
            assign b[j] = 1'b0;
          end
        end
        assign groups[2*g] = ^b;
        assign groups[2*g+1] = (b[0] & b[1]) | (b[0] & b[2]) | (b[1] & b[2]);
      end
      qloom_sum_tree #(.N(NG), .W(2), .SIGNED(0)) u_count (
        .leaves(groups), .mask('0), .sum(count), .mask_out(count_mask_unused));
      assign acc_next = acc + ACC_BITS'(count);
      wire _unused_ok = &{1'b0, count_mask_unused};
    end else begin : g_tree
      localparam int TB = LEAF_BITS + $clog2(NLEAF);
      logic [NLEAF*LEAF_BITS-1:0] leaves;
      logic [NLEAF-1:0] masks;
      logic [TB-1:0] dot;
      logic dot_mask;
      if (DOT == 6) begin : g_paired
        // pair j: w0 x0 + w1 x1 = +-(x0 + x1) or +-(x0 - x1): pick the shared sum or
        // difference by w0 == w1, complement by w0 = -1 (a free mask, as in MASKED)
        wire _unused_xv = &{1'b0, xv};  // the pairs come from pair_sum / pair_diff
        for (genvar j = 0; j < NPAIR; j++) begin : g_pair
          wire w0 = wp[2*j*W_BITS], w1 = wp[(2*j+1)*W_BITS];
          assign leaves[j*LEAF_BITS +: LEAF_BITS] = w0 == w1 ? pair_sum[(V*NPAIR + j)*LEAF_BITS +: LEAF_BITS]
                                                             : pair_diff[(V*NPAIR + j)*LEAF_BITS +: LEAF_BITS];
          assign masks[j] = !w0;
        end
        if (NLEAF > NPAIR) begin : g_odd  // the last lane alone
          wire [IN_BITS-1:0] xs = xv[(SIMD-1)*IN_BITS +: IN_BITS];
          assign leaves[NPAIR*LEAF_BITS +: LEAF_BITS] = LEAF_BITS'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
          assign masks[NPAIR] = !wp[(SIMD-1)*W_BITS];
        end
      end else begin : g_lanes
        for (genvar s = 0; s < SIMD; s++) begin : g_lane
          wire [IN_BITS-1:0] xs = xv[s*IN_BITS +: IN_BITS];
          wire [W_BITS-1:0] ws = wp[s*W_BITS +: W_BITS];
          logic [LEAF_BITS-1:0] leaf;
          assign leaves[s*LEAF_BITS +: LEAF_BITS] = leaf;
          qloom_mvtu_leaf #(.IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .IN_BIPOLAR(IN_BIPOLAR),
                            .W_BITS(W_BITS), .W_SIGNED(W_SIGNED), .W_BIPOLAR(W_BIPOLAR),
                            .DOT(DOT), .LEAF_BITS(LEAF_BITS))
            u_leaf (.x(xs), .w(ws), .leaf(leaf), .mask(masks[s]));
        end
      end
      qloom_sum_tree #(.N(NLEAF), .W(LEAF_BITS), .SIGNED(1), .MASKED(DOT == 1 || DOT == 6 ? 1 : 0)) u_tree (
        .leaves(leaves), .mask(masks), .sum(dot), .mask_out(dot_mask));
      if (TB > ACC_BITS) begin : g_wrap  // taken mod 2**ACC_BITS: the row's total fits
        wire _unused_high_bits = &{1'b0, dot[TB-1:ACC_BITS]};
      end
      if (DOT == 1 || DOT == 6) begin : g_masked_acc
        // acc + (dot ^ mask) + 1, written as a subtraction so acc is the carry chain's
        // direct operand and the complement folds into its LUTs
        assign acc_next = acc - (ACC_BITS'($signed(dot)) ^ {ACC_BITS{~dot_mask}});
      end else begin : g_acc
        assign acc_next = acc + ACC_BITS'($signed(dot));
        wire _unused_ok = &{1'b0, dot_mask};
      end
    end

    always_ff @(posedge clk) begin
      if (acc_clear) acc <= '0;
      else if (s1_valid) acc <= acc_next;
      if (s1_push) s2_acc <= acc_next;
    end

    if (N_THR > 0) begin : g_thr
      logic [$clog2(N_THR + 1)-1:0] count;
      qloom_thr_count #(.N(N_THR), .W(ACC_BITS)) u_count (
        .x(s2_acc), .thr(tq[p*N_THR*ACC_BITS +: N_THR*ACC_BITS]), .count(count));
      assign result[q*OUT_BITS +: OUT_BITS] = OUT_BITS'(OUT_BASE + OUT_STEP * int'(count));
    end else begin : g_acc_out
      localparam int SHIFT = ACC_SCALE == 2 ? 1 : 0;
      localparam int VW = ACC_BITS + SHIFT;
      wire [VW-1:0] v = (VW'($signed(s2_acc)) << SHIFT) + VW'(ACC_OFFSET);
      assign result[q*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed(v));
      if (VW > OUT_BITS) begin : g_narrow  // the value fits the output type
        wire _unused_high_bits = &{1'b0, v[VW-1:OUT_BITS]};
      end
    end
  end

  // ---------------------------------------------------------------- output queue
  logic q_ready_unused;  // always 1 when s2 pushes: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue && last_sf), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(MMV*PE*OUT_BITS), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s2_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
