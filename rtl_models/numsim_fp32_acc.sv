// numsim_fp32_acc: FP32 accumulator of chained dot results, acc = round(acc + d), one
// rounding per addition (toward zero or nearest even), registered.
//
// Twin of numsim's Accumulator.floating("fp32", rounding): each accepted d_i (valid_i) is
// added exactly to the accumulator and the sum rounded once to FP32 (numsim_fp_add_exact +
// numsim_fp32_round). init_i starts a new chain: the addition then uses c_i instead of the
// register (numsim's caller c). In numsim terms, one step is
//   acc_o' = numsim.datapath.dot([[d]], [[1]], DotUnit(name, "fp32", 1, None,
//            out_rounding=r, accumulator=Accumulator.floating("fp32", r)), c=acc_o)
// and a chain d_1..d_K from c is dot(d, ones, unit, c). NaN in gives the quiet NaN 0x7fc00000,
// +Inf + -Inf gives NaN, an Inf gives that Inf; an overflow gives +-Inf (both modes); an exact
// zero sum is +0. Latency 1: acc_o is the register, updated at the clock edge after valid_i.
`default_nettype none

module numsim_fp32_acc #(
  parameter int OutRne = 1  // 1: nearest even, 0: toward zero
) (
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic        valid_i,
  input  logic        init_i,  // this addition starts from c_i, not from the register
  input  logic [31:0] c_i,
  input  logic [31:0] d_i,
  output logic [31:0] acc_o
);

  localparam int EXPW = 12;
  localparam int SUMW = 24 + 28;
  localparam logic [31:0] FP32_QNAN = 32'h7fc0_0000;

  logic [31:0] acc_q, base, sum, sum_finite;
  logic        base_nan, base_inf, d_nan, d_inf, add_sign;
  logic [SUMW-1:0] add_mag;
  logic signed [EXPW-1:0] add_exp;

  assign base     = init_i ? c_i : acc_q;
  assign base_nan = base[30:23] == 8'hff && base[22:0] != '0;
  assign base_inf = base[30:23] == 8'hff && base[22:0] == '0;
  assign d_nan    = d_i[30:23] == 8'hff && d_i[22:0] != '0;
  assign d_inf    = d_i[30:23] == 8'hff && d_i[22:0] == '0;

  numsim_fp_add_exact #(.AW(24), .BW(24), .ExpW(EXPW), .SumW(SUMW)) u_add (
    .a_sign_i  (base[31]),
    .a_mag_i   ({base[30:23] != 8'h00, base[22:0]}),
    .a_exp_i   (EXPW'((base[30:23] == 8'h00 ? 1 : 32'(base[30:23])) - 150)),
    .b_sign_i  (d_i[31]),
    .b_mag_i   ({d_i[30:23] != 8'h00, d_i[22:0]}),
    .b_exp_i   (EXPW'((d_i[30:23] == 8'h00 ? 1 : 32'(d_i[30:23])) - 150)),
    .sum_sign_o(add_sign),
    .sum_mag_o (add_mag),
    .sum_exp_o (add_exp)
  );

  numsim_fp32_round #(.MagW(SUMW), .ExpW(EXPW), .OutManBits(23), .OutRne(OutRne)) u_round (
    .sign_i(add_sign),
    .mag_i (add_mag),
    .exp_i (add_exp),
    .fp32_o(sum_finite)
  );

  assign sum = (base_nan || d_nan || (base_inf && d_inf && base[31] != d_i[31])) ? FP32_QNAN :
               base_inf ? base :
               d_inf ? d_i : sum_finite;

  always_ff @(posedge clk_i or negedge rst_ni) begin : p_acc
    if (!rst_ni) begin
      acc_q <= '0;
    end else if (valid_i) begin
      acc_q <= sum;
    end
  end

  assign acc_o = acc_q;

endmodule

`default_nettype wire
