"""Shared set-up of the deploy tests: a small build folder through the rtl stage."""

from __future__ import annotations

from pathlib import Path

from qloom.cli import main

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export

CONTRACT_FILES = ("sw/qloom_driver.h", "sw/qloom_driver.c", "sw/main.c", "sw/qloom_data.h", "pynq/qloom_pynq.py")
# board files a stock Vivado has (xilinx.com) plus PYNQ-Z2's, installed as its README asks
VIVADO_BOARDS = ("xilinx.com:zcu104:part0:1.1", "xilinx.com:kv260_som:part0:1.4", "tul.com.tw:pynq-z2:part0:1.0")


def make_build(out: Path) -> Path:
    """`qloom build` of a two-layer MLP on 6x6 4-bit inputs through rtl (deploy with dataset="random")."""
    spec = NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=11, layers=[
        LayerSpec(kind="dense", out=8, wbits=2, abits=2, asigned=False, narrow=False, per_channel=False,
                  bn=True, bias=True),
        LayerSpec(kind="dense", out=4, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
                  bn=True, bias=True)])
    model = out.parent / "small.onnx"
    calibrate_and_export(spec, model)
    assert main(["build", str(model), "--out", str(out), "--stop-after", "rtl"]) == 0
    return out
