// Stream machinery shared by the self-checking testbenches: `include it inside the module body.
// The including module declares the outputs done_o, count_o and errors_o and the parameter
// MaxReport (mismatches written to the report).
//
// * stream_open() (from an initial block): clears the counters; with +VECTORS=<golden file> it
//   sets stream_en, opens the file, skips its '#' header lines and opens +REPORT=<file>.
// * stream_check(bad) (per compared vector): counts it and, when bad, the error; true when the
//   caller is to write the vector's MISMATCH line (the first MaxReport errors, a report open).
// * stream_step_end(finished) (last in the clocked stream process): copies the counters to
//   count_o and errors_o and, once finished (the file exhausted, nothing left to compare),
//   raises done_o, writes "SUMMARY count=N errors=E" and closes both files.
// Works under Icarus Verilog 11 (-g2012) and Verilator 5.
integer vec_fd, rep_fd, rc, ch, count, errors;
logic   stream_en, eof;
string  vec_path, rep_path;

task automatic stream_open;
  done_o = 1'b0;
  count = 0;
  errors = 0;
  count_o = '0;
  errors_o = '0;
  eof = 1'b0;
  stream_en = 1'b0;
  rep_fd = 0;
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
endtask

function automatic logic stream_check(input logic bad);
  count = count + 1;
  if (bad) errors = errors + 1;
  stream_check = bad && errors <= MaxReport && rep_fd != 0;
endfunction

task automatic stream_step_end(input logic finished);
  if (finished) begin
    done_o <= 1'b1;
    if (rep_fd != 0) begin
      $fwrite(rep_fd, "SUMMARY count=%0d errors=%0d\n", count, errors);
      $fclose(rep_fd);
    end
    $fclose(vec_fd);
  end
  count_o <= count;
  errors_o <= errors;
endtask
