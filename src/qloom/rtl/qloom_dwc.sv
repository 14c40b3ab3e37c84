// qloom_dwc: stream data-width converter, IN elements per input word -> OUT per output word.
//
// Elements keep their order (oldest in the LSBs), so frames stay aligned whenever the frame
// size is a multiple of OUT (true between qloom layers: both IN and OUT divide the channel
// count, and at the top's input: FRAME is the layer's frame). FRAME = 0: every input word is
// full. FRAME > 0 (the DMA side of the top): a frame is FRAME elements in ceil(FRAME/IN)
// input words whose last one carries only the frame's remaining elements (the rest is
// padding, dropped). Four forms:
//
// IN = K * OUT (narrowing, frames of whole input words): two word registers filled
// alternately; the output sends the K slices of one while the other fills, so the output
// side (the bottleneck) sends every clock. Registers 2 * IN elements, LUTs ~IN * BITS / 2
// (the 2K:1 output multiplexer). Ready and valid are functions of registered state.
// OUT = K * IN (widening, frames of whole input words): words shift into a gathering
// register; every K-th completes an output word in the output register, while the next
// one gathers. Registers 2 * OUT elements, few LUTs. The input (the bottleneck) is refused
// only when a word completes while the previous one still waits unsent. Registered state.
// IN < OUT otherwise, FRAME > 0 (a gearbox, e.g. the DMA's 8 pixels -> a layer's 49; kept to
// the DMA side so the folding's between-layer converter costs stay as calibrated): input words
// shift into a register of OUT - 1 elements (no multiplexer: a fixed shift); a
// push that completes an output word copies the OUT oldest of {input, register}, which
// start at element OUT - 1 - have < IN, into the output register through a log2(IN)-stage
// shifter (Yosys: ~0.9 LUT per output bit and stage; 8 -> 49 bytes: 1016 LUTs). s_tready also passes m_tready through (refused only
// when a completing word meets an unsent one the consumer does not take this cycle), so
// the input moves every clock; m_tvalid is registered.
// Otherwise: a shift buffer of CAP = IN + OUT - 1 + max(IN, OUT) elements holds `count`
// of them; an output word is the lowest OUT elements, a push appends IN elements (the
// remainder at a frame's end) above what stays after this cycle's pop (a barrel shifter:
// ~CAP * BITS * log2(CAP) / 2 LUTs). CAP loses no throughput: the side moving fewer
// elements per word transfers every clock. Registered state.
module qloom_dwc #(
  parameter int IN = 2,
  parameter int OUT = 3,
  parameter int BITS = 1,
  parameter int FRAME = 0  // input elements per frame (0: whole words only)
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
  localparam int NIW = FRAME > 0 ? (FRAME + IN - 1) / IN : 1;  // input words per frame
  localparam int REM = FRAME > 0 ? FRAME - (NIW - 1) * IN : IN;  // elements in a frame's last word
  localparam bit WHOLE = REM == IN;

  if (IN % OUT == 0 && IN > OUT && WHOLE) begin : g_narrow
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
  end else if (OUT % IN == 0 && OUT > IN && WHOLE) begin : g_widen
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
  end else if (IN < OUT && FRAME > 0) begin : g_gear
    localparam int L = OUT + IN - 1;  // elements in the shift register
    localparam int LW = L * BITS;
    localparam int HW = $clog2(OUT);  // have: 0..OUT-1
    localparam int SW = IN > 1 ? $clog2(IN) : 1;
    localparam int FW = NIW > 1 ? $clog2(NIW) : 1;
    logic [LW-IW-1:0] sr;  // the newest OUT - 1 elements (older ones are never read)
    logic [HW-1:0] have;   // elements held and not yet sent: the newest ones in sr
    logic [FW-1:0] word;   // input word of the frame (FRAME > 0)
    logic [OW-1:0] out_word;
    logic out_v;
    wire last_in = FRAME > 0 && word == FW'(NIW - 1);
    wire [HW:0] n = last_in ? (HW + 1)'(REM) : (HW + 1)'(IN);  // elements this push brings
    wire complete = {1'b0, have} + n >= (HW + 1)'(OUT);
    // the held elements sit right below the newest input word, so after the push the OUT
    // oldest start at element L - IN - have = OUT - 1 - have, in [0, IN - 1] on a completion
    wire [HW-1:0] start_full = HW'(OUT - 1) - have;
    wire [SW-1:0] start = SW'(start_full);
    wire [LW-1:0] next = {s_tdata, sr};
    // a right shift by `start` elements in log2(IN) stages of 2:1 multiplexers (a shift by
    // 2**s elements each), whatever BITS; a priority chain of IN compares would cost IN - 1
    // LUTs a bit
    logic [LW-1:0] stage [SW+1];
    assign stage[0] = next;
    for (genvar st = 0; st < SW; st++) begin : g_shift
      assign stage[st+1] = start[st] ? stage[st] >> ((1 << st) * BITS) : stage[st];
    end
    wire [OW-1:0] picked = stage[SW][OW-1:0];
    assign m_tvalid = out_v;
    assign m_tdata = out_word;
    assign s_tready = !(out_v && complete && !m_tready);
    always_ff @(posedge clk) begin
      if (push) sr <= next[LW-1:IW];
      if (push && complete) out_word <= picked;
      if (!rst_n) begin
        have <= '0;
        word <= '0;
        out_v <= 1'b0;
      end else begin
        if (push) begin
          have <= complete ? HW'({1'b0, have} + n - (HW + 1)'(OUT)) : HW'({1'b0, have} + n);
          word <= last_in ? '0 : word + 1'b1;
        end
        if (push && complete) out_v <= 1'b1;
        else if (pop) out_v <= 1'b0;
      end
    end
    wire _unused = &{1'b0, start_full, stage[SW][LW-1:OW]};
  end else begin : g_general
    localparam int CAP = IN + OUT - 1 + (IN > OUT ? IN : OUT);
    localparam int BW = CAP * BITS;
    localparam int CW = $clog2(BW + 1);
    localparam int FW = NIW > 1 ? $clog2(NIW) : 1;

    logic [BW-1:0] buffer;
    logic [CW-1:0] count;  // bits held (count in bits, not elements: shifts need no multiply)
    logic [FW-1:0] word;   // input word of the frame (FRAME > 0)
    wire last_in = FRAME > 0 && word == FW'(NIW - 1);

    assign m_tvalid = count >= CW'(OW);
    assign s_tready = count <= CW'((CAP - IN) * BITS);
    assign m_tdata = buffer[OW-1:0];

    wire [BW-1:0] kept = pop ? buffer >> OW : buffer;
    wire [CW-1:0] base = pop ? count - CW'(OW) : count;  // first free bit after the pop
    wire [BW-1:0] in_mask = {{(BW - IW){1'b0}}, {IW{1'b1}}} << base;
    wire [BW-1:0] in_bits = {{(BW - IW){1'b0}}, s_tdata} << base;
    // a frame's last word brings REM elements; its padding lands above `count`, unused

    always_ff @(posedge clk) begin
      buffer <= push ? (kept & ~in_mask) | in_bits : kept;
      if (!rst_n) begin
        count <= '0;
        word <= '0;
      end else begin
        count <= base + (push ? (last_in ? CW'(REM * BITS) : CW'(IW)) : '0);
        if (push) word <= last_in ? '0 : word + 1'b1;
      end
    end
  end
endmodule
