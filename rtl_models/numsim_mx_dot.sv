// numsim_mx_dot: MX block dot product with an FP32 accumulator input, combinational.
//
//   d = c + X_A * X_B * sum_i P_i * Q_i     (OCP MX v1.0 Dot of two blocks, plus c)
//
// Twin of numsim.datapath.mx_dot(a, b, unit, c) on one block of BlockSize elements per operand,
// for a DotUnit with n = BlockSize, the chain accumulator and in_format = the element format
// (truncating units; an exact unit may use any in_format holding the elements, e.g. fp32):
//
// * Elements: float element formats (IsInt = 0; ExpBits/ManBits/Bias/Specials as
//   numsim.formats; Specials 0 ieee, 1 fn, 3 finite), each decoded to a significand
//   sig = {field != 0, frac} and a raw exponent e = max(field, 1) - Bias; or two's complement
//   integers (IsInt = 1, IntBits, value = int * 2**-FracBits: the MXINT8 element, 0x80 = -2.0
//   as numsim decodes it), sig = |int|, e = -FracBits, exact units only. Scales are E8M0
//   (X = 2**(code - 127), code 0xff = NaN). The product P_i * Q_i * X_A * X_B is exact:
//   significand sig_a * sig_b (not normalised) and exponent e_a + e_b + x_a + x_b (numsim:
//   raw_product_exponent=True).
// * Specials (numsim's order): a NaN scale, a NaN element, Inf * 0 or a NaN c give NaN
//   (0x7fc00000); +Inf and -Inf together give NaN; otherwise an Inf gives that Inf.
// * ExactSum = 1 (frac_bits=None): the products are summed exactly on a fixed-point grid (the
//   block scales factor out), c is added exactly (numsim_fp_add_exact), the sum is rounded once.
// * ExactSum = 0 (frac_bits=F=TermFracBits, c inside the alignment): eta = max(exponents of the
//   non-zero products, exponent of c if c != 0 (a subnormal c counts as -126), MinExp); every
//   term is truncated toward zero in sign-magnitude onto the grid 2**(eta - F) and the terms are
//   summed exactly. MinExp = -1024 stands for numsim's min_exp=None (never binds).
// * The sum is rounded once by numsim_fp32_round (OutRne: 0 toward zero, 1 nearest even;
//   OutManBits 23 for FP32, 13 for numsim's fp32_m13). Zero products are dropped; an exact
//   zero sum is +0.
//
// Element i of a block is a_codes_i[CodeW*i +: CodeW]; c_i and d_o are FP32 bit patterns.
`default_nettype none

module numsim_mx_dot #(
  parameter int IsInt        = 0,     // 1: two's complement integer elements (exact units only)
  parameter int IntBits      = 8,     // integer element: width
  parameter int FracBits     = 6,     // integer element: value = int * 2**-FracBits
  parameter int ExpBits      = 4,     // element exponent field width
  parameter int ManBits      = 3,     // element stored fraction bits
  parameter int Bias         = 7,     // element exponent bias
  parameter int Specials     = 1,     // numsim.formats.Specials value (0 ieee, 1 fn, 3 finite)
  parameter int BlockSize    = 32,    // elements per block (= the unit's n)
  parameter int ExactSum     = 1,     // 1: exact block sum (frac_bits=None); 0: truncating
  parameter int TermFracBits = 0,     // truncating: F, fraction bits below eta (0 when exact)
  parameter int MinExp       = -1024, // truncating: floor of eta (-1024: none)
  parameter int OutManBits   = 23,    // result fraction bits (23 FP32, 13 fp32_m13)
  parameter int OutRne       = 1,     // final rounding: 1 nearest even, 0 toward zero
  parameter int CodeW        = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits
) (
  input  logic [CodeW*BlockSize-1:0] a_codes_i,
  input  logic [7:0]                 a_scale_i,
  input  logic [CodeW*BlockSize-1:0] b_codes_i,
  input  logic [7:0]                 b_scale_i,
  input  logic [31:0]                c_i,
  output logic [31:0]                d_o
);

  localparam int EXPW   = 12;                       // signed exponents (|e| < 2048)
  localparam int SIGW   = IsInt != 0 ? IntBits : ManBits + 1;  // |int| of -2**(IntBits-1) fits
  localparam int PSW    = 2 * SIGW;                 // product significand
  localparam int FMAX   = IsInt != 0 ? 1 : (1 << ExpBits) - 1;  // largest exponent field (int: none)
  localparam int EMIN   = 1 - Bias;
  localparam int GRID   = IsInt != 0 ? -2 * FracBits : 2 * (EMIN - ManBits);  // exact sum's LSB exponent
  localparam int CNTW   = $clog2(BlockSize + 1) + 1;
  localparam logic [31:0] FP32_QNAN = 32'h7fc0_0000;
  localparam logic [ExpBits-1:0] FIELD_ONES = '1;

  // ---------------------------------------------------------------------------------------
  // Per element pair: decode, classify, exact product. Everything below is computed by one
  // process from the ports (locals only, one write per output): Icarus re-runs a process for
  // every event on its inputs, and per-lane continuous assignments would be 32 events per row.
  // ---------------------------------------------------------------------------------------
  // element fields -> {nan, inf, zero, sign}
  function automatic logic [3:0] classify(input logic [CodeW-1:0] code);
    logic [ExpBits-1:0] f;
    logic [ManBits-1:0] m;
    logic               nan, inf;
    f = code[ExpBits+ManBits-1:ManBits];
    m = code[ManBits-1:0];
    nan = (Specials == 0) ? (f == FIELD_ONES && m != '0) :
          (Specials == 1) ? (code[CodeW-2:0] == '1) : 1'b0;
    inf = (Specials == 0) && f == FIELD_ONES && m == '0;
    classify = {nan, inf, f == '0 && m == '0, code[CodeW-1]};
  endfunction

  // significand {field != 0, frac}
  function automatic logic [ManBits:0] significand(input logic [ExpBits+ManBits-1:0] mag);
    significand = {mag[ExpBits+ManBits-1:ManBits] != '0, mag[ManBits-1:0]};
  endfunction

  // raw exponent - EMIN = max(field, 1) - 1
  function automatic int eraw(input logic [ExpBits-1:0] field);
    int f;
    f = 32'(field);
    eraw = (f == 0 ? 1 : f) - 1;
  endfunction

  logic [BlockSize-1:0]      p_nan, p_inf, p_zero, p_sign;
  logic [PSW*BlockSize-1:0]  p_sig;                 // lane i at [PSW*i +: PSW]
  logic [EXPW*BlockSize-1:0] p_eraw;                // e_a + e_b - 2*EMIN (>= 0), lane i at [EXPW*i +: EXPW]

  localparam int LANEW = 4 + PSW + EXPW;            // {nan, inf, zero, sign, sig, eraw} per lane

  // every lane in one function call (Icarus: no constant selects inside processes)
  function automatic logic [LANEW*BlockSize-1:0] lanes(input logic [CodeW*BlockSize-1:0] a,
                                                       input logic [CodeW*BlockSize-1:0] b);
    logic [LANEW*BlockSize-1:0] r;
    logic [CodeW-1:0]           ca, cb;
    logic [3:0]                 ka, kb;
    logic [SIGW-1:0]            ia, ib;
    for (int i = 0; i < BlockSize; i++) begin
      ca = a[CodeW*i +: CodeW];
      cb = b[CodeW*i +: CodeW];
      if (IsInt != 0) begin
        ia = ca[CodeW-1] ? SIGW'(-ca) : SIGW'(ca);
        ib = cb[CodeW-1] ? SIGW'(-cb) : SIGW'(cb);
        r[LANEW*i +: LANEW] = {2'b00, ca == '0 || cb == '0, ca[CodeW-1] ^ cb[CodeW-1], PSW'(ia) * PSW'(ib),
                               EXPW'(0)};
      end else begin
        ka = classify(ca);
        kb = classify(cb);
        r[LANEW*i +: LANEW] = {ka[3] || kb[3] || (ka[2] && kb[1]) || (ka[1] && kb[2]), ka[2] || kb[2],
                               ka[1] || kb[1], ka[0] ^ kb[0],
                               PSW'(significand(ca[ExpBits+ManBits-1:0])) * PSW'(significand(cb[ExpBits+ManBits-1:0])),
                               EXPW'(eraw(ca[ExpBits+ManBits-1:ManBits]) + eraw(cb[ExpBits+ManBits-1:ManBits]))};
      end
    end
    lanes = r;
  endfunction

  logic [LANEW*BlockSize-1:0] lane_info;
  assign lane_info = lanes(a_codes_i, b_codes_i);
  for (genvar i = 0; i < BlockSize; i++) begin : g_lane
    assign {p_nan[i], p_inf[i], p_zero[i], p_sign[i], p_sig[PSW*i +: PSW], p_eraw[EXPW*i +: EXPW]} =
        lane_info[LANEW*i +: LANEW];
  end

  // ---------------------------------------------------------------------------------------
  // c, scales, specials
  // ---------------------------------------------------------------------------------------
  logic        c_nan, c_inf, c_zero, c_neg, scale_nan, any_nan, pos_inf, neg_inf;
  logic [23:0] c_sig;
  int          c_exp, scale_exp;                     // c: exponent of its bit 23; scales: x_a + x_b

  assign c_nan     = c_i[30:23] == 8'hff && c_i[22:0] != '0;
  assign c_inf     = c_i[30:23] == 8'hff && c_i[22:0] == '0;
  assign c_zero    = c_i[30:0] == '0;
  assign c_neg     = c_i[31];
  assign c_sig     = {c_i[30:23] != 8'h00, c_i[22:0]};
  assign c_exp     = (c_i[30:23] == 8'h00 ? 1 : 32'(c_i[30:23])) - 127;
  assign scale_nan = a_scale_i == 8'hff || b_scale_i == 8'hff;
  assign scale_exp = 32'(a_scale_i) + 32'(b_scale_i) - 254;
  assign any_nan   = scale_nan || c_nan || (p_nan != '0);
  assign pos_inf   = ((p_inf & ~p_sign) != '0) || (c_inf && !c_i[31]);
  assign neg_inf   = ((p_inf & p_sign) != '0) || (c_inf && c_i[31]);

  logic [31:0] d_finite;

  if (ExactSum != 0) begin : g_exact
    // products on the fixed grid 2**(2*(EMIN - ManBits)) of the block (scales factored out)
    localparam int PW = PSW + 2 * (FMAX - 1);
    localparam int SW = PW + CNTW;                   // signed sum
    localparam int AddW = (SW - 1 > 24 ? SW - 1 : 24) + 28;  // numsim_fp_add_exact's window
    logic [SW-1:0]   sum;
    logic [SW-2:0]   sum_mag;
    logic            sum_sign;
    logic            add_sign;
    logic [AddW-1:0] add_mag;
    logic signed [EXPW-1:0] add_exp;
    logic            unused_zero;

    assign unused_zero = ^{p_zero, c_zero, c_neg};  // the exact sum needs no eta

    always_comb begin : p_sum
      logic [SW-1:0] acc, term;
      acc = '0;
      for (int i = 0; i < BlockSize; i++) begin
        term = SW'(p_sig[PSW*i +: PSW]) << p_eraw[EXPW*i +: EXPW];
        acc = p_sign[i] ? acc - term : acc + term;
      end
      sum = acc;
    end
    assign sum_sign = sum[SW-1];
    assign sum_mag  = sum_sign ? (SW-1)'(-sum) : sum[SW-2:0];

    numsim_fp_add_exact #(.AW(SW-1), .BW(24), .ExpW(EXPW), .SumW(AddW)) u_add (
      .a_sign_i  (sum_sign),
      .a_mag_i   (sum_mag),
      .a_exp_i   (EXPW'(GRID + scale_exp)),
      .b_sign_i  (c_neg),
      .b_mag_i   (c_sig),
      .b_exp_i   (EXPW'(c_exp - 23)),
      .sum_sign_o(add_sign),
      .sum_mag_o (add_mag),
      .sum_exp_o (add_exp)
    );

    numsim_fp32_round #(.MagW(AddW), .ExpW(EXPW), .OutManBits(OutManBits), .OutRne(OutRne)) u_round (
      .sign_i(add_sign),
      .mag_i (add_mag),
      .exp_i (add_exp),
      .fp32_o(d_finite)
    );
  end else begin : g_trunc
    // terms on the grid 2**(eta - F): products sig * 2**(F - 2*ManBits), c sig * 2**(F - 23)
    localparam int F   = TermFracBits;
    localparam int LSP = F > 2 * ManBits ? F - 2 * ManBits : 0;
    localparam int RSP = F > 2 * ManBits ? 0 : 2 * ManBits - F;
    localparam int LSC = F > 23 ? F - 23 : 0;
    localparam int RSC = F > 23 ? 0 : 23 - F;
    localparam int TW  = (PSW + LSP > 24 + LSC) ? PSW + LSP : 24 + LSC;
    localparam int SW  = TW + CNTW;                  // signed sum of BlockSize + 1 terms
    localparam int SHW = $clog2(SW + 1) + 1;          // term shift amounts
    logic [SW-1:0] sum;
    logic [SW-2:0] sum_mag;
    logic          sum_sign;
    int            eta;

    always_comb begin : p_eta
      int e, m;
      m = MinExp;
      for (int i = 0; i < BlockSize; i++) begin
        e = 32'(p_eraw[EXPW*i +: EXPW]) + 2 * EMIN + scale_exp;
        if (!p_zero[i] && e > m) m = e;
      end
      if (!c_zero && c_exp > m) m = c_exp;
      eta = m;
    end

    always_comb begin : p_sum
      logic [SW-1:0] acc, term;
      int            sh;
      acc = '0;
      for (int i = 0; i < BlockSize; i++) begin
        sh = eta - (32'(p_eraw[EXPW*i +: EXPW]) + 2 * EMIN + scale_exp) + RSP;
        term = (sh >= SW) ? '0 : (SW'(p_sig[PSW*i +: PSW]) << LSP) >> SHW'(sh);
        acc = p_sign[i] ? acc - term : acc + term;
      end
      sh = eta - c_exp + RSC;
      term = (c_zero || sh >= SW) ? '0 : (SW'(c_sig) << LSC) >> SHW'(sh);
      acc = c_neg ? acc - term : acc + term;
      sum = acc;
    end
    assign sum_sign = sum[SW-1];
    assign sum_mag  = sum_sign ? (SW-1)'(-sum) : sum[SW-2:0];

    numsim_fp32_round #(.MagW(SW-1), .ExpW(EXPW), .OutManBits(OutManBits), .OutRne(OutRne)) u_round (
      .sign_i(sum_sign),
      .mag_i (sum_mag),
      .exp_i (EXPW'(eta - F)),
      .fp32_o(d_finite)
    );
  end

  assign d_o = (any_nan || (pos_inf && neg_inf)) ? FP32_QNAN :
               pos_inf ? 32'h7f80_0000 :
               neg_inf ? 32'hff80_0000 : d_finite;

endmodule

`default_nettype wire
