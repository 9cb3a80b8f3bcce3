"""numsim: bit-exact models of block-scaled number formats.

The public surface: ``numsim.formats`` (descriptors and registry), the policies, and
``encode`` / ``decode`` / ``quantize`` for element and block formats.
"""
