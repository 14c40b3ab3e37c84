// qloom_thresh: standalone multi-threshold, PE channels per word, one word per clock.
//
// Channel c of every pixel gets out = OUT_BASE + OUT_STEP * #(x >= t_c,i) (encoded
// domain). Words arrive channels-last, CF = C/PE words per pixel, so the threshold ROM
// (CF lines, PE*N_THR thresholds of CMP_BITS each, threshold i of lane p at
// (p*N_THR + i)*CMP_BITS) is addressed by the channel fold. Inputs are widened to the
// signed CMP_BITS (bipolar b -> 2b - 1); thresholds were clipped into the input range
// (+1) by the generator, so CMP_BITS is small.
//
// Pipeline (LAT = 2): issue (ROM read, input registered) -> s1 compare, push to the
// output FIFO. Words issue while qloom_credit has room: full rate, registered ready.
module qloom_thresh #(
  parameter int C = 4,
  parameter int PE = 1,
  parameter int IN_BITS = 4,
  parameter int IN_SIGNED = 0,
  parameter int IN_BIPOLAR = 0,
  parameter int CMP_BITS = 6,
  parameter int N_THR = 1,
  parameter int OUT_BITS = 1,
  parameter int OUT_BASE = 0,
  parameter int OUT_STEP = 1,
  parameter THRESH_FILE = "",
  parameter int MEM_STYLE = 0
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic [PE*IN_BITS-1:0]   s_tdata,
  input  logic                    s_tvalid,
  output logic                    s_tready,
  output logic [PE*OUT_BITS-1:0]  m_tdata,
  output logic                    m_tvalid,
  input  logic                    m_tready
);
  localparam int CF = C / PE;
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int TW = PE * N_THR * CMP_BITS;
  localparam int QDEPTH = 4;  // LAT 2 + 2

  logic credit_ok;
  logic [CFW-1:0] cf;  // channel fold of the word at the input
  wire issue = s_tvalid && credit_ok;
  assign s_tready = credit_ok;

  always_ff @(posedge clk) begin
    if (!rst_n) cf <= '0;
    else if (issue) cf <= (cf == CFW'(CF - 1)) ? '0 : cf + 1'b1;
  end

  logic s1_valid;
  logic [PE*IN_BITS-1:0] s1_x;
  logic [TW-1:0] tq;
  always_ff @(posedge clk) begin
    if (!rst_n) s1_valid <= 1'b0;
    else s1_valid <= issue;
    s1_x <= s_tdata;
  end
  qloom_rom #(.WIDTH(TW), .DEPTH(CF), .FILE(THRESH_FILE), .STYLE(MEM_STYLE))
    u_thresholds (.clk(clk), .addr(cf), .data(tq));

  logic [PE*OUT_BITS-1:0] result;
  for (genvar p = 0; p < PE; p++) begin : g_pe
    wire [IN_BITS-1:0] xs = s1_x[p*IN_BITS +: IN_BITS];
    logic [CMP_BITS-1:0] xv;
    if (IN_BIPOLAR != 0) begin : g_bipolar
      assign xv = xs[0] ? CMP_BITS'(1) : '1;  // +1 or -1
    end else begin : g_int
      assign xv = CMP_BITS'($signed({IN_SIGNED != 0 && xs[IN_BITS-1], xs}));
    end
    logic [$clog2(N_THR + 1)-1:0] count;
    qloom_thr_count #(.N(N_THR), .W(CMP_BITS)) u_count (
      .x(xv), .thr(tq[p*N_THR*CMP_BITS +: N_THR*CMP_BITS]), .count(count));
    assign result[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(OUT_BASE + OUT_STEP * int'(count));
  end

  logic q_ready_unused;  // always 1 on a push: qloom_credit reserved the slot at issue
  qloom_credit #(.DEPTH(QDEPTH)) u_credit (
    .clk(clk), .rst_n(rst_n), .take(issue), .give(m_tvalid && m_tready), .ok(credit_ok));
  qloom_fifo #(.WIDTH(PE*OUT_BITS), .DEPTH(QDEPTH), .STYLE(2)) u_queue (
    .clk(clk), .rst_n(rst_n), .s_tdata(result), .s_tvalid(s1_valid), .s_tready(q_ready_unused),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
