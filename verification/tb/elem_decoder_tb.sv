// Self-checking stream testbench of numsim_elem_decoder.
//
// Stream mode (plusarg +VECTORS=<golden file>): skips the '#' header, then per clock reads Lanes
// rows "<code> <fp32>" (one per DUT copy, in file order), drives the DUT copies and, on the next
// clock, compares each DUT's FP32 with the expected one. Mismatches (the first MaxReport) and a
// final SUMMARY line go to +REPORT=<file>; done_o rises once the file is exhausted.
// Without +VECTORS, the input of DUT copy 0 (g_lane[0].u_dut) follows py_code_i while
// py_drive_i is high (Python-driven tests).
// Shared: numsim_tb_stream.svh (file, header, counts, SUMMARY), numsim_tb_lanes.svh (the lane loop).
`default_nettype none

module elem_decoder_tb #(
  parameter int IsInt     = 0,
  parameter int ExpBits   = 4,
  parameter int ManBits   = 3,
  parameter int Bias      = 7,
  parameter int Specials  = 1,
  parameter int IntBits   = 8,
  parameter int FracBits  = 0,
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits,
  parameter int Lanes     = 8,   // DUT copies: vectors checked per clock
  parameter int MaxReport = 16
) (
  input  logic             clk_i,
  input  logic             py_drive_i,
  input  logic [CodeW-1:0] py_code_i,
  output logic [31:0]      fp32_o,
  output logic             done_o,
  output logic [31:0]      count_o,
  output logic [31:0]      errors_o
);

  localparam int InW = CodeW, OutW = 32;  // a row: "<code> <fp32>"
  `include "numsim_tb_stream.svh"
  `include "numsim_tb_lanes.svh"

  for (genvar l = 0; l < Lanes; l++) begin : g_lane
    numsim_elem_decoder #(
      .IsInt(IsInt), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials),
      .IntBits(IntBits), .FracBits(FracBits)
    ) u_dut (
      .code_i((l == 0 && py_drive_i) ? py_code_i : in_q[l]),
      .fp32_o(out_lane[l])
    );
  end
  assign fp32_o = out_lane[0];

endmodule

`default_nettype wire
