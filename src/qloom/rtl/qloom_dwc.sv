// qloom_dwc: stream data-width converter, IN elements per input word -> OUT per output word.
//
// Elements keep their order (oldest in the LSBs), so frames stay aligned whenever the frame
// size is a multiple of OUT (true between qloom layers: both IN and OUT divide the channel
// count). Ready and valid are functions of registered state only. Three forms:
//
// IN = K * OUT (narrowing): two word registers filled alternately; the output sends the
// K slices of one while the other fills, so the output side (the bottleneck) sends every
// clock. Registers 2 * IN elements, LUTs ~IN * BITS / 2 (the 2K:1 output multiplexer).
// OUT = K * IN (widening): words shift into a gathering register; every K-th completes an
// output word in the output register, while the next one gathers. Registers 2 * OUT
// elements, few LUTs. The input (the bottleneck) is refused only when a word completes
// while the previous one still waits unsent.
// Otherwise: a shift buffer of CAP = IN + OUT - 1 + max(IN, OUT) elements holds `count`
// of them; an output word is the lowest OUT elements, a push appends IN elements above
// what stays after this cycle's pop (a barrel shifter: ~CAP * BITS * log2(CAP) / 2 LUTs).
// CAP loses no throughput: the side moving fewer elements per word transfers every clock.
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
  localparam int IW = IN * BITS;
  localparam int OW = OUT * BITS;
  wire push = s_tvalid && s_tready;
  wire pop = m_tvalid && m_tready;

  if (IN % OUT == 0 && IN > OUT) begin : g_narrow
    // two input words, each loaded straight from the stream (no load multiplexer); the
    // output picks slice `slice` of word `rd`, a 2K:1 multiplexer per output bit
    localparam int K = IN / OUT;
    localparam int KW = K > 1 ? $clog2(K) : 1;
    logic [IW-1:0] word0, word1;  // two registers, not an array: no LUTRAM for 2 words
    logic [1:0] full;      // word b holds slices still to send
    logic wr, rd;          // word the next push fills / the output reads
    logic [KW-1:0] slice;  // next slice of word rd
    assign m_tvalid = full[rd];
    assign s_tready = !full[wr];
    wire [IW-1:0] cur = rd ? word1 : word0;
    assign m_tdata = cur[slice*OW +: OW];
    wire last = slice == KW'(K - 1);
    always_ff @(posedge clk) begin
      if (push && !wr) word0 <= s_tdata;
      if (push && wr) word1 <= s_tdata;
      if (!rst_n) begin
        full <= '0;
        wr <= 1'b0;
        rd <= 1'b0;
        slice <= '0;
      end else begin
        if (push) begin
          full[wr] <= 1'b1;
          wr <= !wr;
        end
        if (pop) begin
          slice <= last ? '0 : slice + 1'b1;
          if (last) begin
            full[rd] <= 1'b0;  // never the word pushed this cycle: that one is not full yet
            rd <= !rd;
          end
        end
      end
    end
  end else if (OUT % IN == 0 && OUT > IN) begin : g_widen
    localparam int K = OUT / IN;
    localparam int KW = K > 1 ? $clog2(K) : 1;
    localparam int GW = OW - IW;  // K - 1 words wait in `gather`
    logic [GW-1:0] gather;
    logic [OW-1:0] word;
    logic [KW-1:0] have;  // input words in `gather`
    logic word_v;
    wire last = have == KW'(K - 1);
    assign m_tvalid = word_v;
    assign m_tdata = word;
    assign s_tready = !(last && word_v);
    wire [OW-1:0] shifted = {s_tdata, gather};  // the newest word on top
    always_ff @(posedge clk) begin
      if (push) gather <= shifted[OW-1:IW];
      if (push && last) word <= shifted;
      if (!rst_n) begin
        have <= '0;
        word_v <= 1'b0;
      end else begin
        if (push) have <= last ? '0 : have + 1'b1;
        if (push && last) word_v <= 1'b1;
        else if (pop) word_v <= 1'b0;
      end
    end
  end else begin : g_general
    localparam int CAP = IN + OUT - 1 + (IN > OUT ? IN : OUT);
    localparam int BW = CAP * BITS;
    localparam int CW = $clog2(BW + 1);

    logic [BW-1:0] buffer;
    logic [CW-1:0] count;  // bits held (count in bits, not elements: shifts need no multiply)

    assign m_tvalid = count >= CW'(OW);
    assign s_tready = count <= CW'((CAP - IN) * BITS);
    assign m_tdata = buffer[OW-1:0];

    wire [BW-1:0] kept = pop ? buffer >> OW : buffer;
    wire [CW-1:0] base = pop ? count - CW'(OW) : count;  // first free bit after the pop
    wire [BW-1:0] in_mask = {{(BW - IW){1'b0}}, {IW{1'b1}}} << base;
    wire [BW-1:0] in_bits = {{(BW - IW){1'b0}}, s_tdata} << base;

    always_ff @(posedge clk) begin
      buffer <= push ? (kept & ~in_mask) | in_bits : kept;
      if (!rst_n) count <= '0;
      else count <= base + (push ? CW'(IW) : '0);
    end
  end
endmodule
