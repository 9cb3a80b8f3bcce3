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
// Semantics (numsim, shared/references/formats.md §2): the value is rounded once, on the exact
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

  // The rounding datapath shared by both element kinds. `drop` low bits of sig24 lie below the
  // target LSB; drop >= MIN_DROP whenever the result can be finite (smaller drops overflow), so
  // only sig24[23:MIN_DROP-1] (KW kept bits and the round bit) pass through a short shifter of
  // `shamt` = drop - MIN_DROP positions; the bits below only feed the sticky bit.
  localparam int MIN_DROP = (IsInt != 0) ? 24 - IntBits : 23 - ManBits;
  localparam int KW = 24 - MIN_DROP;      // kept bits at the smallest drop
  localparam int SW = $clog2(KW + 2);     // shift-amount width (shamt <= KW + 1)

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

  // Shift right with a sticky bit (the only place a sticky bit is built).
  logic [SW-1:0]     shamt;       // set by the element branch, <= KW + 1
  logic [2*KW+1:0]   shifted;     // {kept, round bit, KW+1 bits below}
  logic [KW-1:0]     kept;
  logic              round_bit, sticky, round_up;

  assign shifted   = {sig24[23:MIN_DROP-1], (KW + 1)'(0)} >> shamt;
  assign kept      = shifted[2*KW+1:KW+2];
  assign round_bit = shifted[KW+1];
  assign sticky    = (|shifted[KW:0]) | (|sig24[MIN_DROP-2:0]);
  assign round_up  = round_bit & (sticky | kept[0]);  // nearest, ties to even

  if (IsInt == 0) begin : g_float
    localparam int MAGW = ExpBits + ManBits;
    localparam int EMIN = 1 - Bias;
    localparam int ALLONES = (1 << MAGW) - 1;
    localparam int MAX_MAG = (Specials == 0) ? ALLONES - (1 << ManBits) :
                             (Specials == 1) ? ALLONES - 1 : ALLONES;
    localparam int INF_MAG = ((1 << ExpBits) - 1) << ManBits;
    localparam int NAN_MAG = (Specials == 0) ? INF_MAG | (1 << (ManBits - 1)) : ALLONES;
    localparam logic [CodeW-1:0] SIGN_BIT = CodeW'(1) << MAGW;
    localparam int MW = ManBits + 10;  // holds (exponent field <= 253) << ManBits + significand

    logic signed [10:0] below;     // EMIN - exp_unb: binades below the normal range
    logic signed [10:0] exp_eff;   // max(exp_unb, EMIN)
    logic [MW-1:0]      mag;       // rounded magnitude code (unbounded exponent)
    logic               ovf;
    logic [CodeW-1:0]   mag_code, ovf_code, sat_code, nan_code;

    assign below   = 11'(EMIN) - exp_unb;
    assign exp_eff = (below > 11'sd0) ? 11'(EMIN) : exp_unb;
    assign shamt   = (below <= 11'sd0) ? '0 :
                     (below >= 11'(KW + 1)) ? SW'(KW + 1) : SW'(below);
    // The field of exp_eff minus one, plus the kept significand: its leading one (if any)
    // carries into the field, so a subnormal that rounds up becomes the smallest normal.
    assign mag     = (MW'(exp_eff + 11'(Bias - 1)) << ManBits) + MW'(kept) + MW'(round_up);
    assign ovf     = mag > MW'(MAX_MAG);

    assign mag_code = {sign, mag[MAGW-1:0]};
    assign sat_code = {sign, MAGW'(MAX_MAG)};
    assign nan_code = (Specials == 2) ? SIGN_BIT : {sign, MAGW'(NAN_MAG)};
    assign ovf_code = (Overflow == 0 || Specials == 3) ? sat_code :
                      (Specials == 0) ? {sign, MAGW'(INF_MAG)} : nan_code;

    always_comb begin : p_pack
      if (in_nan) begin
        code_o = (Specials == 3) ? {sign, MAGW'(0)} : nan_code;
      end else if (in_inf || ovf) begin
        code_o = ovf_code;
      end else if (mag == '0 && Specials == 2) begin
        code_o = '0;  // fnuz: no negative zero
      end else begin
        code_o = mag_code;
      end
    end
  end else begin : g_int
    localparam int MAX_POS = (1 << (IntBits - 1)) - 1;
    localparam int MAX_NEG = (1 << (IntBits - 1)) - ((Symmetric != 0) ? 1 : 0);

    logic signed [11:0] excess;    // drop - MIN_DROP
    logic [KW:0]        mag;
    logic               ovf;
    logic [CodeW-1:0]   max_code, min_code;

    assign excess = 12'(IntBits - 1 - FracBits) - 12'(exp_unb);
    assign shamt  = (excess <= 12'sd0) ? '0 :
                    (excess >= 12'(KW + 1)) ? SW'(KW + 1) : SW'(excess);
    assign mag    = (KW + 1)'(kept) + (KW + 1)'(round_up);
    // excess < 0 with a normal input: |integer| >= 2**IntBits
    assign ovf    = (excess < 12'sd0) || (mag > (KW + 1)'(sign ? MAX_NEG : MAX_POS));
    assign max_code = CodeW'(MAX_POS);
    assign min_code = CodeW'(-MAX_NEG);

    always_comb begin : p_pack
      if (in_nan) begin
        code_o = '0;
      end else if (in_inf || ovf) begin
        code_o = sign ? min_code : max_code;
      end else begin
        code_o = sign ? CodeW'(-mag) : CodeW'(mag);
      end
    end
  end

endmodule

`default_nettype wire
