// Self-checking stream testbench of numsim_elem_encoder.
//
// Stream mode (plusarg +VECTORS=<golden file>): skips the '#' header, then per clock reads Lanes
// rows "<fp32> <code>" (one per DUT copy, in file order), drives the DUT copies and, on the next
// clock, compares each DUT's code with the expected one. Mismatches (the first MaxReport) and a
// final SUMMARY line go to +REPORT=<file>; done_o rises once the file is exhausted.
// Without +VECTORS, the input of DUT copy 0 (g_lane[0].u_dut) follows py_fp32_i while
// py_drive_i is high (Python-driven tests).
`default_nettype none

module elem_encoder_tb #(
  parameter int IsInt     = 0,
  parameter int ExpBits   = 4,
  parameter int ManBits   = 3,
  parameter int Bias      = 7,
  parameter int Specials  = 1,
  parameter int IntBits   = 8,
  parameter int FracBits  = 0,
  parameter int Symmetric = 0,
  parameter int Overflow  = 0,
  parameter int CodeW     = IsInt != 0 ? IntBits : 1 + ExpBits + ManBits,
  parameter int Lanes     = 8,   // DUT copies: vectors checked per clock
  parameter int MaxReport = 16
) (
  input  logic             clk_i,
  input  logic             py_drive_i,
  input  logic [31:0]      py_fp32_i,
  output logic [CodeW-1:0] code_o,
  output logic             done_o,
  output logic [31:0]      count_o,
  output logic [31:0]      errors_o
);

  logic [31:0] fp32_q [Lanes];
  logic [CodeW-1:0] expected_q [Lanes];
  logic [CodeW-1:0] code_lane [Lanes];
  logic [Lanes-1:0] valid_q;

  for (genvar l = 0; l < Lanes; l++) begin : g_lane
    numsim_elem_encoder #(
      .IsInt(IsInt), .ExpBits(ExpBits), .ManBits(ManBits), .Bias(Bias), .Specials(Specials),
      .IntBits(IntBits), .FracBits(FracBits), .Symmetric(Symmetric), .Overflow(Overflow)
    ) u_dut (
      .fp32_i((l == 0 && py_drive_i) ? py_fp32_i : fp32_q[l]),
      .code_o(code_lane[l])
    );
  end
  assign code_o = code_lane[0];

  integer vec_fd, rep_fd, rc, ch, count, errors;
  logic stream_en, eof;
  string vec_path, rep_path;
  logic [31:0] fp32_t;
  logic [CodeW-1:0] expected_t;

  initial begin : p_open
    done_o = 1'b0;
    count = 0;
    errors = 0;
    count_o = '0;
    errors_o = '0;
    valid_q = '0;
    eof = 1'b0;
    stream_en = 1'b0;
    rep_fd = 0;
    for (int l = 0; l < Lanes; l++) fp32_q[l] = '0;
    if ($value$plusargs("VECTORS=%s", vec_path)) begin
      stream_en = 1'b1;
      vec_fd = $fopen(vec_path, "r");
      if (vec_fd == 0) $fatal(1, "cannot open %s", vec_path);
      if ($value$plusargs("REPORT=%s", rep_path)) rep_fd = $fopen(rep_path, "w");
      ch = $fgetc(vec_fd);
      while (ch == "#") begin
        while (ch != "\n" && ch != -1) ch = $fgetc(vec_fd);
        ch = $fgetc(vec_fd);
      end
      rc = $ungetc(ch, vec_fd);
    end
  end

  always @(posedge clk_i) begin : p_stream
    if (stream_en && !done_o) begin
      // check the rows applied on the previous clock, in file order
      for (int l = 0; l < Lanes; l++) begin
        if (valid_q[l]) begin
          count = count + 1;
          if (code_lane[l] !== expected_q[l]) begin
            errors = errors + 1;
            if (errors <= MaxReport && rep_fd != 0)
              $fwrite(rep_fd, "MISMATCH %0d %h %h %h\n", count, fp32_q[l], expected_q[l], code_lane[l]);
          end
        end
      end
      // apply the next rows
      for (int l = 0; l < Lanes; l++) begin
        rc = eof ? -1 : $fscanf(vec_fd, "%h %h\n", fp32_t, expected_t);
        if (rc == 2) begin
          fp32_q[l] <= fp32_t;
          expected_q[l] <= expected_t;
          valid_q[l] <= 1'b1;
        end else begin
          valid_q[l] <= 1'b0;
          eof = 1'b1;
        end
      end
      if (eof && valid_q == '0) begin
        done_o <= 1'b1;
        if (rep_fd != 0) begin
          $fwrite(rep_fd, "SUMMARY count=%0d errors=%0d\n", count, errors);
          $fclose(rep_fd);
        end
        $fclose(vec_fd);
      end
      count_o <= count;
      errors_o <= errors;
    end
  end

endmodule

`default_nettype wire
