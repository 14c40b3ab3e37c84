"""qloom: quantized neural networks from PyTorch to verified FPGA dataflow hardware."""

__version__ = "0.1.0"
