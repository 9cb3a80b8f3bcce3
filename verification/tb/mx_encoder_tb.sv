// Self-checking stream testbench of numsim_mx_encoder (valid/ready, latency 3).
//
// Stream mode (plusarg +VECTORS=<golden file>): holds reset for two clocks, skips the '#' header,
// then offers one row "<x> <scale> <codes>" per handshake. An LFSR (+STALL=<0..255>, default
// 32: a probability of STALL/256 per clock each) drops valid_i and ready_i at random, so the
// bulk stream also exercises back-pressure and bubbles. Accepted rows queue their expected
// outputs in a FIFO; every output handshake pops one and compares the scale and all codes.
// Mismatches (first MaxReport, codes in the file's lane layout) and a SUMMARY line go to
// +REPORT=<file>; done_o rises when the file is exhausted and the pipeline has drained.
// Without +VECTORS the DUT's reset, handshake and data inputs follow the py_* ports when
// py_drive_i is high (Python-driven protocol tests).
// Shared with the other testbenches: numsim_tb_stream.svh (file, header, counts, SUMMARY).
`default_nettype none

module mx_encoder_tb #(
  parameter int IsInt     = 0,
  parameter int ExpBits   = 4,
  parameter int ManBits   = 3,
  parameter int Bias      = 7,
  parameter int Specials  = 1,
  parameter int IntBits   = 8,
  parameter int FracBits  = 0,
  parameter int Symmetric = 0,
  parameter int BlockSize = 32,
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits,
  parameter int MaxReport = 16
) (
  input  logic                       clk_i,
  input  logic                       py_drive_i,
  input  logic                       py_rst_ni,
  input  logic                       py_valid_i,
  input  logic                       py_ready_i,
  input  logic [32*BlockSize-1:0]    py_x_i,
  output logic                       valid_o,
  output logic                       ready_o,
  output logic [7:0]                 scale_o,
  output logic [CodeW*BlockSize-1:0] codes_o,
  output logic                       done_o,
  output logic [31:0]                count_o,
  output logic [31:0]                errors_o
);

  localparam int LaneW = 4 * ((CodeW + 3) / 4);  // a code's width in the file (whole hex digits)
  localparam int Depth = 8;                      // > pipeline depth

  logic                    tb_rst_n, tb_valid, tb_ready;
  logic [32*BlockSize-1:0] tb_x;

  numsim_mx_encoder #(
    .IsInt(IsInt), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials),
    .IntBits(IntBits), .FracBits(FracBits), .Symmetric(Symmetric), .BlockSize(BlockSize)
  ) u_dut (
    .clk_i  (clk_i),
    .rst_ni (py_drive_i ? py_rst_ni : tb_rst_n),
    .valid_i(py_drive_i ? py_valid_i : tb_valid),
    .ready_o(ready_o),
    .x_i    (py_drive_i ? py_x_i : tb_x),
    .valid_o(valid_o),
    .ready_i(py_drive_i ? py_ready_i : tb_ready),
    .scale_o(scale_o),
    .codes_o(codes_o)
  );

  `include "numsim_tb_stream.svh"
  integer row, cycles, stall, head, tail, fill;
  logic have_row;
  logic [31:0] lfsr;
  logic [32*BlockSize-1:0]    x_t;
  logic [7:0]                 scale_t;
  logic [LaneW*BlockSize-1:0] codes_t, got_file;
  // expected outputs of the rows in flight
  logic [32*BlockSize-1:0]    fifo_x     [Depth];
  logic [7:0]                 fifo_scale [Depth];
  logic [LaneW*BlockSize-1:0] fifo_codes [Depth];
  integer                     fifo_row   [Depth];

  initial begin : p_open
    row = 0;
    cycles = 0;
    head = 0;
    tail = 0;
    fill = 0;
    have_row = 1'b0;
    tb_rst_n = 1'b0;
    tb_valid = 1'b0;
    tb_ready = 1'b0;
    tb_x = '0;
    lfsr = 32'hace1_2468;
    if (!$value$plusargs("STALL=%d", stall)) stall = 32;
    stream_open();
  end

  always @(posedge clk_i) begin : p_stream
    cycles = cycles + 1;
    if (stream_en && !done_o) begin
      if (cycles == 2) tb_rst_n <= 1'b1;
      if (tb_rst_n) begin
        // output handshake at this edge: compare with the oldest row in flight
        if (valid_o && tb_ready) begin
          for (int i = 0; i < BlockSize; i++) begin
            got_file[LaneW*i +: LaneW] = LaneW'(codes_o[CodeW*i +: CodeW]);
          end
          if (stream_check(fill == 0 || scale_o !== fifo_scale[head] || got_file !== fifo_codes[head])) begin
            if (fill == 0)
              $fwrite(rep_fd, "MISMATCH %0d x - - %h %h\n", count, scale_o, got_file);
            else
              $fwrite(rep_fd, "MISMATCH %0d %h %h %h %h %h\n", fifo_row[head], fifo_x[head],
                      fifo_scale[head], fifo_codes[head], scale_o, got_file);
          end
          if (fill != 0) begin
            head = (head + 1) % Depth;
            fill = fill - 1;
          end
        end
        // input handshake at this edge: the offered row enters the pipeline
        if (tb_valid && ready_o) begin
          fifo_x[tail] = tb_x;
          fifo_scale[tail] = scale_t;
          fifo_codes[tail] = codes_t;
          fifo_row[tail] = row;
          tail = (tail + 1) % Depth;
          fill = fill + 1;
          have_row = 1'b0;
        end
        if (!have_row && !eof) begin
          rc = $fscanf(vec_fd, "%h %h %h\n", x_t, scale_t, codes_t);
          if (rc == 3) begin
            have_row = 1'b1;
            row = row + 1;
            tb_x <= x_t;
          end else begin
            eof = 1'b1;
          end
        end
        lfsr = {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
        tb_valid <= have_row && (32'(lfsr[7:0]) >= stall);
        lfsr = {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
        tb_ready <= 32'(lfsr[7:0]) >= stall;
      end
      stream_step_end(tb_rst_n && eof && !have_row && fill == 0 && !valid_o);
    end
  end

endmodule

`default_nettype wire
