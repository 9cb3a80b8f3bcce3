// Lane streaming of the element codec testbenches: `include it after numsim_tb_stream.svh and
// before the DUT copies. The including module declares the parameter Lanes, the localparams
// InW and OutW (a row's input and expected-output widths: the file rows are "<in> <out>"),
// and drives out_lane[l] from DUT copy l, whose input is in_q[l].
//
// Per clock the stream process compares the rows applied on the previous clock (in file order,
// !== so that X counts as a mismatch; MISMATCH lines "<vector> <in> <expected> <got>"), then
// reads the next Lanes rows with $fscanf and applies them; it ends once a row is missing and
// every applied row has been compared.
logic [InW-1:0]   in_q       [Lanes];
logic [OutW-1:0]  expected_q [Lanes];
logic [OutW-1:0]  out_lane   [Lanes];
logic [Lanes-1:0] valid_q;
logic [InW-1:0]   in_t;
logic [OutW-1:0]  expected_t;

initial begin : p_open
  valid_q = '0;
  for (int l = 0; l < Lanes; l++) in_q[l] = '0;
  stream_open();
end

always @(posedge clk_i) begin : p_stream
  if (stream_en && !done_o) begin
    // check the rows applied on the previous clock, in file order
    for (int l = 0; l < Lanes; l++) begin
      if (valid_q[l]) begin
        if (stream_check(out_lane[l] !== expected_q[l])) begin
          $fwrite(rep_fd, "MISMATCH %0d %h %h %h\n", count, in_q[l], expected_q[l], out_lane[l]);
        end
      end
    end
    // apply the next rows
    for (int l = 0; l < Lanes; l++) begin
      rc = eof ? -1 : $fscanf(vec_fd, "%h %h\n", in_t, expected_t);
      if (rc == 2) begin
        in_q[l] <= in_t;
        expected_q[l] <= expected_t;
        valid_q[l] <= 1'b1;
      end else begin
        valid_q[l] <= 1'b0;
        eof = 1'b1;
      end
    end
    stream_step_end(eof && valid_q == '0);
  end
end
