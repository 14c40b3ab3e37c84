// qloom_swg: sliding window generator (im2col) for a KH x KW convolution.
//
// Input: frames of H x W pixels, CF = C/SIMD words per pixel (channels-last). Output: for
// each of the OH x OW windows, its KH*KW*C elements in (kh, kw, c) order, SIMD*KPAR per word;
// elements in the padding (PT, PL, PB, PR) are the encoded PAD value.
//
// OUT_BITS > BITS widens every element on its way out (a pad value outside the input
// type: zero padding of a bipolar input emits {-1, 0, +1} as 2-bit two's complement,
// bipolar code b -> 2b - 1; other inputs are sign- or zero-extended). The frame buffer
// stays BITS wide; PAD is then encoded in OUT_BITS.
//
// A ring of ROWS input rows (ROWS * W * CF words per lane, qloom.hw.linebuf picks ROWS so a
// frame still costs max(input words, output words) clocks; ROWS = 2H holds two frames, the
// old double buffer). Handover is per row: the writer takes the next row's slot at its first
// word while fewer than ROWS are in use (`used`); output row oy is read once `ahead` (rows
// of the reader's frame complete) reaches need = min(H, oy*SH - PT + max(KH, SH)) (the last
// output row: all H); its last word frees the rows below the next output row (the last one
// frees the rest of the frame). A slot is read only between its row's last write and its
// release, so the ring never needs a bank flag. Any stride and padding.
//
// The reader's word address is a row base plus a column offset, moved by additions only (no
// multipliers): the row base of a slot (slot * W*CF) steps by constant rows modulo ROWS (one
// compare and subtract), the column offset +1 along a kernel row (kw and c are contiguous),
// +SW*CF to the next window. iy/ix track the input pixel to detect padding.
// Pipeline: issue (ring read, registered) -> s1 (pad mux) -> output FIFO, with credits.
//
// KPAR > 1 emits KPAR consecutive window words (SIMD elements each) per output word,
// element order unchanged (word j of a group in the low bits): a stream of SIMD*KPAR
// elements per word. A group is PC channel words of one pixel (KPAR | CF), or PX whole
// pixels of one kernel row (CF | KPAR, KPAR/CF | KW), or PY whole kernel rows (KW*CF |
// KPAR, KPAR/(KW*CF) | KH); the counters walk groups, and lane p reads at a fixed offset
// (dcf, dx, dy) from the group's first word. Each lane has its own copy of the ring (one
// read port each; the writer writes all copies), padding is checked once per kernel row
// and column of the group.
//
// MMV > 1 (FINN's MMV; only with SIMD = C and KPAR = KH*KW, a whole window per group, and
// MMV | W, MMV | OW: qloom.fold.rules) takes MMV pixels per input word and emits the MMV
// windows ox .. ox+MMV-1 per output word (window m in the m-th KPAR*ODW bits, so both
// streams keep the plain element order). The ring is banked by column modulo MMV: a row is
// W/MMV words, input pixel m of a word goes to bank m. Lane (m, p) reads input column
// x = (ox*SW - PL) + m*SW + DX; since ox is a multiple of MMV, its bank ((m*SW + DX - PL) mod
// MMV) and its word offset from the group's column (floor((m*SW + DX - PL) / MMV)) are fixed,
// so each lane keeps a copy of one bank only: the ring memory is the same as at MMV = 1.
module qloom_swg #(
  parameter int H = 4,
  parameter int W = 4,
  parameter int C = 1,
  parameter int KH = 3,
  parameter int KW = 3,
  parameter int SH = 1,
  parameter int SW = 1,
  parameter int PT = 0,
  parameter int PL = 0,
  parameter int PB = 0,
  parameter int PR = 0,
  parameter int SIMD = 1,
  parameter int BITS = 1,
  parameter int PAD = 0,  // encoded pad element, OUT_BITS wide (<= 32)
  parameter int OUT_BITS = BITS,
  parameter int IN_SIGNED = 0,   // how a widened element extends
  parameter int IN_BIPOLAR = 0,
  parameter int STYLE = 0,  // qloom_sdpram STYLE of the ring
  parameter int KPAR = 1,   // optional: window words per output word (see above)
  parameter int ROWS = 2 * H,  // input rows the ring holds (>= KH + SH - 1: no deadlock)
  parameter int MMV = 1     // optional: pixels per input word, windows per output word (see above)
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic [MMV*SIMD*BITS-1:0]  s_tdata,
  input  logic                  s_tvalid,
  output logic                  s_tready,
  output logic [MMV*KPAR*SIMD*OUT_BITS-1:0] m_tdata,
  output logic                  m_tvalid,
  input  logic                  m_tready
);
  localparam int CF = C / SIMD;
  localparam int OH = (H + PT + PB - KH) / SH + 1;
  localparam int OW = (W + PL + PR - KW) / SW + 1;
  localparam int WCF = W * CF / MMV;         // words per input row
  localparam int RW = ROWS * WCF;            // words of the ring
  localparam int AW = RW > 1 ? $clog2(RW) : 1;
  localparam int DW = SIMD * BITS;
  localparam int ODW = SIMD * OUT_BITS;  // one lane
  localparam int PC = KPAR <= CF ? KPAR : CF;                   // channel words per group
  localparam int PX = KPAR <= CF ? 1 : (KPAR <= KW * CF ? KPAR / CF : KW);  // pixels per group
  localparam int PY = KPAR / (PC * PX);                         // kernel rows per group
  localparam int KMAX = KH > SH ? KH : SH;  // rows an output row needs beyond its first one
  localparam int NXO = (MMV - 1) * SW + PX;  // input columns of a group's MMV windows
  localparam logic [OUT_BITS-1:0] PAD_E = OUT_BITS'(PAD);
  localparam int QDEPTH = 4;  // LAT 2 + 2
  // row steps as ring offsets in words (rows modulo ROWS, times WCF)
  function automatic integer ring(input integer rows);  // Yosys: assign the name, no return
    ring = (((rows % ROWS) + ROWS) % ROWS) * WCF;
  endfunction
  localparam int STEP_KY = ring(PY);                      // next kernel row group
  localparam int STEP_OY = ring(SH);                      // next output row
  localparam int STEP_FRAME = ring(H - (OH - 1) * SH);    // last output row -> next frame's first
  localparam int START = ring(-PT);                       // frame 0's first output row
  // a + b modulo RW, both in 0..RW-1
  function automatic logic [AW-1:0] wrap(input logic [AW-1:0] a, input logic [AW-1:0] b);
    logic [AW:0] sum;
    begin
      sum = {1'b0, a} + {1'b0, b};
      wrap = sum >= (AW + 1)'(RW) ? AW'(sum - (AW + 1)'(RW)) : AW'(sum);
    end
  endfunction
  // counter widths (signed ones hold the padding's negative positions)
  localparam int YB = $clog2(H + PT + PB + KH + SH + 1) + 1;  // iy, top (signed)
  localparam int XB = $clog2(W + PL + PR + KW + SW + 1) + 1;  // ix (signed)
  localparam int CB = $clog2((W + PL + PR + KW + SW) * CF + 1) + 1;  // col, winc (signed)
  localparam int UB = $clog2(ROWS + 1);                       // used
  localparam int HB = $clog2(H + ROWS + 1);                   // ahead, need, freed
  localparam int WB = WCF > 1 ? $clog2(WCF) : 1;               // wcol
  localparam int CFB = $clog2(CF + 1), KXB = $clog2(KW + 1), KYB = $clog2(KH + 1);
  localparam int OXB = $clog2(OW + 1), OYB = $clog2(OH + 1);
  function automatic logic [HB-1:0] clip(input logic signed [YB:0] y);  // y into 0..H
    clip = y < 0 ? '0 : (y > (YB + 1)'(H) ? HB'(H) : HB'(y));
  endfunction

  // ---------------------------------------------------------------- row handover
  logic [UB-1:0] used;   // ring slots taken by the writer and not yet freed by the reader (0..ROWS)
  logic [HB-1:0] ahead;  // rows of the reader's frame complete (beyond H: the next frame's)
  logic signed [YB-1:0] top;  // input row of the current output row's first kernel row: oy*SH - PT
  logic [HB-1:0] lo_now, need;
  logic [UB-1:0] freed;  // rows the current output row frees (at most the slots in use)
  assign lo_now = clip((YB + 1)'(top));

  // ---------------------------------------------------------------- writer
  logic [WB-1:0] wcol;   // word in the row being written
  logic [AW-1:0] wrow;   // its slot's first word
  assign s_tready = wcol != 0 || used < UB'(ROWS);
  wire push = s_tvalid && s_tready;
  wire w_row_end = wcol == WB'(WCF - 1);
  wire [AW-1:0] fb_waddr = wrow + AW'(wcol);

  // ---------------------------------------------------------------- reader
  logic credit_ok;
  logic [CFB-1:0] cf;            // position in the output sequence
  logic [KXB-1:0] kx;
  logic [KYB-1:0] ky;
  logic [OXB-1:0] ox;
  logic [OYB-1:0] oy;
  logic signed [XB-1:0] ix;      // input pixel of the element (outside 0..W-1/H-1: padding)
  logic signed [YB-1:0] iy;
  logic [AW-1:0] krow, rrow;     // ring word of: current kernel row, output row's first kernel row
  logic signed [CB-1:0] col, winc;  // column offset (x * CF + c) of: element, window
  wire r_last_cf = cf == CFB'(CF - PC);
  wire r_last_kx = kx == KXB'(KW - PX);
  wire r_last_ky = ky == KYB'(KH - PY);
  wire r_last_ox = ox == OXB'(OW - MMV);
  wire r_last_oy = oy == OYB'(OH - 1);
  wire r_row_end = r_last_cf && r_last_kx && r_last_ky && r_last_ox;
  assign need = r_last_oy ? HB'(H) : clip((YB + 1)'(top) + (YB + 1)'(KMAX));
  assign freed = UB'((r_last_oy ? HB'(H) : clip((YB + 1)'(top) + (YB + 1)'(SH))) - lo_now);
  wire issue = ahead >= need && credit_ok;
  logic row_ok [PY];  // kernel row iy + dy of the group is inside the frame
  logic col_ok [NXO];
  for (genvar d = 0; d < PY; d++) begin : g_row
    assign row_ok[d] = iy + YB'(d) >= 0 && iy + YB'(d) < YB'(H);
  end
  for (genvar d = 0; d < NXO; d++) begin : g_col
    assign col_ok[d] = ix + XB'(d) >= 0 && ix + XB'(d) < XB'(W);
  end

  // counter steps at their widths
  localparam logic signed [YB-1:0] Y0 = YB'(-PT), Y_KY = YB'(PY), Y_OX = YB'(KH - PY), Y_OY = YB'(SH - (KH - PY));
  localparam logic signed [XB-1:0] X0 = XB'(-PL), X_KX = XB'(PX), X_KY = XB'(KW - PX), X_OX = XB'(MMV * SW - (KW - PX));
  // MMV > 1: col counts bank words from the group's first window (its lanes add -PL)
  localparam logic signed [CB-1:0] C0 = CB'(MMV > 1 ? 0 : -PL * CF), C_CF = CB'(PC), C_KX = CB'(PC + (PX - 1) * CF),
                                   C_OX = CB'(SW * CF);
  localparam logic signed [YB-1:0] T_OY = YB'(SH);
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      {cf, kx, ky, ox, oy} <= '0;
      {iy, top} <= {Y0, Y0};
      ix <= X0;
      {krow, rrow} <= {AW'(START), AW'(START)};
      {col, winc} <= {C0, C0};
    end else if (issue) begin
      if (!r_last_cf) begin
        cf <= cf + CFB'(PC);
        col <= col + C_CF;
      end else if (!r_last_kx) begin
        cf <= '0;
        kx <= kx + KXB'(PX);
        ix <= ix + X_KX;
        col <= col + C_KX;
      end else if (!r_last_ky) begin
        {cf, kx} <= '0;
        ky <= ky + KYB'(PY);
        iy <= iy + Y_KY;
        ix <= ix - X_KY;
        krow <= wrap(krow, AW'(STEP_KY));
        col <= winc;
      end else if (!r_last_ox) begin
        {cf, kx, ky} <= '0;
        ox <= ox + OXB'(MMV);
        iy <= iy - Y_OX;
        ix <= ix + X_OX;
        krow <= rrow;
        winc <= winc + C_OX;
        col <= winc + C_OX;
      end else if (!r_last_oy) begin
        {cf, kx, ky, ox} <= '0;
        oy <= oy + 1'b1;
        iy <= iy + Y_OY;
        ix <= X0;
        top <= top + T_OY;
        rrow <= wrap(rrow, AW'(STEP_OY));
        krow <= wrap(rrow, AW'(STEP_OY));
        {col, winc} <= {C0, C0};
      end else begin  // frame done: the next frame's window (0, 0)
        {cf, kx, ky, ox, oy} <= '0;
        {iy, top} <= {Y0, Y0};
        ix <= X0;
        rrow <= wrap(rrow, AW'(STEP_FRAME));
        krow <= wrap(rrow, AW'(STEP_FRAME));
        {col, winc} <= {C0, C0};
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      {wcol, wrow, used, ahead} <= '0;
    end else begin
      if (push) begin
        wcol <= w_row_end ? '0 : wcol + 1'b1;
        if (w_row_end) wrow <= wrap(wrow, AW'(WCF));
      end
      used <= used + UB'(push && wcol == 0) - (issue && r_row_end ? freed : '0);
      ahead <= ahead + HB'(push && w_row_end) - (issue && r_row_end && r_last_oy ? HB'(H) : '0);
    end
  end

  // ---------------------------------------------------------------- s1 and output
  logic s1_valid;
  always_ff @(posedge clk) begin
    if (!rst_n) s1_valid <= 1'b0;
    else s1_valid <= issue;
  end
  logic [MMV*KPAR*ODW-1:0] result;
  for (genvar q = 0; q < MMV * KPAR; q++) begin : g_par
    localparam int M = q / KPAR;  // its window of the MMV
    localparam int P = q % KPAR;  // its word of that window
    localparam int DCF = P % PC;
    localparam int DX = (P / PC) % PX;
    localparam int DY = P / (PC * PX);
    localparam int ROFF = ring(DY);      // its kernel row's offset in the ring
    localparam int XO = M * SW + DX - PL;  // MMV > 1: its column from the group's column ox*SW
    localparam int BANK = ((XO % MMV) + MMV) % MMV;
    localparam int COFF = MMV > 1 ? (XO - BANK) / MMV : DX * CF + DCF;  // from the group's first word
    wire in_frame = row_ok[DY] && col_ok[M * SW + DX];
    wire [AW-1:0] raddr = in_frame ? wrap(krow, AW'(ROFF)) + AW'(col) + AW'(COFF) : '0;
    logic s1_pad;
    logic [DW-1:0] rdata;
    always_ff @(posedge clk) s1_pad <= !in_frame;
    // this lane's copy of the ring (of its bank: input pixel BANK of each word)
    qloom_sdpram #(.WIDTH(DW), .DEPTH(RW), .STYLE(STYLE)) u_ring (
      .clk(clk), .we(push), .waddr(fb_waddr), .wdata(s_tdata[BANK*DW +: DW]), .raddr(raddr), .rdata(rdata));
    logic [ODW-1:0] wide;  // rdata, each element widened to OUT_BITS
    for (genvar i = 0; i < SIMD; i++) begin : g_lane
      wire [BITS-1:0] e = rdata[i*BITS +: BITS];
      if (OUT_BITS == BITS) begin : g_same
        assign wide[i*OUT_BITS +: OUT_BITS] = e;
      end else if (IN_BIPOLAR != 0) begin : g_bipolar  // +1 -> 0..01, -1 -> 1..11
        assign wide[i*OUT_BITS +: OUT_BITS] = {{(OUT_BITS - 1){!e[0]}}, 1'b1};
      end else begin : g_extend
        assign wide[i*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed({IN_SIGNED != 0 && e[BITS-1], e}));
      end
    end
    assign result[q*ODW +: ODW] = s1_pad ? {SIMD{PAD_E}} : wide;
  end

  logic q_ready_unused;  // always 1 on a push: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(MMV * KPAR * ODW), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s1_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
