// numsim_elem_round: the rounding choke point of the element encoders (nearest even).
//
// Rounds sig_i * 2**(exp_i - 23) to the element format: the one place where a kept significand,
// a round bit and a sticky bit are formed. Precondition: sig_i[23] is set, or sig_i is zero, or
// the value lies below the element's normal range (an FP32 subnormal read as exp_i = -126).
// numsim_elem_encoder feeds it FP32 values; numsim_mx_encoder feeds it FP32 elements divided by
// the block scale (exp_i - s). Parameters and semantics: numsim_elem_encoder.sv.
`default_nettype none

module numsim_elem_round #(
  parameter int IsInt     = 0,
  parameter int ExpBits   = 4,
  parameter int ManBits   = 3,
  parameter int Bias      = 7,
  parameter int Specials  = 1,
  parameter int IntBits   = 8,
  parameter int FracBits  = 0,
  parameter int Symmetric = 0,
  parameter int Overflow  = 0,
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits
) (
  input  logic               sign_i,
  input  logic               nan_i,   // the value is a NaN (sign_i is its sign)
  input  logic               inf_i,   // the value is an infinity
  input  logic signed [10:0] exp_i,   // exponent of sig_i[23]
  input  logic [23:0]        sig_i,
  output logic [CodeW-1:0]   code_o
);

  // The rounding datapath shared by both element kinds. `drop` low bits of sig_i lie below the
  // target LSB; drop >= MIN_DROP whenever the result can be finite (smaller drops overflow), so
  // only sig_i[23:MIN_DROP-1] (KW kept bits and the round bit) pass through a short shifter of
  // `shamt` = drop - MIN_DROP positions; the bits below only feed the sticky bit.
  localparam int MIN_DROP = (IsInt != 0) ? 24 - IntBits : 23 - ManBits;
  localparam int KW = 24 - MIN_DROP;      // kept bits at the smallest drop
  localparam int SW = $clog2(KW + 2);     // shift-amount width (shamt <= KW + 1)

  // Shift right with a sticky bit (the only place a sticky bit is built).
  logic [SW-1:0]     shamt;       // set by the element branch, <= KW + 1
  logic [2*KW+1:0]   shifted;     // {kept, round bit, KW+1 bits below}
  logic [KW-1:0]     kept;
  logic              round_bit, sticky, round_up;

  assign shifted   = {sig_i[23:MIN_DROP-1], (KW + 1)'(0)} >> shamt;
  assign kept      = shifted[2*KW+1:KW+2];
  assign round_bit = shifted[KW+1];
  assign sticky    = (|shifted[KW:0]) | (|sig_i[MIN_DROP-2:0]);
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
    localparam int MW = ManBits + 13;  // holds (max(exp_i, EMIN) + Bias - 1) << ManBits + significand

    logic signed [11:0] below;     // EMIN - exp_i: binades below the normal range
    logic signed [11:0] exp_eff;   // max(exp_i, EMIN)
    logic [MW-1:0]      mag;       // rounded magnitude code (unbounded exponent)
    logic               ovf;
    logic [CodeW-1:0]   mag_code, ovf_code, sat_code, nan_code;

    assign below   = 12'(EMIN) - 12'(exp_i);
    assign exp_eff = (below > 12'sd0) ? 12'(EMIN) : 12'(exp_i);
    assign shamt   = (below <= 12'sd0) ? '0 :
                     (below >= 12'(KW + 1)) ? SW'(KW + 1) : SW'(below);
    // The field of exp_eff minus one, plus the kept significand: its leading one (if any)
    // carries into the field, so a subnormal that rounds up becomes the smallest normal.
    assign mag     = (MW'(exp_eff + 12'(Bias - 1)) << ManBits) + MW'(kept) + MW'(round_up);
    assign ovf     = mag > MW'(MAX_MAG);

    assign mag_code = {sign_i, mag[MAGW-1:0]};
    assign sat_code = {sign_i, MAGW'(MAX_MAG)};
    assign nan_code = (Specials == 2) ? SIGN_BIT : {sign_i, MAGW'(NAN_MAG)};
    assign ovf_code = (Overflow == 0 || Specials == 3) ? sat_code :
                      (Specials == 0) ? {sign_i, MAGW'(INF_MAG)} : nan_code;

    always_comb begin : p_pack
      if (nan_i) begin
        code_o = (Specials == 3) ? {sign_i, MAGW'(0)} : nan_code;
      end else if (inf_i || ovf) begin
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

    assign excess = 12'(IntBits - 1 - FracBits) - 12'(exp_i);
    assign shamt  = (excess <= 12'sd0) ? '0 :
                    (excess >= 12'(KW + 1)) ? SW'(KW + 1) : SW'(excess);
    assign mag    = (KW + 1)'(kept) + (KW + 1)'(round_up);
    // excess < 0 with a normal input: |integer| >= 2**IntBits
    assign ovf    = (excess < 12'sd0) || (mag > (KW + 1)'(sign_i ? MAX_NEG : MAX_POS));
    assign max_code = CodeW'(MAX_POS);
    assign min_code = CodeW'(-MAX_NEG);

    always_comb begin : p_pack
      if (nan_i) begin
        code_o = '0;
      end else if (inf_i || ovf) begin
        code_o = sign_i ? min_code : max_code;
      end else begin
        code_o = sign_i ? CodeW'(-mag) : CodeW'(mag);
      end
    end
  end

endmodule

`default_nettype wire
