// numsim_mx_encoder: BlockSize FP32 values -> one E8M0 scale and BlockSize element codes (OCP MX).
//
// Twin of numsim.encode(x, "<mx format>", axis=-1) with the OCP profile: floor scale rule,
// elements rounded to nearest even from the exact x / 2**s, saturating. Parameters come from
// numsim.rtl.params("mx_encoder", fmt): the element parameters of numsim_elem_encoder.sv plus
// BlockSize; EmaxElem (the element's emax_elem) is derived here and read back by the testbench.
//
// Scale (OCP MX v1.0 §6.3; arXiv 2310.10537 Algorithm 1): s = floor(log2(amax)) - EmaxElem,
// taken from the bits of the largest magnitude (FP32 subnormals included), clamped to E8M0's
// [-127, 127]; an all-zero block takes s = -127 (code 0x00). A NaN or Inf anywhere in the block
// gives the NaN scale 0xFF and all-zero element codes (numsim decodes the whole block to NaN).
//
// Pipeline (latency 3, one block per clock, valid/ready with per-stage enables, so a bubble in
// the pipeline is filled while the output stalls):
//   stage 1: amax tree over the magnitudes, NaN/Inf detection  -> amax_q, special_q
//   stage 2: floor(log2(amax)) and the clamped scale           -> shift_q, scale_q
//   stage 3: per element: normalize, subtract s, round         -> codes_o, scale_o
// Element i is x_i[32*i +: 32] and codes_o[CodeW*i +: CodeW].
`default_nettype none
`include "numsim_lead_one.svh"

module numsim_mx_encoder #(
  parameter int IsInt     = 0,   // element parameters: see numsim_elem_encoder.sv
  parameter int ExpBits   = 4,
  parameter int ManBits   = 3,
  parameter int Bias      = 7,
  parameter int Specials  = 1,
  parameter int IntBits   = 8,
  parameter int FracBits  = 0,
  parameter int Symmetric = 0,
  parameter int BlockSize = 32,  // elements per scale
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits,
  // exponent of the element's largest power of two (numsim's FloatFormat/IntFormat.emax)
  parameter int EmaxElem  = (IsInt != 0) ? IntBits - 2 - FracBits :
                            ((Specials == 0) ? (1 << ExpBits) - 2 : (1 << ExpBits) - 1) - Bias
) (
  input  logic                       clk_i,
  input  logic                       rst_ni,
  input  logic                       valid_i,
  output logic                       ready_o,
  input  logic [32*BlockSize-1:0]    x_i,
  output logic                       valid_o,
  input  logic                       ready_i,
  output logic [7:0]                 scale_o,
  output logic [CodeW*BlockSize-1:0] codes_o
);

  localparam int NODES = 2 * BlockSize - 1;  // amax tree: leaves at BlockSize-1 .. NODES-1

  // Position of the leading one of a 23-bit fraction (0 for zero).
  `NUMSIM_LEAD_ONE(lead_one23, 23)

  // ------------------------------------------------------------------------------------------
  // Handshake: stage k loads when it is empty or stage k+1 loads (or the output is taken).
  logic [2:0] valid_q;
  logic       en1, en2, en3;

  assign en3     = !valid_q[2] || ready_i;
  assign en2     = !valid_q[1] || en3;
  assign en1     = !valid_q[0] || en2;
  assign ready_o = en1;
  assign valid_o = valid_q[2];

  always_ff @(posedge clk_i or negedge rst_ni) begin : p_valid
    if (!rst_ni) begin
      valid_q <= '0;
    end else begin
      if (en1) valid_q[0] <= valid_i;
      if (en2) valid_q[1] <= valid_q[0];
      if (en3) valid_q[2] <= valid_q[1];
    end
  end

  // ------------------------------------------------------------------------------------------
  // Stage 1: amax tree (FP32 magnitudes compare as integers), NaN/Inf detection. The tree is
  // built in one process (a heap: node n has children 2n+1 and 2n+2, leaves at BlockSize-1..):
  // the same comparator tree after unrolling, one evaluation per input change in simulation.
  logic [30:0]          amax_d;
  logic [BlockSize-1:0] special;

  always_comb begin : p_amax
    logic [31*NODES-1:0] tree;  // node n at [31*n +: 31]
    logic [30:0]         left, right;
    tree = '0;
    for (int i = 0; i < BlockSize; i++) begin
      tree[31*(BlockSize-1+i) +: 31] = x_i[32*i +: 31];
    end
    for (int n = BlockSize - 2; n >= 0; n--) begin
      left  = tree[31*(2*n+1) +: 31];
      right = tree[31*(2*n+2) +: 31];
      tree[31*n +: 31] = (left > right) ? left : right;
    end
    amax_d = 31'(tree);  // node 0
  end

  for (genvar i = 0; i < BlockSize; i++) begin : g_special
    assign special[i] = &x_i[32*i+23 +: 8];
  end

  logic [32*BlockSize-1:0] x1_q;
  logic [30:0]             amax_q;
  logic                    special1_q;

  always_ff @(posedge clk_i) begin : p_stage1
    if (en1) begin
      x1_q       <= x_i;
      amax_q     <= amax_d;
      special1_q <= |special;
    end
  end

  // ------------------------------------------------------------------------------------------
  // Stage 2: s = floor(log2(amax)) - EmaxElem from the bits, clamped to [-127, 127].
  logic [4:0]         amax_lead;     // leading one of a subnormal amax's fraction
  logic signed [9:0]  amax_exp;      // floor(log2(amax))
  logic signed [10:0] shift_raw;
  logic signed [7:0]  shift_d;       // s
  logic [7:0]         scale_d;

  assign amax_lead = 5'(lead_one23(amax_q[22:0]));

  assign amax_exp  = (amax_q[30:23] != 8'd0) ? $signed({2'b00, amax_q[30:23]}) - 10'sd127
                                             : $signed({5'd0, amax_lead}) - 10'sd149;
  assign shift_raw = (amax_q == '0) ? -11'sd127 : 11'(amax_exp) - 11'(EmaxElem);
  assign shift_d   = (shift_raw < -11'sd127) ? -8'sd127 :
                     (shift_raw > 11'sd127) ? 8'sd127 : shift_raw[7:0];
  assign scale_d   = special1_q ? 8'hff : 8'(shift_d + 8'sd127);

  logic [32*BlockSize-1:0] x2_q;
  logic signed [7:0]       shift_q;
  logic [7:0]              scale2_q;
  logic                    special2_q;

  always_ff @(posedge clk_i) begin : p_stage2
    if (en2) begin
      x2_q       <= x1_q;
      shift_q    <= shift_d;
      scale2_q   <= scale_d;
      special2_q <= special1_q;
    end
  end

  // ------------------------------------------------------------------------------------------
  // Stage 3: each element divided by 2**s (an exponent subtraction on the normalized element)
  // and rounded once by the shared rounding core.
  logic [CodeW*BlockSize-1:0] codes_d;

  for (genvar i = 0; i < BlockSize; i++) begin : g_elem
    logic [31:0]        x;
    logic [22:0]        frac;
    logic [7:0]         field;
    logic [4:0]         lead;
    logic [23:0]        sig;
    logic signed [10:0] exp_x;
    logic [CodeW-1:0]   code;

    assign x     = x2_q[32*i +: 32];
    assign frac  = x[22:0];
    assign field = x[30:23];

    assign lead = 5'(lead_one23(frac));

    // normalized significand and exponent of its bit 23 (subnormals: frac * 2**-149)
    assign sig   = (field != 8'd0) ? {1'b1, frac} : ({1'b0, frac} << (5'd23 - lead));
    assign exp_x = (field != 8'd0) ? $signed({3'b000, field}) - 11'sd127
                                   : $signed({6'd0, lead}) - 11'sd149;

    numsim_elem_round #(
      .IsInt(IsInt), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials),
      .IntBits(IntBits), .FracBits(FracBits), .Symmetric(Symmetric), .Overflow(0)
    ) u_round (
      .sign_i(x[31]),
      .nan_i (1'b0),       // a NaN or Inf zeroes the whole block below
      .inf_i (1'b0),
      .exp_i (exp_x - 11'(shift_q)),
      .sig_i (sig),
      .code_o(code)
    );

    assign codes_d[CodeW*i +: CodeW] = special2_q ? '0 : code;
  end

  always_ff @(posedge clk_i) begin : p_stage3
    if (en3) begin
      codes_o <= codes_d;
      scale_o <= scale2_q;
    end
  end

endmodule

`default_nettype wire
