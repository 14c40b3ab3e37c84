// qloom_vvau: depthwise (vector-vector) threshold unit, FINN's VVAU: one weight vector per
// channel, PE channels x SIMD kernel positions per clock.
//
// Input: a SlidingWindow's stream, K*C elements per pixel in the order (kh, kw, c), channels
// innermost, read as KF = K/SIMD kernel folds of CF = C/PE words. Word (kf, cf) holds, at
// lane s*PE + p, channel cf*PE + p at kernel position kf*SIMD + s; the stream order gives
// that only with SIMD = 1 or PE = C (whole pixels per kernel position), which the folding
// rules guarantee (qloom.fold.rules). Per pixel and channel c, acc = sum_k w[c, k] x[k*C + c];
// on the last kernel fold the CF words of PE outputs leave in channel order, as qloom_mvtu:
// with N_THR > 0 out = OUT_BASE + OUT_STEP * #(acc >= t) (encoded domain), else
// out = ACC_SCALE * acc + ACC_OFFSET. Elements are packed LSB first.
//
// Schedule: step (kf, cf) runs once per clock, cf innermost, no bubbles between folds,
// pixels or frames (a pixel takes KF*CF clocks); every input word is read once, so there is
// no input buffer. The CF partial sums of a pixel live in a qloom_line (LUTRAM) read and
// written back in the same clock (a channel group's next update comes CF steps later), a
// register when CF = 1; the first kernel fold starts from 0.
//
// Per-lane terms: DOT as qloom_mvtu's (0 POPCOUNT, 1 MASKED, 2 TABLE, 3 POW2, 4 SHIFTADD,
// 5 DSP; qloom_mvtu_leaf and qloom_sum_tree), chosen by qloom.backends.rtl.datapath, which
// also moves MASKED/POW2 per-channel constants into the thresholds. PAIRED is not used
// (a depthwise PE has its own inputs: nothing to share).
//
// Pipeline (LAT = 3 clocks from issue to the output FIFO):
//   issue: counters advance; weight ROM read (registered), input word registered.
//   s1:    per-PE sum tree over SIMD lanes, accumulate; on the last kf: threshold ROM read.
//   s2:    threshold count -> output word, pushed into the output FIFO.
// A result-producing step (last kf) issues only while qloom_credit promises the output FIFO
// a free slot; s_tready and m_tvalid are functions of registered state only.
module qloom_vvau #(
  parameter int C = 4,
  parameter int K = 9,
  parameter int PE = 1,
  parameter int SIMD = 1,
  parameter int IN_BITS = 1,
  parameter int IN_SIGNED = 0,
  parameter int IN_BIPOLAR = 0,
  parameter int W_BITS = 1,
  parameter int W_SIGNED = 0,
  parameter int W_BIPOLAR = 0,
  parameter int DOT = 0,        // per-lane scheme, see above
  parameter int LEAF_BITS = 2,  // signed width of one lane's term (DOT >= 1)
  parameter int ACC_BITS = 8,   // signed; holds every accumulator and stored threshold
  parameter int N_THR = 0,      // thresholds per channel; 0: output the scaled accumulator
  parameter int OUT_BITS = 8,
  parameter int OUT_BASE = 0,
  parameter int OUT_STEP = 1,
  parameter int ACC_SCALE = 1,  // N_THR = 0: out = ACC_SCALE * acc + ACC_OFFSET (scale 1 or 2)
  parameter int ACC_OFFSET = 0,
  parameter WEIGHT_FILE = "",   // KF*CF lines (kf outer) of PE*SIMD*W_BITS bits, (p, s) at p*SIMD + s
  parameter THRESH_FILE = "",   // CF lines of PE*N_THR*ACC_BITS bits
  parameter int W_STYLE = 0,    // qloom_rom STYLE of the weights
  parameter int T_STYLE = 0,    // qloom_rom STYLE of the thresholds
  parameter int ACC_STYLE = 0   // qloom_line STYLE of the partial sums (CF > 1)
) (
  input  logic                        clk,
  input  logic                        rst_n,
  input  logic [PE*SIMD*IN_BITS-1:0]  s_tdata,
  input  logic                        s_tvalid,
  output logic                        s_tready,
  output logic [PE*OUT_BITS-1:0]      m_tdata,
  output logic                        m_tvalid,
  input  logic                        m_tready
);
  localparam int CF = C / PE;
  localparam int KF = K / SIMD;
  localparam int WDEPTH = CF * KF;
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int KFW = KF > 1 ? $clog2(KF) : 1;
  localparam int WAW = WDEPTH > 1 ? $clog2(WDEPTH) : 1;
  localparam int IW = PE * SIMD * IN_BITS;
  localparam int AW = PE * ACC_BITS;
  localparam int LAT = 3;
  localparam int QDEPTH = LAT + 2;  // qloom_credit: full rate when the consumer keeps up

  // ---------------------------------------------------------------- issue
  logic [CFW-1:0] cf;     // channel fold of the current step
  logic [KFW-1:0] kf;     // kernel fold of the current step
  logic [WAW-1:0] waddr;  // kf * CF + cf, the weight ROM address
  logic credit_ok;

  wire last_cf = cf == CFW'(CF - 1);
  wire last_kf = kf == KFW'(KF - 1);
  wire may_issue = credit_ok || !last_kf;  // only the last kernel fold produces results
  wire issue = may_issue && s_tvalid;
  assign s_tready = may_issue;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cf <= '0;
      kf <= '0;
      waddr <= '0;
    end else if (issue) begin
      cf <= last_cf ? '0 : cf + 1'b1;
      if (last_cf) kf <= last_kf ? '0 : kf + 1'b1;
      waddr <= (waddr == WAW'(WDEPTH - 1)) ? '0 : waddr + 1'b1;
    end
  end

  // s1 control and operands, registered at issue
  logic s1_valid, s1_push, s1_first;
  logic [CFW-1:0] s1_cf;
  logic [IW-1:0] s1_x;  // PE x SIMD input elements of this step
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      s1_valid <= 1'b0;
      s1_push <= 1'b0;
    end else begin
      s1_valid <= issue;
      s1_push <= issue && last_kf;
    end
    s1_first <= kf == '0;
    s1_cf <= cf;
    s1_x <= s_tdata;
  end

  logic [PE*SIMD*W_BITS-1:0] wq;  // weights of this step, PE channels x SIMD positions
  qloom_rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(WDEPTH), .FILE(WEIGHT_FILE), .STYLE(W_STYLE))
    u_weights (.clk(clk), .addr(waddr), .data(wq));

  // ---------------------------------------------------------------- partial sums
  logic [AW-1:0] acc_rd, acc_wr;  // the step's channel group: stored sums, updated sums
  if (CF > 1) begin : g_line
    qloom_line #(.WIDTH(AW), .DEPTH(CF), .STYLE(ACC_STYLE)) u_acc (
      .clk(clk), .we(s1_valid), .addr(s1_cf), .d(acc_wr), .q(acc_rd));
  end else begin : g_reg
    logic [AW-1:0] acc_q;
    always_ff @(posedge clk) begin
      if (s1_valid) acc_q <= acc_wr;
    end
    assign acc_rd = acc_q;
    wire _unused_ok = &{1'b0, s1_cf};  // one channel group: no address
  end

  // ---------------------------------------------------------------- s1 and s2 per PE
  logic s2_valid;
  always_ff @(posedge clk) begin
    if (!rst_n) s2_valid <= 1'b0;
    else s2_valid <= s1_push;
  end

  localparam int TW = N_THR > 0 ? PE * N_THR * ACC_BITS : 1;  // no zero-width vectors
  logic [TW-1:0] tq;  // thresholds of the s2 channel group (read on s1's last kernel fold)
  if (N_THR > 0) begin : g_thr_rom
    qloom_rom #(.WIDTH(TW), .DEPTH(CF), .FILE(THRESH_FILE), .STYLE(T_STYLE))
      u_thresholds (.clk(clk), .addr(s1_cf), .data(tq));
  end else begin : g_no_thr_rom
    assign tq = '0;
    wire _unused_ok = &{1'b0, tq};
  end

  logic [PE*OUT_BITS-1:0] result;  // s2 output word
  for (genvar p = 0; p < PE; p++) begin : g_pe
    wire [SIMD*W_BITS-1:0] wp = wq[p*SIMD*W_BITS +: SIMD*W_BITS];
    logic [SIMD*IN_BITS-1:0] xp;  // this PE's channel at the SIMD kernel positions
    for (genvar s = 0; s < SIMD; s++) begin : g_x
      assign xp[s*IN_BITS +: IN_BITS] = s1_x[(s*PE + p)*IN_BITS +: IN_BITS];
    end
    wire [ACC_BITS-1:0] acc = s1_first ? '0 : acc_rd[p*ACC_BITS +: ACC_BITS];
    logic [ACC_BITS-1:0] acc_next, s2_acc;
    assign acc_wr[p*ACC_BITS +: ACC_BITS] = acc_next;

    if (DOT == 0) begin : g_popcount
      // groups of three lanes: xnor and 2-bit count in two LUT6, then a tree of the counts
      localparam int NG = (SIMD + 2) / 3;
      localparam int CB = 2 + $clog2(NG);
      logic [2*NG-1:0] groups;
      logic [CB-1:0] count;
      logic count_mask_unused;
      for (genvar g = 0; g < NG; g++) begin : g_group
        logic [2:0] b;
        for (genvar j = 0; j < 3; j++) begin : g_lane
          if (3 * g + j < SIMD) begin : g_real
            assign b[j] = xp[(3*g + j)*IN_BITS] ~^ wp[(3*g + j)*W_BITS];
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
      localparam int TB = LEAF_BITS + $clog2(SIMD);
      logic [SIMD*LEAF_BITS-1:0] leaves;
      logic [SIMD-1:0] masks;
      logic [TB-1:0] dot;
      logic dot_mask;
      for (genvar s = 0; s < SIMD; s++) begin : g_lane
        logic [LEAF_BITS-1:0] leaf;
        assign leaves[s*LEAF_BITS +: LEAF_BITS] = leaf;
        qloom_mvtu_leaf #(.IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .IN_BIPOLAR(IN_BIPOLAR),
                          .W_BITS(W_BITS), .W_SIGNED(W_SIGNED), .W_BIPOLAR(W_BIPOLAR),
                          .DOT(DOT), .LEAF_BITS(LEAF_BITS))
          u_leaf (.x(xp[s*IN_BITS +: IN_BITS]), .w(wp[s*W_BITS +: W_BITS]), .leaf(leaf), .mask(masks[s]));
      end
      qloom_sum_tree #(.N(SIMD), .W(LEAF_BITS), .SIGNED(1), .MASKED(DOT == 1 ? 1 : 0)) u_tree (
        .leaves(leaves), .mask(masks), .sum(dot), .mask_out(dot_mask));
      if (TB > ACC_BITS) begin : g_wrap  // taken mod 2**ACC_BITS: the channel's total fits
        wire _unused_high_bits = &{1'b0, dot[TB-1:ACC_BITS]};
      end
      if (DOT == 1) begin : g_masked_acc
        // acc + (dot ^ mask) + 1, as in qloom_mvtu (the +1 per step is in the thresholds)
        assign acc_next = acc - (ACC_BITS'($signed(dot)) ^ {ACC_BITS{~dot_mask}});
      end else begin : g_acc
        assign acc_next = acc + ACC_BITS'($signed(dot));
        wire _unused_ok = &{1'b0, dot_mask};
      end
    end

    always_ff @(posedge clk) begin
      if (s1_push) s2_acc <= acc_next;
    end

    if (N_THR > 0) begin : g_thr
      logic [$clog2(N_THR + 1)-1:0] count;
      qloom_thr_count #(.N(N_THR), .W(ACC_BITS)) u_count (
        .x(s2_acc), .thr(tq[p*N_THR*ACC_BITS +: N_THR*ACC_BITS]), .count(count));
      assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(OUT_BASE + OUT_STEP * int'(count));
    end else begin : g_acc_out
      localparam int SHIFT = ACC_SCALE == 2 ? 1 : 0;
      localparam int VW = ACC_BITS + SHIFT;
      wire [VW-1:0] v = (VW'($signed(s2_acc)) << SHIFT) + VW'(ACC_OFFSET);
      assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed(v));
      if (VW > OUT_BITS) begin : g_narrow  // the value fits the output type
        wire _unused_high_bits = &{1'b0, v[VW-1:OUT_BITS]};
      end
    end
  end
  // ---------------------------------------------------------------- output queue
  logic q_ready_unused;  // always 1 when s2 pushes: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue && last_kf), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(PE*OUT_BITS), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s2_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
