// Self-checking stream testbench of numsim_int_mac (registered, latency 1).
//
// Stream mode (plusarg +VECTORS=<golden file>): holds reset for the first clock, skips the '#'
// header, then per clock reads one row "<init> <c> <a> <b> <acc> <ovf> <sticky>" and drives it
// with valid_i high; the register holds the row's result one clock later, and acc_o, ovf_o and
// ovf_sticky_o are compared with the row's expected values on the clock after that (a two-stage
// delay line). A chain's rows follow each other, so every row after a chain's first one checks
// the register's feedback and the sticky flag. Mismatches (the first MaxReport; the DUT's
// outputs printed as "<acc> <ovf> <sticky>") and a SUMMARY line go to +REPORT=<file>; done_o
// rises once the file is exhausted.
// Without +VECTORS the DUT's inputs follow the py_* ports while py_drive_i is high
// (Python-driven tests): py_row_i holds a row's input fields as in the file, {init, c, a, b}.
// Shared with the other testbenches: numsim_tb_stream.svh (file, header, counts, SUMMARY).
`default_nettype none

module int_mac_tb #(
  parameter int IntBits   = 8,
  parameter int AccBits   = 32,
  parameter int Saturate  = 0,
  parameter int MaxReport = 16
) (
  input  logic               clk_i,
  input  logic               py_drive_i,
  input  logic               py_rst_ni,
  input  logic               py_valid_i,
  // {init, c, a, b}, each field in whole hex digits as in the file
  input  logic [4*(1+(AccBits+3)/4+2*((IntBits+3)/4))-1:0] py_row_i,
  output logic [AccBits-1:0] acc_o,
  output logic               ovf_o,
  output logic               ovf_sticky_o,
  output logic               done_o,
  output logic [31:0]        count_o,
  output logic [31:0]        errors_o
);

  logic               rst_n, valid_q, init_q;
  logic [AccBits-1:0] c_q;
  logic [IntBits-1:0] a_q, b_q;
  logic               dl_valid [2];
  logic               dl_init [2], dl_ovf [2], dl_stk [2];
  logic [AccBits-1:0] dl_c [2], dl_acc [2];
  logic [IntBits-1:0] dl_a [2], dl_b [2];
  integer             dl_row [2];

  localparam int CW = 4 * ((AccBits + 3) / 4), IW = 4 * ((IntBits + 3) / 4);
  logic [3:0]    py_init;
  logic [CW-1:0] py_c;
  logic [IW-1:0] py_a, py_b;
  assign {py_init, py_c, py_a, py_b} = py_row_i;

  numsim_int_mac #(.IntBits(IntBits), .AccBits(AccBits), .Saturate(Saturate)) u_dut (
    .clk_i       (clk_i),
    .rst_ni      (py_drive_i ? py_rst_ni : rst_n),
    .valid_i     (py_drive_i ? py_valid_i : valid_q),
    .init_i      (py_drive_i ? py_init[0] : init_q),
    .c_i         (py_drive_i ? py_c[AccBits-1:0] : c_q),
    .a_i         (py_drive_i ? py_a[IntBits-1:0] : a_q),
    .b_i         (py_drive_i ? py_b[IntBits-1:0] : b_q),
    .acc_o       (acc_o),
    .ovf_o       (ovf_o),
    .ovf_sticky_o(ovf_sticky_o)
  );

  `include "numsim_tb_stream.svh"
  integer row, cycles;
  logic               init_t, ovf_t, stk_t;
  logic [AccBits-1:0] c_t, acc_t;
  logic [IntBits-1:0] a_t, b_t;

  initial begin : p_open
    row = 0;
    cycles = 0;
    rst_n = 1'b0;
    valid_q = 1'b0;
    init_q = 1'b0;
    c_q = '0;
    a_q = '0;
    b_q = '0;
    for (int k = 0; k < 2; k++) begin
      dl_valid[k] = 1'b0;
      dl_init[k] = 1'b0;
      dl_ovf[k] = 1'b0;
      dl_stk[k] = 1'b0;
      dl_c[k] = '0;
      dl_acc[k] = '0;
      dl_a[k] = '0;
      dl_b[k] = '0;
      dl_row[k] = 0;
    end
    stream_open();
  end

  always @(posedge clk_i) begin : p_stream
    cycles = cycles + 1;
    if (stream_en && !done_o) begin
      if (cycles == 1) rst_n <= 1'b1;
      // the register now holds the result of the row driven two clocks ago
      if (dl_valid[1]) begin
        if (stream_check(acc_o !== dl_acc[1] || ovf_o !== dl_ovf[1] || ovf_sticky_o !== dl_stk[1])) begin
          $fwrite(rep_fd, "MISMATCH %0d %h %h %h %h %h %h %h %h %h %h\n", dl_row[1], dl_init[1], dl_c[1],
                  dl_a[1], dl_b[1], dl_acc[1], dl_ovf[1], dl_stk[1], acc_o, ovf_o, ovf_sticky_o);
        end
      end
      dl_valid[1] = dl_valid[0];
      dl_init[1] = dl_init[0];
      dl_c[1] = dl_c[0];
      dl_a[1] = dl_a[0];
      dl_b[1] = dl_b[0];
      dl_acc[1] = dl_acc[0];
      dl_ovf[1] = dl_ovf[0];
      dl_stk[1] = dl_stk[0];
      dl_row[1] = dl_row[0];
      rc = (eof || cycles < 2) ? -1 : $fscanf(vec_fd, "%h %h %h %h %h %h %h\n", init_t, c_t, a_t, b_t, acc_t,
                                              ovf_t, stk_t);
      if (rc == 7) begin
        row = row + 1;
        valid_q <= 1'b1;
        init_q <= init_t;
        c_q <= c_t;
        a_q <= a_t;
        b_q <= b_t;
        dl_valid[0] = 1'b1;
        dl_init[0] = init_t;
        dl_c[0] = c_t;
        dl_a[0] = a_t;
        dl_b[0] = b_t;
        dl_acc[0] = acc_t;
        dl_ovf[0] = ovf_t;
        dl_stk[0] = stk_t;
        dl_row[0] = row;
      end else begin
        valid_q <= 1'b0;
        dl_valid[0] = 1'b0;
        if (cycles >= 2) eof = 1'b1;
      end
      stream_step_end(eof && !dl_valid[0] && !dl_valid[1]);
    end
  end

endmodule

`default_nettype wire
