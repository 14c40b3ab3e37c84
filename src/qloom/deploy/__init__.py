"""Deploy a build to a board: Vivado/Vitis scripts and the drivers (bare-metal C, PYNQ)."""
