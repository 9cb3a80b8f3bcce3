// numsim_fp32_round: one rounding of a signed fixed-point value to FP32, combinational.
//
// The value is (-1)**sign_i * mag_i * 2**exp_i (mag_i an unsigned integer of MagW bits, exp_i
// the signed exponent of its least significant bit). It is rounded once to a float with the
// FP32 exponent range (emin -126, emax 127, subnormals kept) and OutManBits stored fraction bits
// (23: FP32; 13: numsim's fp32_m13, the 14-bit FP8 tensor-core result), toward zero (OutRne = 0)
// or to nearest even (OutRne = 1), and returned as FP32 bits (fraction bits below OutManBits
// zero). A result whose exponent exceeds 127 before or after rounding is +-Inf under both modes;
// a zero magnitude gives +0 (numsim: an exact zero sum is +0).
//
// The shared back end of numsim_mx_dot and numsim_fp32_acc: the twin of step 7 of
// numsim.datapath.DotUnit (and of the rounding of Accumulator.floating("fp32", ...)).
// Callers that fold a sticky bit into mag_i[0] (numsim_fp_add_exact) must leave at least two
// bits below the rounding position; see that module.
`default_nettype none
`include "numsim_lead_one.svh"

module numsim_fp32_round #(
  parameter int MagW       = 64,  // magnitude width
  parameter int ExpW       = 12,  // width of the signed LSB exponent
  parameter int OutManBits = 23,  // stored fraction bits of the result format (<= 23)
  parameter int OutRne     = 1    // 1: nearest even, 0: toward zero
) (
  input  logic                   sign_i,
  input  logic [MagW-1:0]        mag_i,
  input  logic signed [ExpW-1:0] exp_i,
  output logic [31:0]            fp32_o
);

  localparam int EMIN = -126;
  localparam int SigW = OutManBits + 2;  // kept significand plus a carry bit
  localparam int ShW  = $clog2(MagW + 1) + 1;  // shift amounts (narrow: smaller shifters)

  // position of the leading one (0 for a zero magnitude)
  `NUMSIM_LEAD_ONE(lead_one, MagW)

  // the whole rounding as a function: Icarus does not support constant bit selects inside
  // always_* processes (and would re-evaluate on every intermediate write)
  function automatic logic [31:0] round_fp32(input logic sgn, input logic [MagW-1:0] mag,
                                             input logic signed [ExpW-1:0] lsb_exp);
    int              lead, top, lsb, sh, ebias;
    logic [MagW-1:0] shifted, rest, half;
    logic [SigW-1:0] kept, sig;
    logic            rbit, sticky, inc, unused_high;
    logic [31:0]     res;
    lead = lead_one(mag);
    top = 32'(lsb_exp) + lead;                    // exponent of the leading one
    lsb = (top > EMIN ? top : EMIN) - OutManBits;  // exponent of the result's last kept bit
    sh = lsb - 32'(lsb_exp);                      // right shift onto that grid
    rbit = 1'b0;
    sticky = 1'b0;
    half = '0;
    rest = '0;
    if (sh <= 0) begin
      shifted = mag << ShW'(-sh);                  // exact: lead - sh <= OutManBits
    end else if (sh > MagW) begin
      shifted = '0;
      sticky = mag != '0;
    end else begin
      shifted = mag >> ShW'(sh);
      half = MagW'(1) << ShW'(sh - 1);
      rest = mag & ((half << 1) - MagW'(1));
      rbit = (rest & half) != '0;
      sticky = (rest & (half - MagW'(1))) != '0;
    end
    kept = SigW'(shifted);                         // < 2**(OutManBits + 1): the rest is zero
    unused_high = ^shifted[MagW-1:SigW];
    inc = (OutRne != 0) && rbit && (sticky || kept[0]);
    sig = kept + SigW'(inc);
    if (sig[SigW-1]) begin                         // carried into the next binade
      sig = sig >> 1;
      lsb = lsb + 1;
    end
    ebias = sig[OutManBits] ? lsb + OutManBits + 127 : 0;  // 0: subnormal
    if (mag == '0) begin
      res = 32'h0000_0000;
    end else if (top > 127 || ebias > 254) begin
      res = {sgn, 8'hff, 23'h0};
    end else begin
      res = {sgn, 8'(ebias), 23'(sig[OutManBits-1:0]) << (23 - OutManBits)};
    end
    round_fp32 = res;
  endfunction

  assign fp32_o = round_fp32(sign_i, mag_i, exp_i);

endmodule

`default_nettype wire
