// qloom_pool: max or sum pooling over KH x KW windows, PE channels per word.
//
// Separable, both reductions are associative: a horizontal pass reduces each window's KW
// pixels of one row, a vertical pass reduces KH of those row results. Each pass keeps the
// previous pixels (rows) of the same channel fold in delay lines, so every word it takes
// is used at once and the input is consumed at one word per clock:
//   horizontal: KW-1 lines of CF words (pixels x-1 .. x-KW+1 of fold cf)
//   vertical:   KH-1 lines of OW*CF words (rows y-1 .. y-KH+1 of one output column/fold)
// A pass emits when its current pixel (row) ends a window: real column XEND0 + ox*SW.
// Elements left of/above the frame are masked to the identity (max: the type minimum, the
// "-infinity" of ONNX padding; sum: 0). Windows that end in the right/bottom padding are
// finished by virtual pixels (rows) of identity that take no input: XCOLS - W clocks per
// row, so cycles per frame = H*XCOLS*CF (= the input words without right padding); the
// vertical pass's virtual rows overlap the next frame through the HQ-deep queue.
//
// MODE 0 (max) works on the encoded values (IN_SIGNED compare; bipolar codes are ordered
// like their values), OUT_BITS = IN_BITS. MODE 1 (sum) widens each element to the
// OUT_BITS result type first (bipolar b -> 2b - 1); partial sums fit because the result
// type covers every window sum.
module qloom_pool #(
  parameter int H = 4,
  parameter int W = 4,
  parameter int C = 1,
  parameter int PE = 1,
  parameter int KH = 2,
  parameter int KW = 2,
  parameter int SH = 2,
  parameter int SW = 2,
  parameter int PT = 0,
  parameter int PL = 0,
  parameter int PB = 0,
  parameter int PR = 0,
  parameter int IN_BITS = 4,
  parameter int IN_SIGNED = 0,
  parameter int IN_BIPOLAR = 0,
  parameter int MODE = 0,  // 0 max, 1 sum
  parameter int OUT_BITS = 4,
  parameter int COL_STYLE = 0,  // qloom_line STYLE of the horizontal pass's lines
  parameter int ROW_STYLE = 0   // ... and of the vertical pass's lines
) (
  input  logic                   clk,
  input  logic                   rst_n,
  input  logic [PE*IN_BITS-1:0]  s_tdata,
  input  logic                   s_tvalid,
  output logic                   s_tready,
  output logic [PE*OUT_BITS-1:0] m_tdata,
  output logic                   m_tvalid,
  input  logic                   m_tready
);
  localparam int CF = C / PE;
  localparam int OH = (H + PT + PB - KH) / SH + 1;
  localparam int OW = (W + PL + PR - KW) / SW + 1;
  localparam int D = OUT_BITS;  // working element width
  localparam int DW = PE * D;
  localparam int XEND0 = KW - 1 - PL;                 // column ending window 0 (pad < kernel)
  localparam int XLAST = (OW - 1) * SW + XEND0;       // column ending the last window
  localparam int XCOLS = XLAST + 1 > W ? XLAST + 1 : W;  // real + virtual columns per row
  localparam int YEND0 = KH - 1 - PT;
  localparam int YLAST = (OH - 1) * SH + YEND0;
  localparam int YROWS = YLAST + 1 > H ? YLAST + 1 : H;
  localparam int ROWW = OW * CF;                      // words of a horizontal-pass row
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int XW = $clog2(XCOLS + SW + 1);
  localparam int YW = $clog2(YROWS + SH + 1);
  localparam int RW = ROWW > 1 ? $clog2(ROWW) : 1;
  localparam bit MAX_SIGNED = IN_SIGNED != 0 && IN_BIPOLAR == 0;
  localparam logic [D-1:0] IDENT = (MODE == 0 && MAX_SIGNED) ? D'(1) << (D - 1) : '0;
  localparam int QDEPTH = 4;                          // LAT 2 + 2
  localparam int HQ = QDEPTH + (YROWS - H) * ROWW;    // room while virtual rows run

  function automatic logic [D-1:0] reduce2(input logic [D-1:0] a, input logic [D-1:0] b);
    // assignment to the function name, not `return`: Yosys' parser lacks the latter
    if (MODE != 0) reduce2 = a + b;
    else if (MAX_SIGNED) reduce2 = $signed(a) >= $signed(b) ? a : b;
    else reduce2 = a >= b ? a : b;
  endfunction

  // ---------------------------------------------------------------- horizontal pass
  logic h_ok;
  logic [XW-1:0] hx, hx_emit;  // column (>= W: virtual), next column ending a window
  logic [CFW-1:0] hcf;
  wire h_virtual = hx >= XW'(W);
  wire h_emit = hx == hx_emit;
  wire h_may = h_ok || !h_emit;  // only window ends need room in the queue
  wire h_issue = h_may && (h_virtual || s_tvalid);
  assign s_tready = h_may && !h_virtual;
  wire h_last_cf = hcf == CFW'(CF - 1);

  logic [DW-1:0] h_cur;  // the current word widened to D bits (identity if virtual)
  for (genvar p = 0; p < PE; p++) begin : g_widen
    wire [IN_BITS-1:0] xs = s_tdata[p*IN_BITS +: IN_BITS];
    logic [D-1:0] xv;
    if (MODE == 0) begin : g_max
      assign xv = xs;
    end else if (IN_BIPOLAR != 0) begin : g_bipolar
      assign xv = xs[0] ? D'(1) : '1;
    end else begin : g_int
      assign xv = D'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
    end
    assign h_cur[p*D +: D] = h_virtual ? IDENT : xv;
  end

  logic [KW*DW-1:0] h_win;  // element j = pixel hx - j of fold hcf
  assign h_win[0 +: DW] = h_cur;
  for (genvar j = 1; j < KW; j++) begin : g_hline
    logic [DW-1:0] q;
    qloom_line #(.WIDTH(DW), .DEPTH(CF), .STYLE(COL_STYLE)) u_line (
      .clk(clk), .we(h_issue), .addr(hcf), .d(h_win[(j-1)*DW +: DW]), .q(q));
    assign h_win[j*DW +: DW] = hx >= XW'(j) ? q : {PE{IDENT}};
  end

  logic [DW-1:0] h_res;
  for (genvar p = 0; p < PE; p++) begin : g_hred
    logic [KW*D-1:0] chain;  // running reduction over elements 0..j
    assign chain[0 +: D] = h_win[p*D +: D];
    for (genvar j = 1; j < KW; j++) begin : g_step
      assign chain[j*D +: D] = reduce2(chain[(j-1)*D +: D], h_win[j*DW + p*D +: D]);
    end
    assign h_res[p*D +: D] = chain[(KW-1)*D +: D];
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      hx <= '0;
      hcf <= '0;
      hx_emit <= XW'(XEND0);
    end else if (h_issue) begin
      hcf <= h_last_cf ? '0 : hcf + 1'b1;
      if (h_last_cf) begin
        if (hx == XW'(XCOLS - 1)) begin
          hx <= '0;
          hx_emit <= XW'(XEND0);
        end else begin
          hx <= hx + 1'b1;
          if (h_emit) hx_emit <= hx_emit + XW'(SW);
        end
      end
    end
  end

  logic h1_valid;
  logic [DW-1:0] h1_data;
  always_ff @(posedge clk) begin
    if (!rst_n) h1_valid <= 1'b0;
    else h1_valid <= h_issue && h_emit;
    h1_data <= h_res;
  end

  logic [DW-1:0] hq_data;
  logic hq_valid, hq_ready, hq_push_ready_unused;
  qloom_credit #(.DEPTH(HQ)) u_hcredit (
    .clk(clk), .rst_n(rst_n), .take(h_issue && h_emit), .give(hq_valid && hq_ready), .ok(h_ok));
  qloom_fifo #(.WIDTH(DW), .DEPTH(HQ), .STYLE(2)) u_hqueue (
    .clk(clk), .rst_n(rst_n), .s_tdata(h1_data), .s_tvalid(h1_valid), .s_tready(hq_push_ready_unused),
    .m_tdata(hq_data), .m_tvalid(hq_valid), .m_tready(hq_ready));

  // ---------------------------------------------------------------- vertical pass
  logic v_ok;
  logic [YW-1:0] vy, vy_emit;  // row (>= H: virtual), next row ending a window
  logic [RW-1:0] vpos;         // ox*CF + cf within the row
  wire v_virtual = vy >= YW'(H);
  wire v_emit = vy == vy_emit;
  wire v_may = v_ok || !v_emit;
  wire v_issue = v_may && (v_virtual || hq_valid);
  assign hq_ready = v_may && !v_virtual;
  wire v_last_pos = vpos == RW'(ROWW - 1);

  logic [KH*DW-1:0] v_win;  // element k = row vy - k at position vpos
  assign v_win[0 +: DW] = v_virtual ? {PE{IDENT}} : hq_data;
  for (genvar k = 1; k < KH; k++) begin : g_vline
    logic [DW-1:0] q;
    qloom_line #(.WIDTH(DW), .DEPTH(ROWW), .STYLE(ROW_STYLE)) u_line (
      .clk(clk), .we(v_issue), .addr(vpos), .d(v_win[(k-1)*DW +: DW]), .q(q));
    assign v_win[k*DW +: DW] = vy >= YW'(k) ? q : {PE{IDENT}};
  end

  logic [DW-1:0] v_res;
  for (genvar p = 0; p < PE; p++) begin : g_vred
    logic [KH*D-1:0] chain;
    assign chain[0 +: D] = v_win[p*D +: D];
    for (genvar k = 1; k < KH; k++) begin : g_step
      assign chain[k*D +: D] = reduce2(chain[(k-1)*D +: D], v_win[k*DW + p*D +: D]);
    end
    assign v_res[p*D +: D] = chain[(KH-1)*D +: D];
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      vy <= '0;
      vpos <= '0;
      vy_emit <= YW'(YEND0);
    end else if (v_issue) begin
      vpos <= v_last_pos ? '0 : vpos + 1'b1;
      if (v_last_pos) begin
        if (vy == YW'(YROWS - 1)) begin
          vy <= '0;
          vy_emit <= YW'(YEND0);
        end else begin
          vy <= vy + 1'b1;
          if (v_emit) vy_emit <= vy_emit + YW'(SH);
        end
      end
    end
  end

  logic v1_valid;
  logic [DW-1:0] v1_data;
  always_ff @(posedge clk) begin
    if (!rst_n) v1_valid <= 1'b0;
    else v1_valid <= v_issue && v_emit;
    v1_data <= v_res;
  end

  logic q_ready_unused;  // always 1 on a push: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_vcredit (
    .clk(clk), .rst_n(rst_n), .take(v_issue && v_emit), .give(m_tvalid && m_tready), .ok(v_ok));
  qloom_fifo #(.WIDTH(DW), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(v1_data), .s_tvalid(v1_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
