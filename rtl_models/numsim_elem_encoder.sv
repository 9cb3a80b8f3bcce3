// numsim_elem_encoder: FP32 -> element code, round to nearest even, saturating or not.
//
// Twin of numsim.encode(x, fmt, rounding="nearest_even", overflow=..., nan="zero") on float32
// input. Parameters are never typed by hand: numsim.rtl.params(fmt, overflow=...) derives them from
// the numsim format descriptor, and the verification testbenches read them back from the DUT.
//
// Float elements (IsInt = 0): sign, ExpBits exponent field (bias Bias), ManBits fraction bits,
// subnormals; Specials as numsim.formats.Specials (0 ieee, 1 fn, 2 fnuz, 3 finite).
// Integer elements (IsInt = 1): IntBits two's complement, value = integer * 2**-FracBits,
// Symmetric = 1 leaves the most negative code unused (MXINT8).
//
// Semantics (numsim; OCP OFP8 v1.0 conversion table, IEEE 754-2019 §7.4): the value is rounded once, on the exact
// FP32 input, with an unbounded exponent; overflow is decided after rounding. Overflow = 0
// (saturate) clamps to +-max, Inf inputs included; Overflow = 1 (nonsaturate) gives +-Inf
// (ieee), NaN (fn, fnuz), or +-max for formats with neither. A NaN input gives the format's NaN
// with the input's sign (fnuz: its only NaN); formats without NaN take the NaN's sign and zero
// (NanPolicy.zero); integers give 0. fnuz has no negative zero.
`default_nettype none

module numsim_elem_encoder #(
  parameter int IsInt     = 0,  // 1: integer element (IntBits, FracBits, Symmetric)
  parameter int ExpBits   = 4,  // float: exponent field width
  parameter int ManBits   = 3,  // float: stored fraction bits
  parameter int Bias      = 7,  // float: exponent bias
  parameter int Specials  = 1,  // float: numsim.formats.Specials value
  parameter int IntBits   = 8,  // int: code width
  parameter int FracBits  = 0,  // int: value = integer * 2**-FracBits
  parameter int Symmetric = 0,  // int: most negative code unused
  parameter int Overflow  = 0,  // numsim.policies.Overflow: 0 saturate, 1 nonsaturate
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits
) (
  input  logic [31:0]      fp32_i,
  output logic [CodeW-1:0] code_o
);

  logic        sign;
  logic [7:0]  exp_field;
  logic [22:0] frac;
  logic        in_nan, in_inf;
  logic [23:0] sig24;
  logic signed [10:0] exp_unb;  // exponent of sig24's bit 23; FP32 subnormals read as -126

  assign sign      = fp32_i[31];
  assign exp_field = fp32_i[30:23];
  assign frac      = fp32_i[22:0];
  assign in_nan    = (exp_field == 8'hff) && (frac != 23'd0);
  assign in_inf    = (exp_field == 8'hff) && (frac == 23'd0);
  assign sig24     = {exp_field != 8'd0, frac};
  assign exp_unb   = (exp_field == 8'd0) ? -11'sd126 : $signed({3'b000, exp_field}) - 11'sd127;

  numsim_elem_round #(
    .IsInt(IsInt), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials),
    .IntBits(IntBits), .FracBits(FracBits), .Symmetric(Symmetric), .Overflow(Overflow)
  ) u_round (
    .sign_i(sign),
    .nan_i (in_nan),
    .inf_i (in_inf),
    .exp_i (exp_unb),
    .sig_i (sig24),
    .code_o(code_o)
  );

endmodule

`default_nettype wire
