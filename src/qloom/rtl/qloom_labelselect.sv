// qloom_labelselect: top-K indices of C values, largest first, ties to the lower index.
//
// Consumes one element per clock (index i = 0..C-1 of the frame) into a sorted list of K
// (value, index) slots. A new element goes before the first slot holding a strictly
// smaller value (or an empty slot), so an earlier, equal value stays ahead: ties go to
// the lower index. With the frame's last element the list is copied to an output shift
// register that emits K words (one index each) while the next frame is collected; the
// last element waits only if the previous K words are still unsent.
// CMP_SIGNED: compare the encoded values as signed (0 for unsigned and bipolar codes,
// whose order matches their values).
module qloom_labelselect #(
  parameter int C = 10,
  parameter int K = 1,
  parameter int IN_BITS = 8,
  parameter int CMP_SIGNED = 1,
  parameter int OUT_BITS = 4
) (
  input  logic                clk,
  input  logic                rst_n,
  input  logic [IN_BITS-1:0]  s_tdata,
  input  logic                s_tvalid,
  output logic                s_tready,
  output logic [OUT_BITS-1:0] m_tdata,
  output logic                m_tvalid,
  input  logic                m_tready
);
  localparam int KW = $clog2(K + 2);

  logic [OUT_BITS-1:0] idx;  // index of the element at the input
  logic [KW-1:0] pending;    // output words left to send, 0..K+1
  wire last = idx == OUT_BITS'(C - 1);
  assign s_tready = !last || pending <= KW'(1);
  wire take = s_tvalid && s_tready;

  // slot j: value/index buses, and each slot's next state
  logic [K*IN_BITS-1:0] vals;
  logic [K*OUT_BITS-1:0] ids, next_ids;
  logic [(K+1)*OUT_BITS-1:0] out_ids;  // output shift register, next word in the LSBs
  logic [K-1:0] goes_here;  // the new element lands at or above slot j

  for (genvar j = 0; j < K; j++) begin : g_slot
    logic [IN_BITS-1:0] val;
    logic [OUT_BITS-1:0] id;
    logic empty;  // slots j >= i are unused before element i
    if (j >= C - 1) begin : g_always_empty  // idx never exceeds C - 1
      assign empty = 1'b1;
    end else begin : g_empty
      assign empty = idx <= OUT_BITS'(j);
    end
    wire greater = CMP_SIGNED != 0 ? $signed(s_tdata) > $signed(val) : s_tdata > val;
    assign goes_here[j] = empty || greater;
    assign vals[j*IN_BITS +: IN_BITS] = val;
    assign ids[j*OUT_BITS +: OUT_BITS] = id;
    if (j == 0) begin : g_head
      assign next_ids[0 +: OUT_BITS] = goes_here[0] ? idx : id;
      always_ff @(posedge clk) begin
        if (take && goes_here[0]) begin
          val <= s_tdata;
          id <= idx;
        end
      end
    end else begin : g_tail
      // shift down when the new element lands above; take it when it lands here
      wire shift = goes_here[j-1];
      assign next_ids[j*OUT_BITS +: OUT_BITS] = !goes_here[j] ? id : shift ? ids[(j-1)*OUT_BITS +: OUT_BITS] : idx;
      always_ff @(posedge clk) begin
        if (take && goes_here[j]) begin
          val <= shift ? vals[(j-1)*IN_BITS +: IN_BITS] : s_tdata;
          id <= shift ? ids[(j-1)*OUT_BITS +: OUT_BITS] : idx;
        end
      end
    end
  end

  // the last slot is only ever read through next_ids (nothing shifts below it)
  wire _unused_ok = &{1'b0, vals[(K-1)*IN_BITS +: IN_BITS], ids[(K-1)*OUT_BITS +: OUT_BITS]};

  assign m_tvalid = pending != '0;
  assign m_tdata = out_ids[OUT_BITS-1:0];
  wire pop = m_tvalid && m_tready;
  wire keep_one = pending == KW'(1) && !pop;  // the previous frame's last word stays in front
  always_ff @(posedge clk) begin
    if (take && last) out_ids <= keep_one ? {next_ids, out_ids[OUT_BITS-1:0]} : {{OUT_BITS{1'b0}}, next_ids};
    else if (pop) out_ids <= out_ids >> OUT_BITS;
    if (!rst_n) begin
      idx <= '0;
      pending <= '0;
    end else begin
      if (take) idx <= last ? '0 : idx + 1'b1;
      if (take && last) pending <= keep_one ? KW'(K + 1) : KW'(K);
      else if (pop) pending <= pending - 1'b1;
    end
  end
endmodule
