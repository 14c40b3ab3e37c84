// qloom_fifo: synchronous stream FIFO of DEPTH words, WIDTH bits each.
//
// Stream rules (every qloom module): a word moves on a clock edge where valid && ready.
// Once valid is high, data holds until ready. Here m_tvalid (= not empty) and s_tready
// (= not full) are pure functions of registered state: no combinational path from
// m_tready to s_tready, nor from s_tvalid to m_tvalid. A push and a pop may share a cycle,
// so a non-full FIFO passes one word per clock. Storage has an asynchronous read:
// STYLE 2 (distributed, what the generator asks for by default) keeps it in LUTRAM (RAM32M
// holds 32 x 6 bits in 4 LUTs); 3 registers; 0 leaves it to the tool (Yosys picks
// flip-flops for a few words, LUTRAM, or block RAM behind an extracted address register).
// STYLE 1 (block, the folding's choice for a deep skip FIFO: fold.memstyle) stores the
// words in block RAM, whose read is registered: the RAM is read one clock ahead into a
// 2-word register queue that m_* sends from (a read is issued while the queue will have
// room for it), so it still passes one word per clock, with 3 clocks from s_* to m_*
// (1 for the other styles). A read never meets a write to its address (it reads only words
// written on earlier clocks), so no collision logic. DEPTH counts every word held (RAM,
// read register, queue); the RAM has DEPTH words.
module qloom_fifo #(
  parameter int WIDTH = 8,
  parameter int DEPTH = 2,
  parameter int STYLE = 0
) (
  input  logic             clk,
  input  logic             rst_n,  // synchronous, active low
  input  logic [WIDTH-1:0] s_tdata,
  input  logic             s_tvalid,
  output logic             s_tready,
  output logic [WIDTH-1:0] m_tdata,
  output logic             m_tvalid,
  input  logic             m_tready
);
  localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  localparam int CW = $clog2(DEPTH + 1);

  logic [AW-1:0] wp, rp;
  logic [CW-1:0] count;  // words stored, 0..DEPTH

  wire push = s_tvalid && s_tready;
  wire pop = m_tvalid && m_tready;
  logic rd;  // the word at rp leaves the memory this clock
  assign s_tready = count != CW'(DEPTH);
  if (STYLE == 1) begin : g_block
    (* ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
    logic [CW-1:0] stored;      // words in the RAM, not yet read
    logic [WIDTH-1:0] q;        // the RAM's read register
    logic pend;                 // q holds the word read on the last clock
    logic [WIDTH-1:0] head, second;  // the output queue, head first
    logic [1:0] queued;         // words in it
    wire [1:0] after_pop = queued - {1'b0, pop};
    // after this clock the queue holds after_pop + pend words; a read now lands on the next
    // clock, when the queue may not be popped: issue it only if that leaves room
    assign rd = stored != '0 && after_pop + {1'b0, pend} <= 2'd1;
    assign m_tvalid = queued != '0;
    assign m_tdata = head;
    always_ff @(posedge clk) begin
      if (push) mem[wp] <= s_tdata;
      if (rd) q <= mem[rp];
      if (pop) head <= second;
      if (pend && after_pop == 2'd0) head <= q;
      if (pend && after_pop == 2'd1) second <= q;
    end
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        stored <= '0;
        pend <= 1'b0;
        queued <= '0;
      end else begin
        stored <= stored + CW'(push) - CW'(rd);
        pend <= rd;
        queued <= after_pop + {1'b0, pend};
      end
    end
  end else begin : g_async
    assign m_tvalid = count != '0;
    assign rd = pop;  // the read pointer follows the output word
    if (STYLE == 2) begin : g_distributed
      (* ram_style = "distributed" *) logic [WIDTH-1:0] mem [DEPTH];
      assign m_tdata = mem[rp];
      always_ff @(posedge clk) begin
        if (push) mem[wp] <= s_tdata;
      end
    end else if (STYLE == 3) begin : g_registers
      (* ram_style = "registers" *) logic [WIDTH-1:0] mem [DEPTH];
      assign m_tdata = mem[rp];
      always_ff @(posedge clk) begin
        if (push) mem[wp] <= s_tdata;
      end
    end else begin : g_auto
      logic [WIDTH-1:0] mem [DEPTH];
      assign m_tdata = mem[rp];
      always_ff @(posedge clk) begin
        if (push) mem[wp] <= s_tdata;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wp <= '0;
      rp <= '0;
      count <= '0;
    end else begin
      if (push) wp <= (wp == AW'(DEPTH - 1)) ? '0 : wp + 1'b1;
      if (rd) rp <= (rp == AW'(DEPTH - 1)) ? '0 : rp + 1'b1;
      if (push && !pop) count <= count + 1'b1;
      else if (pop && !push) count <= count - 1'b1;
    end
  end
endmodule
