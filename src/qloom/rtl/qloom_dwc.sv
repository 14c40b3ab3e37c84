// qloom_dwc: stream data-width converter, IN elements per input word -> OUT per output word.
//
// Any IN/OUT (not only multiples): a shift buffer of CAP elements holds `count` of them,
// oldest in the LSBs. An output word is the lowest OUT elements; a push appends IN
// elements above what stays after this cycle's pop. Elements keep their order, so frames
// stay aligned whenever the frame size is a multiple of OUT (true between qloom layers:
// both IN and OUT divide the channel count).
//
// Ready and valid are functions of `count` only (registered). CAP = IN + OUT - 1 +
// max(IN, OUT) loses no throughput: the side moving fewer elements per word (the
// bottleneck) transfers every clock while the other side keeps up.
module qloom_dwc #(
  parameter int IN = 2,
  parameter int OUT = 3,
  parameter int BITS = 1
) (
  input  logic                clk,
  input  logic                rst_n,
  input  logic [IN*BITS-1:0]  s_tdata,
  input  logic                s_tvalid,
  output logic                s_tready,
  output logic [OUT*BITS-1:0] m_tdata,
  output logic                m_tvalid,
  input  logic                m_tready
);
  localparam int CAP = IN + OUT - 1 + (IN > OUT ? IN : OUT);
  localparam int BW = CAP * BITS;
  localparam int CW = $clog2(BW + 1);

  logic [BW-1:0] buffer;
  logic [CW-1:0] count;  // bits held (count in bits, not elements: shifts need no multiply)

  assign m_tvalid = count >= CW'(OUT * BITS);
  assign s_tready = count <= CW'((CAP - IN) * BITS);
  assign m_tdata = buffer[OUT*BITS-1:0];

  wire push = s_tvalid && s_tready;
  wire pop = m_tvalid && m_tready;
  wire [BW-1:0] kept = pop ? buffer >> (OUT * BITS) : buffer;
  wire [CW-1:0] base = pop ? count - CW'(OUT * BITS) : count;  // first free bit after the pop
  wire [BW-1:0] in_mask = {{(BW - IN * BITS){1'b0}}, {(IN * BITS){1'b1}}} << base;
  wire [BW-1:0] in_bits = {{(BW - IN * BITS){1'b0}}, s_tdata} << base;

  always_ff @(posedge clk) begin
    buffer <= push ? (kept & ~in_mask) | in_bits : kept;
    if (!rst_n) count <= '0;
    else count <= base + (push ? CW'(IN * BITS) : '0);
  end
endmodule
