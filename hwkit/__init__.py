"""hwkit: low-bit neural networks from Brevitas training to verified FPGA accelerators."""
__version__ = "0.1.0"
