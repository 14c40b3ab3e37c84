// qloom_mvtu: matrix-vector-threshold unit, PE rows x SIMD columns per clock.
//
// For every input vector x (MW elements, SF = MW/SIMD words of SIMD elements) it computes
// the MH accumulators acc = W @ x in NF = MH/PE row folds and emits one word of PE outputs
// per fold: with N_THR > 0 out = OUT_BASE + OUT_STEP * #(acc >= t) (encoded domain), else
// out = acc (BINARY: 2*popcount - MW). Elements are packed LSB first.
//
// Schedule: step (nf, sf) runs once per clock with no bubbles between folds, vectors or
// frames, so a vector takes NF*SF clocks. Fold nf == 0 reads the stream and stores each
// word in the input buffer; folds nf > 0 replay the buffer (it is rewritten by the next
// vector's fold 0 only after every fold of this vector read that word).
//
// Arithmetic (generator-chosen ACC_BITS two's complement, exact for the layer):
//   BINARY (bipolar x bipolar): term = xnor(x, w), acc = popcount; thresholds are in the
//     popcount domain (semantics.popcount_threshold).
//   IN_BIPOLAR: term = x ? w : -w;  W_BIPOLAR: term = w ? x : -x;  else term = x * w with
//   x, w sign- or zero-extended per IN_SIGNED / W_SIGNED: shift-add in LUTs when either
//   operand has <= 4 bits, a `*` (DSP48) otherwise.
//
// Pipeline (LAT = 3 clocks from issue to the output FIFO):
//   issue: counters advance; weight ROM and input buffer are read (registered).
//   s1:    per-PE add tree of SIMD terms, accumulate; on the last sf: threshold ROM read.
//   s2:    threshold count -> output word, pushed into the output FIFO.
// There is no stall inside the pipeline: a result-producing step (last sf) issues only
// while qloom_credit promises the output FIFO a free slot; other steps run ahead freely.
// s_tready and m_tvalid are functions of registered state only.
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
  parameter int ACC_BITS = 8,  // signed; holds every accumulator and clipped threshold
  parameter int N_THR = 0,     // thresholds per row; 0: output the accumulator
  parameter int OUT_BITS = 8,
  parameter int OUT_BASE = 0,  // encoded output = OUT_BASE + OUT_STEP * count
  parameter int OUT_STEP = 1,
  parameter WEIGHT_FILE = "",  // NF*SF lines of PE*SIMD*W_BITS bits
  parameter THRESH_FILE = "",  // NF lines of PE*N_THR*ACC_BITS bits
  parameter int MEM_STYLE = 0             // qloom_rom STYLE
) (
  input  logic                     clk,
  input  logic                     rst_n,
  input  logic [SIMD*IN_BITS-1:0]  s_tdata,
  input  logic                     s_tvalid,
  output logic                     s_tready,
  output logic [PE*OUT_BITS-1:0]   m_tdata,
  output logic                     m_tvalid,
  input  logic                     m_tready
);
  localparam int SF = MW / SIMD;
  localparam int NF = MH / PE;
  localparam int WDEPTH = SF * NF;
  localparam bit BINARY = IN_BIPOLAR != 0 && W_BIPOLAR != 0;
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
  logic s1_valid, s1_first, s1_last;
  logic [NFW-1:0] s1_nf;
  always_ff @(posedge clk) begin
    if (!rst_n) s1_valid <= 1'b0;
    else s1_valid <= issue;
    s1_first <= sf == '0;
    s1_last <= last_sf;
    s1_nf <= nf;
  end

  // ---------------------------------------------------------------- operands of s1
  logic [IW-1:0] s1_x;  // the SIMD input elements of this step
  logic [IW-1:0] in_q;  // the stream word seen at issue
  always_ff @(posedge clk) in_q <= s_tdata;

  if (NF > 1) begin : g_buffer
    // input vector buffer, SF words: written by fold 0, replayed by folds 1..NF-1
    logic [IW-1:0] ibuf [SF];
    logic [IW-1:0] ibuf_q;
    logic from_stream;
    always_ff @(posedge clk) begin
      if (issue && need_in) ibuf[sf] <= s_tdata;
      ibuf_q <= ibuf[sf];
      from_stream <= need_in;
    end
    assign s1_x = from_stream ? in_q : ibuf_q;
  end else begin : g_no_buffer
    assign s1_x = in_q;
  end

  logic [PE*SIMD*W_BITS-1:0] wq;  // weights of this step, PE rows x SIMD columns
  qloom_rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(WDEPTH), .FILE(WEIGHT_FILE), .STYLE(MEM_STYLE))
    u_weights (.clk(clk), .addr(waddr), .data(wq));

  // ---------------------------------------------------------------- s1 and s2 per PE
  logic s2_valid;
  always_ff @(posedge clk) begin
    if (!rst_n) s2_valid <= 1'b0;
    else s2_valid <= s1_valid && s1_last;
  end

  localparam int TW = N_THR > 0 ? PE * N_THR * ACC_BITS : 1;  // no zero-width vectors
  logic [TW-1:0] tq;  // thresholds of the s2 fold (read on s1's last step)
  if (N_THR > 0) begin : g_thr_rom
    qloom_rom #(.WIDTH(TW), .DEPTH(NF), .FILE(THRESH_FILE), .STYLE(MEM_STYLE))
      u_thresholds (.clk(clk), .addr(s1_nf), .data(tq));
  end else begin : g_no_thr_rom
    assign tq = '0;
    wire _unused_ok = &{1'b0, s1_nf, tq};  // no thresholds: fold index not needed
  end

  logic [PE*OUT_BITS-1:0] result;  // s2 output word
  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [SIMD*ACC_BITS-1:0] terms;
    for (genvar s = 0; s < SIMD; s++) begin : g_simd
      wire [IN_BITS-1:0] xs = s1_x[s*IN_BITS +: IN_BITS];
      wire [W_BITS-1:0] ws = wq[(p*SIMD + s)*W_BITS +: W_BITS];
      if (BINARY) begin : g_xnor
        assign terms[s*ACC_BITS +: ACC_BITS] = {{(ACC_BITS - 1){1'b0}}, xs ~^ ws};
      end else begin : g_term
        // exact term in TB bits, then taken mod 2**ACC_BITS (the final sum fits ACC_BITS,
        // so dropped high bits of a term cancel out)
        localparam int TB = IN_BIPOLAR != 0 ? W_BITS + 2 : W_BIPOLAR != 0 ? IN_BITS + 2 : IN_BITS + W_BITS + 2;
        wire signed [TB-1:0] t;
        if (IN_BIPOLAR != 0) begin : g_in_bipolar
          wire signed [TB-1:0] wv = TB'($signed({W_SIGNED != 0 && ws[W_BITS-1], ws}));
          assign t = xs[0] ? wv : -wv;
        end else if (W_BIPOLAR != 0) begin : g_w_bipolar
          wire signed [TB-1:0] xv = TB'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
          assign t = ws[0] ? xv : -xv;
        end else if (IN_BITS <= 4 || W_BITS <= 4) begin : g_lut_mul
          // shift-add over the narrower operand's bits: small products stay in LUTs (Yosys
          // maps any `*` of 2+ bit operands to a DSP48 and ignores use_dsp)
          localparam bit BY_W = W_BITS <= IN_BITS;
          localparam int NB = BY_W ? W_BITS : IN_BITS;
          localparam bit NEG_MSB = BY_W ? W_SIGNED != 0 : IN_SIGNED != 0;  // two's complement MSB weighs -2**(NB-1)
          logic [NB-1:0] b;
          logic signed [TB-1:0] a;
          if (BY_W) begin : g_by_w
            assign b = ws;
            assign a = TB'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
          end else begin : g_by_x
            assign b = xs;
            assign a = TB'($signed({W_SIGNED != 0 && ws[W_BITS-1], ws}));
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
        end else begin : g_dsp_mul
          wire signed [TB-1:0] xv = TB'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
          wire signed [TB-1:0] wv = TB'($signed({W_SIGNED != 0 && ws[W_BITS-1], ws}));
          assign t = xv * wv;
        end
        assign terms[s*ACC_BITS +: ACC_BITS] = ACC_BITS'(t);
        if (TB > ACC_BITS) begin : g_wrap
          wire _unused_high_bits = &{1'b0, t[TB-1:ACC_BITS]};
        end
      end
    end

    logic [ACC_BITS-1:0] dot, acc, acc_next, s2_acc;
    qloom_add_tree #(.N(SIMD), .W(ACC_BITS)) u_tree (.leaves(terms), .sum(dot));
    assign acc_next = (s1_first ? '0 : acc) + dot;
    always_ff @(posedge clk) begin
      if (s1_valid) acc <= acc_next;
      if (s1_valid && s1_last) s2_acc <= acc_next;
    end

    if (N_THR > 0) begin : g_thr
      logic [$clog2(N_THR + 1)-1:0] count;
      qloom_thr_count #(.N(N_THR), .W(ACC_BITS)) u_count (
        .x(s2_acc), .thr(tq[p*N_THR*ACC_BITS +: N_THR*ACC_BITS]), .count(count));
      assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(OUT_BASE + OUT_STEP * int'(count));
    end else if (BINARY) begin : g_popcount_out
      wire [ACC_BITS-1:0] v = s2_acc + s2_acc - ACC_BITS'(MW);  // 2p - MW
      assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed(v));
      if (ACC_BITS > OUT_BITS) begin : g_narrow  // the value fits the output type
        wire _unused_high_bits = &{1'b0, v[ACC_BITS-1:OUT_BITS]};
      end
    end else begin : g_acc_out
      assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed(s2_acc));
      if (ACC_BITS > OUT_BITS) begin : g_narrow  // the value fits the output type
        wire _unused_high_bits = &{1'b0, s2_acc[ACC_BITS-1:OUT_BITS]};
      end
    end
  end

  // ---------------------------------------------------------------- output queue
  logic q_ready_unused;  // always 1 when s2 pushes: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue && last_sf), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(PE*OUT_BITS), .DEPTH(QDEPTH)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s2_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
