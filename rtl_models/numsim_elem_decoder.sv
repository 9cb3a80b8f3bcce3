// numsim_elem_decoder: element code -> FP32, exact.
//
// Twin of numsim.decode(codes, fmt) for element formats whose every value is a normal FP32
// number (FP8 E4M3/E5M2 and their fnuz variants, FP6, FP4, INT8, the MXINT8 element).
// Parameters are derived from the numsim descriptor by numsim.rtl.params(fmt); the
// verification testbenches read them back from the DUT.
//
// Float elements (IsInt = 0): ExpBits / ManBits / Bias / Specials as numsim.formats
// (Specials: 0 ieee, 1 fn, 2 fnuz, 3 finite). Integer elements (IsInt = 1): IntBits two's
// complement, value = integer * 2**-FracBits (the most negative code decodes to its two's
// complement value even for symmetric formats, as numsim does).
//
// Every NaN code decodes to the canonical FP32 quiet NaN 0x7fc00000 (numsim's float32 NaN);
// Inf codes decode to +-Inf; zero codes to +-0 (integers: +0).
`default_nettype none
`include "numsim_lead_one.svh"

module numsim_elem_decoder #(
  parameter int IsInt     = 0,  // 1: integer element (IntBits, FracBits)
  parameter int ExpBits   = 4,  // float: exponent field width
  parameter int ManBits   = 3,  // float: stored fraction bits
  parameter int Bias      = 7,  // float: exponent bias
  parameter int Specials  = 1,  // float: numsim.formats.Specials value
  parameter int IntBits   = 8,  // int: code width
  parameter int FracBits  = 0,  // int: value = integer * 2**-FracBits
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits
) (
  input  logic [CodeW-1:0] code_i,
  output logic [31:0]      fp32_o
);

  localparam logic [31:0] FP32_QNAN = 32'h7fc0_0000;

  `NUMSIM_LEAD_ONE(lead_frac, ManBits)  // a subnormal fraction's leading one
  `NUMSIM_LEAD_ONE(lead_int, IntBits)   // an integer magnitude's leading one

  if (IsInt == 0) begin : g_float
    localparam int MAGW = ExpBits + ManBits;
    localparam int EMIN = 1 - Bias;
    localparam logic [ExpBits-1:0] FIELD_ONES = '1;

    logic               sign;
    logic [ExpBits-1:0] field;
    logic [ManBits-1:0] frac;
    logic               is_nan, is_inf;
    logic [4:0]         lead;      // position of the leading one of a subnormal fraction
    logic [ManBits-1:0] sub_frac;  // subnormal fraction below its leading one, left aligned
    logic [7:0]         exp32;
    logic [22:0]        man32;

    assign sign  = code_i[MAGW];
    assign field = code_i[MAGW-1:ManBits];
    assign frac  = code_i[ManBits-1:0];

    assign is_inf = (Specials == 0) && (field == FIELD_ONES) && (frac == '0);
    assign is_nan = (Specials == 0) ? ((field == FIELD_ONES) && (frac != '0)) :
                    (Specials == 1) ? (code_i[MAGW-1:0] == '1) :
                    (Specials == 2) ? (code_i == (CodeW'(1) << MAGW)) : 1'b0;

    assign lead = 5'(lead_frac(frac));
    assign sub_frac = frac << (5'(ManBits) - lead);

    always_comb begin : p_fields
      if (field != '0) begin
        exp32 = 8'(32'(field) - Bias + 127);
        man32 = {frac, (23 - ManBits)'(0)};
      end else if (frac != '0) begin
        exp32 = 8'(EMIN - ManBits + 127 + 32'(lead));
        man32 = {sub_frac, (23 - ManBits)'(0)};
      end else begin
        exp32 = '0;
        man32 = '0;
      end
    end

    always_comb begin : p_out
      if (is_nan) begin
        fp32_o = FP32_QNAN;
      end else if (is_inf) begin
        fp32_o = {sign, 8'hff, 23'd0};
      end else begin
        fp32_o = {sign, exp32, man32};
      end
    end
  end else begin : g_int
    logic               sign;
    logic [IntBits-1:0] mag;       // |integer|; the most negative code gives 2**(IntBits-1)
    logic [4:0]         lead;
    logic [23:0]        aligned;   // mag with its leading one at bit 23
    logic [31:0]        value;

    assign sign = code_i[IntBits-1];
    assign mag  = sign ? -code_i : code_i;

    assign lead = 5'(lead_int(mag));
    assign aligned = 24'(mag) << (5'd23 - lead);
    logic unused_lead_one;  // the hidden bit
    assign unused_lead_one = aligned[23];

    assign value  = {sign, 8'(127 - FracBits + 32'(lead)), aligned[22:0]};
    assign fp32_o = (mag == '0) ? '0 : value;
  end

endmodule

`default_nettype wire
