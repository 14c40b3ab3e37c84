// qloom_concat: channel concatenation of K streams (a Concat layer), PE elements per word.
//
// Every port carries frames of equal H x W, channels last: port i sends WORDS[i] = C_i/PE
// words per pixel (PE divides every C_i, so no word straddles two ports). The output sends,
// per pixel, port 0's words, then port 1's, ... (channels in port order), each element
// converted from port i's type (IN_BITS[i], IN_SIGNED[i], IN_BIPOLAR[i]) to the output's
// OUT_BITS, which holds every port's range (so OUT_BITS >= IN_BITS[i]): zero/sign extension,
// bipolar b -> 2b - 1.
// Vector parameters hold 32 bits per port, port i at [32*i +: 32]. Port i's input word sits
// in the low PE*IN_BITS[i] bits of its slot s_tdata[i*PE*OUT_BITS +: PE*OUT_BITS] (the
// bits above are ignored), element p at [p*IN_BITS[i] +: IN_BITS[i]].
//
// Handshake rule: each input owns a 2-word qloom_fifo of registers (s_tready[i] = its
// registered not-full flag: no port's ready depends on another port's valid or on
// m_tready); the output register takes a word from the port being read when that buffer
// holds one and the register is empty or being read. A port waits while others are read:
// in a DAG the FIFOs in front of the ports absorb that (fold.dag sizes them). Full rate:
// one output word per clock. Latency: 2 clocks (input buffer, output register).
module qloom_concat #(
  parameter int K = 2,
  parameter int PE = 1,
  parameter logic [K*32-1:0] WORDS = '0,
  parameter logic [K*32-1:0] IN_BITS = '0,
  parameter logic [K*32-1:0] IN_SIGNED = '0,
  parameter logic [K*32-1:0] IN_BIPOLAR = '0,
  parameter int OUT_BITS = 4
) (
  input  logic                     clk,
  input  logic                     rst_n,  // synchronous, active low
  input  logic [K*PE*OUT_BITS-1:0] s_tdata,
  input  logic [K-1:0]             s_tvalid,
  output logic [K-1:0]             s_tready,
  output logic [PE*OUT_BITS-1:0]   m_tdata,
  output logic                     m_tvalid,
  input  logic                     m_tready
);
  localparam int SW = PE * OUT_BITS;  // slot width
  localparam int KW = K > 1 ? $clog2(K) : 1;

  function automatic integer max_words(input logic [K*32-1:0] words);  // Yosys: no loop-local ints
    integer i, m;
    begin
      m = 1;
      for (i = 0; i < K; i = i + 1) if (words[i*32 +: 32] > m) m = words[i*32 +: 32];
      max_words = m;
    end
  endfunction
  localparam int MAXW = max_words(WORDS);
  localparam int WW = MAXW > 1 ? $clog2(MAXW) : 1;

  logic [KW-1:0] port;  // the port being read
  logic [WW-1:0] word;  // word of this pixel from that port
  logic [K-1:0] have;   // buffer i holds a word
  logic [SW-1:0] conv [K];  // buffer i's head word in the output type
  logic [K-1:0] ends;       // port i's word `word` is its last of the pixel
  logic out_v;
  wire fire = have[port] && (!out_v || m_tready);

  for (genvar i = 0; i < K; i++) begin : g_port
    localparam int IB = int'(IN_BITS[i*32 +: 32]);
    localparam bit SIGNED = IN_SIGNED[i*32 +: 32] != 0;
    localparam bit BIPOLAR = IN_BIPOLAR[i*32 +: 32] != 0;
    localparam int LAST = int'(WORDS[i*32 +: 32]) - 1;
    logic [PE*IB-1:0] head;
    qloom_fifo #(.WIDTH(PE*IB), .DEPTH(2), .STYLE(3)) u_buf (
      .clk(clk), .rst_n(rst_n),
      .s_tdata(s_tdata[i*SW +: PE*IB]), .s_tvalid(s_tvalid[i]), .s_tready(s_tready[i]),
      .m_tdata(head), .m_tvalid(have[i]), .m_tready(fire && port == KW'(i)));
    for (genvar p = 0; p < PE; p++) begin : g_pe
      wire [IB-1:0] x = head[p*IB +: IB];
      if (BIPOLAR) begin : g_bipolar
        assign conv[i][p*OUT_BITS +: OUT_BITS] = x[0] ? OUT_BITS'(1) : '1;
      end else begin : g_int
        assign conv[i][p*OUT_BITS +: OUT_BITS] = OUT_BITS'($signed({SIGNED && x[IB-1], x}));
      end
    end
    assign ends[i] = word == WW'(LAST);
    if (IB < OUT_BITS) begin : g_pad
      wire _unused = &{1'b0, s_tdata[i*SW + PE*IB +: SW - PE*IB]};  // slot bits above the word
    end
  end

  wire last_word = ends[port];
  always_ff @(posedge clk) begin
    if (fire) m_tdata <= conv[port];
    if (!rst_n) begin
      port <= '0;
      word <= '0;
      out_v <= 1'b0;
    end else begin
      if (fire) begin
        word <= last_word ? '0 : word + 1'b1;
        if (last_word) port <= (port == KW'(K - 1)) ? '0 : port + 1'b1;
      end
      if (fire) out_v <= 1'b1;
      else if (m_tready) out_v <= 1'b0;
    end
  end
  assign m_tvalid = out_v;
endmodule
