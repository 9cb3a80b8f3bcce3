// Self-checking stream testbench of numsim_mx_dot (combinational).
//
// Stream mode (plusarg +VECTORS=<golden file>): skips the '#' header, then per clock reads one
// row "<a> <a_scale> <b> <b_scale> <c> <d>" (block codes in the file's lane layout: lane i at
// [LaneW*i +: LaneW]), drives the DUT and, on the next clock, compares d_o with the expected d
// (!==: X counts as a mismatch). A row is read with $fgets and its fields are taken from fixed
// character positions (every column has a fixed number of hex digits): Verilator's $fscanf of
// the 154-character rows cost more than the DUT. A row of another length ends the stream (a
// truncated file then fails the count check). Mismatches (the first MaxReport, in the file's layout) and a
// SUMMARY line go to +REPORT=<file>; done_o rises once the file is exhausted.
// Without +VECTORS the DUT's inputs follow py_row_i while py_drive_i is high (Python-driven
// tests): the row's input fields concatenated as in the file, {a, a_scale, b, b_scale, c}.
// Shared with the other testbenches: numsim_tb_stream.svh (file, header, counts, SUMMARY).
`default_nettype none

module mx_dot_tb #(
  parameter int IsInt        = 0,
  parameter int IntBits      = 8,
  parameter int FracBits     = 6,
  parameter int ExpBits      = 4,
  parameter int ManBits      = 3,
  parameter int Bias         = 7,
  parameter int Specials     = 1,
  parameter int BlockSize    = 32,
  parameter int ExactSum     = 1,
  parameter int TermFracBits = 0,
  parameter int MinExp       = -1024,
  parameter int OutManBits   = 23,
  parameter int OutRne       = 1,
  parameter int CodeW        = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits,
  parameter int MaxReport    = 16
) (
  input  logic                                    clk_i,
  input  logic                                    py_drive_i,
  // a row's inputs as one number, the file's fields concatenated: {a, a_scale, b, b_scale, c}
  input  logic [2*4*((CodeW+3)/4)*BlockSize+48-1:0] py_row_i,
  output logic [31:0]                             d_o,
  output logic                             done_o,
  output logic [31:0]                      count_o,
  output logic [31:0]                      errors_o
);

  localparam int LaneW = 4 * ((CodeW + 3) / 4);  // a code's width in the file (whole hex digits)

  logic [LaneW*BlockSize-1:0] a_q, b_q, a_file, b_file;
  logic [CodeW*BlockSize-1:0] a_dut, b_dut;
  logic [7:0]                 a_scale_q, b_scale_q;
  logic [31:0]                c_q, expected_q;
  logic                       valid_q;

  localparam int BlkW = LaneW * BlockSize;
  logic [BlkW-1:0] py_a, py_b;
  logic [7:0]      py_a_scale, py_b_scale;
  logic [31:0]     py_c;
  assign {py_a, py_a_scale, py_b, py_b_scale, py_c} = py_row_i;

  assign a_file = py_drive_i ? py_a : a_q;
  assign b_file = py_drive_i ? py_b : b_q;
  for (genvar i = 0; i < BlockSize; i++) begin : g_unpack
    assign a_dut[CodeW*i +: CodeW] = a_file[LaneW*i +: CodeW];
    assign b_dut[CodeW*i +: CodeW] = b_file[LaneW*i +: CodeW];
  end

  numsim_mx_dot #(
    .IsInt(IsInt), .IntBits(IntBits), .FracBits(FracBits), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials), .BlockSize(BlockSize),
    .ExactSum(ExactSum), .TermFracBits(TermFracBits), .MinExp(MinExp), .OutManBits(OutManBits),
    .OutRne(OutRne)
  ) u_dut (
    .a_codes_i(a_dut),
    .a_scale_i(py_drive_i ? py_a_scale : a_scale_q),
    .b_codes_i(b_dut),
    .b_scale_i(py_drive_i ? py_b_scale : b_scale_q),
    .c_i      (py_drive_i ? py_c : c_q),
    .d_o      (d_o)
  );

  `include "numsim_tb_stream.svh"
  logic [LaneW*BlockSize-1:0] a_t, b_t;
  logic [7:0]                 a_scale_t, b_scale_t;
  logic [31:0]                c_t, d_t;

  // A row as $fgets stores it: the last character (the newline) in the lowest byte. Character
  // positions counted from there: d 1..8, c 10..17, b_scale 19..20, b 22.., a_scale, a.
  localparam int BlkDigits = BlkW / 4;
  localparam int RowChars  = 2 * BlkDigits + 2 * 2 + 2 * 8 + 6;
  localparam int PosD = 1, PosC = 10, PosBs = 19, PosB = 22;
  localparam int PosAs = PosB + BlkDigits + 1, PosA = PosAs + 3;
  logic [8*RowChars-1:0] row_t;

  function automatic logic [3:0] nibble(input logic [7:0] c);  // a hex digit: 0-9 0x3_, a-f 0x6_
    nibble = c[6] ? c[3:0] + 4'd9 : c[3:0];
  endfunction

  initial begin : p_open
    valid_q = 1'b0;
    a_q = '0;
    b_q = '0;
    a_scale_q = '0;
    b_scale_q = '0;
    c_q = '0;
    stream_open();
  end

  always @(posedge clk_i) begin : p_stream
    if (stream_en && !done_o) begin
      // check the row applied on the previous clock
      if (valid_q) begin
        if (stream_check(d_o !== expected_q)) begin
          $fwrite(rep_fd, "MISMATCH %0d %h %h %h %h %h %h %h\n", count, a_q, a_scale_q, b_q, b_scale_q,
                  c_q, expected_q, d_o);
        end
      end
      // apply the next row
      row_t = '0;
      rc = eof ? 0 : $fgets(row_t, vec_fd);
      if (rc == RowChars) begin
        for (int k = 0; k < BlkDigits; k++) begin
          a_t[4*k +: 4] = nibble(row_t[8*(PosA + k) +: 8]);
          b_t[4*k +: 4] = nibble(row_t[8*(PosB + k) +: 8]);
        end
        for (int k = 0; k < 8; k++) begin
          c_t[4*k +: 4] = nibble(row_t[8*(PosC + k) +: 8]);
          d_t[4*k +: 4] = nibble(row_t[8*(PosD + k) +: 8]);
        end
        for (int k = 0; k < 2; k++) begin
          a_scale_t[4*k +: 4] = nibble(row_t[8*(PosAs + k) +: 8]);
          b_scale_t[4*k +: 4] = nibble(row_t[8*(PosBs + k) +: 8]);
        end
        a_q <= a_t;
        a_scale_q <= a_scale_t;
        b_q <= b_t;
        b_scale_q <= b_scale_t;
        c_q <= c_t;
        expected_q <= d_t;
        valid_q <= 1'b1;
      end else begin
        valid_q <= 1'b0;
        eof = 1'b1;
      end
      stream_step_end(eof && !valid_q);
    end
  end

endmodule

`default_nettype wire
