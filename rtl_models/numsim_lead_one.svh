// The one leading-one detector of the RTL models, as a function declared by a macro:
//
//   `NUMSIM_LEAD_ONE(NAME, W)   declares   function automatic int NAME(input logic [W-1:0] v)
//
// NAME(v) is the position of the highest set bit of v (0 when v is zero: callers that care
// test v != 0 themselves). A binary search of $clog2(W) steps over v zero-extended to a power
// of two: a log-depth priority encoder in synthesis, and $clog2(W) shifts instead of W loop
// iterations per evaluation in Icarus. A macro, because a function's argument width cannot be
// a parameter of the function in the SystemVerilog subset that yosys 0.23 reads; call it at
// module scope (functions are called from continuous assignments: Icarus does not support
// constant selects inside always_* processes).
`ifndef NUMSIM_LEAD_ONE_SVH
`define NUMSIM_LEAD_ONE_SVH
`define NUMSIM_LEAD_ONE(NAME, W) \
  function automatic int NAME(input logic [(W)-1:0] v); \
    logic [(1 << $clog2(W))-1:0] w; \
    int p; \
    w = '0; \
    w[(W)-1:0] = v; \
    p = 0; \
    for (int k = $clog2(W) - 1; k >= 0; k--) begin \
      if (|(w >> (1 << k))) begin \
        p = p + (1 << k); \
        w = w >> (1 << k); \
      end \
    end \
    NAME = p; \
  endfunction
`endif
