// numsim_int_mac: P-bit integer multiply-accumulate of signed integer elements (int8 x int8),
// wrapping or saturating, with an overflow flag; registered.
//
// Twin of numsim.datapath.int_acc(P, overflow) = DotUnit(name, int8, 1, None,
// accumulator=Accumulator.integer(P, overflow)): each accepted product a_i * b_i (valid_i) is
// added exactly to the AccBits-bit two's complement register, which wraps (Saturate = 0) or
// clamps to [-2**(P-1), 2**(P-1) - 1] (Saturate = 1). init_i starts a new chain from c_i
// instead of the register (numsim's caller c). One step is
//   numsim.datapath.dot([[a]], [[b]], int_acc(P, overflow), c=acc, return_overflows=True)
// whose overflow count (0 or 1 here) is ovf_o: a per-step flag, registered with the result.
// ovf_sticky_o is the OR of ovf_o since the last init_i (cleared by a step with init_i, which
// sets it again if that step overflows): the twin of "overflow count of the chain > 0".
// Latency 1; reset clears the register and both flags.
`default_nettype none

module numsim_int_mac #(
  parameter int IntBits  = 8,   // element width (signed)
  parameter int AccBits  = 32,  // register width P (>= 2 * IntBits)
  parameter int Saturate = 0    // 0: wrap, 1: saturate
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  input  logic               valid_i,
  input  logic               init_i,
  input  logic [AccBits-1:0] c_i,
  input  logic [IntBits-1:0] a_i,
  input  logic [IntBits-1:0] b_i,
  output logic [AccBits-1:0] acc_o,
  output logic               ovf_o,
  output logic               ovf_sticky_o
);

  localparam int WW = AccBits + 2;  // holds base + product exactly
  localparam logic signed [WW-1:0] MAXV = WW'((64'sd1 <<< (AccBits - 1)) - 64'sd1);
  localparam logic signed [WW-1:0] MINV = -WW'(64'sd1 <<< (AccBits - 1));

  logic [AccBits-1:0]      acc_q, base, res;
  logic signed [WW-1:0]    prod, sum;
  logic                    ovf, ovf_q, sticky_q;

  assign base = init_i ? c_i : acc_q;
  assign prod = WW'($signed(a_i)) * WW'($signed(b_i));
  assign sum  = WW'($signed(base)) + prod;
  assign ovf  = sum > MAXV || sum < MINV;
  assign res  = (Saturate == 0 || !ovf) ? sum[AccBits-1:0] :
                sum[WW-1] ? MINV[AccBits-1:0] : MAXV[AccBits-1:0];

  always_ff @(posedge clk_i or negedge rst_ni) begin : p_acc
    if (!rst_ni) begin
      acc_q    <= '0;
      ovf_q    <= 1'b0;
      sticky_q <= 1'b0;
    end else if (valid_i) begin
      acc_q    <= res;
      ovf_q    <= ovf;
      sticky_q <= (sticky_q && !init_i) || ovf;
    end
  end

  assign acc_o        = acc_q;
  assign ovf_o        = ovf_q;
  assign ovf_sticky_o = sticky_q;

endmodule

`default_nettype wire
