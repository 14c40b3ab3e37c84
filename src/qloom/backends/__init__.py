"""Backends: turn a folded hardware graph into something a tool can build.

`qloom.backends.rtl` writes a stitched Verilog design from the hand-written library in
`qloom/rtl/*.sv`.
"""
