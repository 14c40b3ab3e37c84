"""Shared set-up of the deploy tests: a small build folder through rtl, with the DMA contract keys,
and the drivers writer (the real qloom.deploy.drivers when present, else a stand-in for the
file names of the contract so the scripts can be tested on their own)."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

from qloom.cli import main

from qnn_factory import LayerSpec, NetSpec, calibrate_and_export

# the real drivers need qloom.deploy.drivers (branch h-driver) and qloom.packing (branch h-dmatop)
HAVE_DRIVERS = all(importlib.util.find_spec(m) is not None for m in ("qloom.deploy.drivers", "qloom.packing"))
CONTRACT_FILES = ("sw/qloom_driver.h", "sw/qloom_driver.c", "sw/main.c", "sw/qloom_data.h", "pynq/qloom_pynq.py")
# board files a stock Vivado has (xilinx.com) plus PYNQ-Z2's, installed as its README asks
VIVADO_BOARDS = ("xilinx.com:zcu104:part0:1.1", "xilinx.com:kv260_som:part0:1.4", "tul.com.tw:pynq-z2:part0:1.0")


def _pow2(n: int) -> int:
    w = 8
    while w < n:
        w *= 2
    return w


def _port(name: str, p: dict, kind: str | None = None) -> dict:
    """The contract's description of a stream port, for builds that predate it (h-dmatop)."""
    elems = 1
    for s in p["shape"]:
        elems *= s
    width = _pow2(p["width"])
    per_word = width // p["elem_bits"]
    words = -(-elems // per_word)
    out = {"port": name, "width": width, "words_per_frame": words, "bytes_per_frame": words * width // 8,
           "elem_bits": p["elem_bits"], "elems_per_word": per_word, "elems_per_frame": elems, "dtype": p["dtype"],
           "signed": p["dtype"].startswith("INT"), "shape": p["shape"], "order": "channels-last"}
    if kind:
        out["kind"] = kind
    return out


def make_build(out: Path) -> Path:
    """`qloom build` of a two-layer MLP through rtl; adds the DMA keys if design.json lacks them."""
    spec = NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=11, layers=[
        LayerSpec(kind="dense", out=8, wbits=2, abits=2, asigned=False, narrow=False, per_channel=False,
                  bn=True, bias=True),
        LayerSpec(kind="dense", out=4, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
                  bn=True, bias=True)])
    model = out.parent / "small.onnx"
    calibrate_and_export(spec, model)
    assert main(["build", str(model), "--out", str(out), "--stop-after", "rtl"]) == 0
    path = out / "rtl" / "design.json"
    design = json.loads(path.read_text())
    if "dma" not in design:
        design["dma"] = {"in": _port("s_axis", design["in"]), "out": _port("m_axis", design["out"], "logits"),
                         "tlast": "m_axis_tlast high on the last word of every output frame"}
        design.update(clock_port="ap_clk", reset_port="ap_rst_n", reset_active_low=True, clock_mhz=100.0)
        path.write_text(json.dumps(design, indent=1))
    return out


def install_fake_drivers(monkeypatch) -> None:
    """Stand in for qloom.deploy.drivers while it cannot run here: writes the contract's file names."""
    if HAVE_DRIVERS:
        return
    mod = types.ModuleType("qloom.deploy.drivers")

    def write_drivers(build_dir, deploy_dir, *, frames=100, dataset="mnist"):
        paths = []
        for rel in CONTRACT_FILES:
            p = Path(deploy_dir) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"/* stand-in for {rel}: the real drivers need qloom.packing (h-dmatop) */\n")
            paths.append(p)
        return paths

    mod.write_drivers = write_drivers
    monkeypatch.setitem(sys.modules, "qloom.deploy.drivers", mod)
    import qloom.deploy

    monkeypatch.setattr(qloom.deploy, "drivers", mod, raising=False)
