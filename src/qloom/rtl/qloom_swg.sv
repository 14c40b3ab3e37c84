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
// A double-buffered frame buffer (2 banks of H*W*CF words): the writer fills one bank at
// the input rate while the reader walks the other bank's windows, so a frame costs
// max(input words, output words) clocks in steady state. Bank handover: `full[b]` is set
// by the writer's last word and cleared by the reader's last word; each side waits only
// for its own bank. Any stride and padding; memory cost 2 frames (a line buffer would
// need only KH rows, see the notes in the generator).
//
// The reader's word address moves by additions only (no multipliers): +1 along a kernel
// row (kw and c are contiguous), +W*CF to the next kernel row, +SW*CF to the next window,
// +SH*W*CF to the next output row. iy/ix track the input pixel to detect padding.
// Pipeline: issue (bank read, registered) -> s1 (pad mux) -> output FIFO, with credits.
//
// KPAR > 1 emits KPAR consecutive window words (SIMD elements each) per output word,
// element order unchanged (word j of a group in the low bits): a stream of SIMD*KPAR
// elements per word. A group is PC channel words of one pixel (KPAR | CF), or PX whole
// pixels of one kernel row (CF | KPAR, KPAR/CF | KW), or PY whole kernel rows (KW*CF |
// KPAR, KPAR/(KW*CF) | KH); the counters walk groups, and lane p reads at a fixed offset
// (dcf, dx, dy) from the group's first word. Each lane has its own copy of the frame
// buffer (one read port each; the writer writes all copies), padding is checked once
// per kernel row and column of the group.
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
  parameter int STYLE = 0,  // qloom_sdpram STYLE of the frame buffer
  parameter int KPAR = 1    // optional: window words per output word (see above)
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic [SIMD*BITS-1:0]  s_tdata,
  input  logic                  s_tvalid,
  output logic                  s_tready,
  output logic [KPAR*SIMD*OUT_BITS-1:0] m_tdata,
  output logic                  m_tvalid,
  input  logic                  m_tready
);
  localparam int CF = C / SIMD;
  localparam int OH = (H + PT + PB - KH) / SH + 1;
  localparam int OW = (W + PL + PR - KW) / SW + 1;
  localparam int FRAME = H * W * CF;         // words per bank
  localparam int AW = $clog2(2 * FRAME);     // bank address: {bank, word}
  localparam int WAW = FRAME > 1 ? $clog2(FRAME) : 1;
  localparam int DW = SIMD * BITS;
  localparam int START = -(PT * W + PL) * CF;  // address of window (0, 0), may be negative
  localparam int ODW = SIMD * OUT_BITS;  // one lane
  localparam int PC = KPAR <= CF ? KPAR : CF;                   // channel words per group
  localparam int PX = KPAR <= CF ? 1 : (KPAR <= KW * CF ? KPAR / CF : KW);  // pixels per group
  localparam int PY = KPAR / (PC * PX);                         // kernel rows per group
  localparam logic [OUT_BITS-1:0] PAD_E = OUT_BITS'(PAD);
  localparam int QDEPTH = 4;  // LAT 2 + 2

  logic [1:0] full;  // bank b holds a complete frame not yet read
  logic wb, rb;      // bank being written / read

  // ---------------------------------------------------------------- writer
  logic [WAW-1:0] waddr;
  assign s_tready = !full[wb];
  wire push = s_tvalid && s_tready;
  wire w_last = waddr == WAW'(FRAME - 1);
  wire [AW-1:0] fb_waddr = (wb ? AW'(FRAME) : '0) + AW'(waddr);

  // ---------------------------------------------------------------- reader
  logic credit_ok;
  int cf, kx, ky, ox, oy;       // position in the output sequence
  int ix, iy;                   // input pixel of the element (outside 0..W-1/H-1: padding)
  int addr, krow, winb, rowb;   // word address of: element, kernel row start, window, output row
  wire r_last_cf = cf == CF - PC;
  wire r_last_kx = kx == KW - PX;
  wire r_last_ky = ky == KH - PY;
  wire r_last_ox = ox == OW - 1;
  wire r_last_oy = oy == OH - 1;
  wire r_last = r_last_cf && r_last_kx && r_last_ky && r_last_ox && r_last_oy;
  wire issue = full[rb] && credit_ok;
  logic row_ok [PY];  // kernel row iy + dy of the group is inside the frame
  logic col_ok [PX];
  for (genvar d = 0; d < PY; d++) begin : g_row
    assign row_ok[d] = iy + d >= 0 && iy + d < H;
  end
  for (genvar d = 0; d < PX; d++) begin : g_col
    assign col_ok[d] = ix + d >= 0 && ix + d < W;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      {cf, kx, ky, ox, oy} <= '0;
      iy <= -PT;
      ix <= -PL;
      {addr, krow, winb, rowb} <= {START, START, START, START};
    end else if (issue) begin
      if (!r_last_cf) begin
        cf <= cf + PC;
        addr <= addr + PC;
      end else if (!r_last_kx) begin
        cf <= 0;
        kx <= kx + PX;
        ix <= ix + PX;
        addr <= addr + PC + (PX - 1) * CF;
      end else if (!r_last_ky) begin
        {cf, kx} <= '0;
        ky <= ky + PY;
        iy <= iy + PY;
        ix <= ix - (KW - PX);
        krow <= krow + PY * W * CF;
        addr <= krow + PY * W * CF;
      end else if (!r_last_ox) begin
        {cf, kx, ky} <= '0;
        ox <= ox + 1;
        iy <= iy - (KH - PY);
        ix <= ix - (KW - PX) + SW;
        winb <= winb + SW * CF;
        krow <= winb + SW * CF;
        addr <= winb + SW * CF;
      end else if (!r_last_oy) begin
        {cf, kx, ky, ox} <= '0;
        oy <= oy + 1;
        iy <= iy - (KH - PY) + SH;
        ix <= -PL;
        rowb <= rowb + SH * W * CF;
        winb <= rowb + SH * W * CF;
        krow <= rowb + SH * W * CF;
        addr <= rowb + SH * W * CF;
      end else begin  // frame done: back to window (0, 0)
        {cf, kx, ky, ox, oy} <= '0;
        iy <= -PT;
        ix <= -PL;
        {addr, krow, winb, rowb} <= {START, START, START, START};
      end
    end
  end

  // ---------------------------------------------------------------- bank handover
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      full <= '0;
      wb <= 1'b0;
      rb <= 1'b0;
      waddr <= '0;
    end else begin
      if (push) waddr <= w_last ? '0 : waddr + 1'b1;
      if (push && w_last) begin
        full[wb] <= 1'b1;
        wb <= !wb;
      end
      if (issue && r_last) begin  // never the bank the writer is filling
        full[rb] <= 1'b0;
        rb <= !rb;
      end
    end
  end

  // ---------------------------------------------------------------- s1 and output
  logic s1_valid;
  always_ff @(posedge clk) begin
    if (!rst_n) s1_valid <= 1'b0;
    else s1_valid <= issue;
  end
  logic [KPAR*ODW-1:0] result;
  for (genvar p = 0; p < KPAR; p++) begin : g_par
    localparam int DCF = p % PC;
    localparam int DX = (p / PC) % PX;
    localparam int DY = p / (PC * PX);
    localparam int OFF = DY * W * CF + DX * CF + DCF;  // word offset from the group's first word
    wire in_frame = row_ok[DY] && col_ok[DX];
    wire [AW-1:0] raddr = (rb ? AW'(FRAME) : '0) + (in_frame ? AW'(addr + OFF) : '0);
    logic s1_pad;
    logic [DW-1:0] rdata;
    always_ff @(posedge clk) s1_pad <= !in_frame;
    // this lane's copy of the frame buffer: 2 banks of FRAME words
    qloom_sdpram #(.WIDTH(DW), .DEPTH(2 * FRAME), .STYLE(STYLE)) u_frames (
      .clk(clk), .we(push), .waddr(fb_waddr), .wdata(s_tdata), .raddr(raddr), .rdata(rdata));
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
    assign result[p*ODW +: ODW] = s1_pad ? {SIMD{PAD_E}} : wide;
  end

  logic q_ready_unused;  // always 1 on a push: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(KPAR * ODW), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s1_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
