// Self-checking stream testbench of numsim_fp32_acc (registered, latency 1).
//
// Stream mode (plusarg +VECTORS=<golden file>): holds reset for the first clock, skips the '#'
// header, then per clock reads one row "<init> <c> <d> <acc>" and drives it with valid_i high;
// the register holds the row's result one clock later, and acc_o is compared with the row's
// expected acc on the clock after that (the expected values travel through a two-stage delay
// line). A chain's rows follow each other, so every row after a chain's first one checks the
// register's own feedback. Mismatches (the first MaxReport) and a SUMMARY line go to
// +REPORT=<file>; done_o rises once the file is exhausted.
// Without +VECTORS the DUT's inputs follow the py_* ports while py_drive_i is high
// (Python-driven tests): py_row_i holds a row's input fields as in the file, {init, c, d}.
// Shared with the other testbenches: numsim_tb_stream.svh (file, header, counts, SUMMARY).
`default_nettype none

module fp32_acc_tb #(
  parameter int OutRne    = 1,
  parameter int MaxReport = 16
) (
  input  logic        clk_i,
  input  logic        py_drive_i,
  input  logic        py_rst_ni,
  input  logic        py_valid_i,
  input  logic [67:0] py_row_i,     // {init (one hex digit), c, d}
  output logic [31:0] acc_o,
  output logic        done_o,
  output logic [31:0] count_o,
  output logic [31:0] errors_o
);

  logic        rst_n, valid_q, init_q;
  logic [31:0] c_q, d_q;
  // delay line: [0] the row driven now, [1] the row whose result is in the register
  logic        dl_valid [2];
  logic        dl_init  [2];
  logic [31:0] dl_c [2], dl_d [2], dl_acc [2];
  integer      dl_row [2];

  logic [3:0]  py_init;
  logic [31:0] py_c, py_d;
  assign {py_init, py_c, py_d} = py_row_i;

  numsim_fp32_acc #(.OutRne(OutRne)) u_dut (
    .clk_i  (clk_i),
    .rst_ni (py_drive_i ? py_rst_ni : rst_n),
    .valid_i(py_drive_i ? py_valid_i : valid_q),
    .init_i (py_drive_i ? py_init[0] : init_q),
    .c_i    (py_drive_i ? py_c : c_q),
    .d_i    (py_drive_i ? py_d : d_q),
    .acc_o  (acc_o)
  );

  `include "numsim_tb_stream.svh"
  integer row, cycles;
  logic        init_t;
  logic [31:0] c_t, d_t, acc_t;

  initial begin : p_open
    row = 0;
    cycles = 0;
    rst_n = 1'b0;
    valid_q = 1'b0;
    init_q = 1'b0;
    c_q = '0;
    d_q = '0;
    for (int k = 0; k < 2; k++) begin
      dl_valid[k] = 1'b0;
      dl_init[k] = 1'b0;
      dl_c[k] = '0;
      dl_d[k] = '0;
      dl_acc[k] = '0;
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
        if (stream_check(acc_o !== dl_acc[1])) begin
          $fwrite(rep_fd, "MISMATCH %0d %h %h %h %h %h\n", dl_row[1], dl_init[1], dl_c[1], dl_d[1],
                  dl_acc[1], acc_o);
        end
      end
      dl_valid[1] = dl_valid[0];
      dl_init[1] = dl_init[0];
      dl_c[1] = dl_c[0];
      dl_d[1] = dl_d[0];
      dl_acc[1] = dl_acc[0];
      dl_row[1] = dl_row[0];
      rc = (eof || cycles < 2) ? -1 : $fscanf(vec_fd, "%h %h %h %h\n", init_t, c_t, d_t, acc_t);
      if (rc == 4) begin
        row = row + 1;
        valid_q <= 1'b1;
        init_q <= init_t;
        c_q <= c_t;
        d_q <= d_t;
        dl_valid[0] = 1'b1;
        dl_init[0] = init_t;
        dl_c[0] = c_t;
        dl_d[0] = d_t;
        dl_acc[0] = acc_t;
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
