// numsim_fp_add_exact: the sum of two signed fixed-point values, exact up to a sticky bit,
// ready for one rounding by numsim_fp32_round. Combinational.
//
// Operands: (-1)**a_sign_i * a_mag_i * 2**a_exp_i and the same for b (unsigned magnitudes of
// AW and BW bits, signed LSB exponents). The operand whose leading one is higher (the anchor;
// a when both tops are equal or b is zero) is placed with its leading one at bit SumW-2 of the
// window; the other is shifted onto the window and bits that fall below bit 1 are ORed into
// bit 0 (sticky). The magnitudes are added or subtracted there; sum_exp_o is the exponent of
// bit 0, sum_sign_o the sign of the larger magnitude (+ for an exact zero).
//
// Why the sticky bit is enough: a bit is lost only when the tops differ by d >= 2 (the window
// holds P + 3 >= both widths), so the result's leading one is at bit SumW-3 or higher and any
// rounding to <= 24 significand bits rounds at bit SumW-26 >= 2 or higher (SumW >= 28).
// Replacing the lost tail (strictly between 0 and one unit of bit 1) by one unit of bit 0
// (half a unit of bit 1) keeps the value strictly inside the same interval between multiples of 2 units, so
// neither truncation nor nearest-even (whose ties lie on multiples of 2) can tell the
// difference. Used for the exact dot unit's c addition and the FP32 accumulator.
`default_nettype none
`include "numsim_lead_one.svh"

module numsim_fp_add_exact #(
  parameter int AW   = 24,
  parameter int BW   = 24,
  parameter int ExpW = 12,
  parameter int SumW = (AW > BW ? AW : BW) + 28  // window width (>= max(AW, BW) + 3 and >= 28)
) (
  input  logic                   a_sign_i,
  input  logic [AW-1:0]          a_mag_i,
  input  logic signed [ExpW-1:0] a_exp_i,
  input  logic                   b_sign_i,
  input  logic [BW-1:0]          b_mag_i,
  input  logic signed [ExpW-1:0] b_exp_i,
  output logic                   sum_sign_o,
  output logic [SumW-1:0]        sum_mag_o,
  output logic signed [ExpW-1:0] sum_exp_o
);

  `NUMSIM_LEAD_ONE(lead_a, AW)
  `NUMSIM_LEAD_ONE(lead_b, BW)

  // v * 2**sh in units of bit 1, on the window (bit 0 is the sticky bit: any bits lost below
  // bit 1 by a right shift, sh < 0)
  localparam int ShW = $clog2(SumW + 1) + 1;  // shift amounts (narrow: smaller shifters)

  function automatic logic [SumW-1:0] place(input logic [SumW-1:0] v, input int sh);
    logic [SumW-1:0] r;
    if (sh >= 0) begin
      r = (v << ShW'(sh)) << 1;
    end else if (-sh >= SumW) begin
      r = {{(SumW-1){1'b0}}, v != '0};
    end else begin
      r = (v >> ShW'(-sh)) << 1;
      r[0] = (v & ((SumW'(1) << ShW'(-sh)) - SumW'(1))) != '0;
    end
    place = r;
  endfunction

  always_comb begin : p_add
    int              ta, tb, e0;
    logic            a_zero, b_zero, a_anchor, s_big, s_small;
    logic [SumW-1:0] pa, pb, larger, lesser, mag;
    a_zero = a_mag_i == '0;
    b_zero = b_mag_i == '0;
    ta = 32'(a_exp_i) + lead_a(a_mag_i);
    tb = 32'(b_exp_i) + lead_b(b_mag_i);
    a_anchor = b_zero || (!a_zero && ta >= tb);
    e0 = (a_anchor ? ta : tb) - (SumW - 2);
    pa = a_zero ? '0 : place(SumW'(a_mag_i), 32'(a_exp_i) - e0 - 1);
    pb = b_zero ? '0 : place(SumW'(b_mag_i), 32'(b_exp_i) - e0 - 1);
    if (pa >= pb) begin
      larger = pa;
      lesser = pb;
      s_big = a_sign_i;
      s_small = b_sign_i;
    end else begin
      larger = pb;
      lesser = pa;
      s_big = b_sign_i;
      s_small = a_sign_i;
    end
    mag = (s_big == s_small) ? larger + lesser : larger - lesser;
    sum_mag_o = mag;
    sum_sign_o = (mag == '0) ? 1'b0 : s_big;
    sum_exp_o = ExpW'(e0);
  end

endmodule

`default_nettype wire
