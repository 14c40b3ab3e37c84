"""Drivers and their co-simulation: the generated C and PYNQ drivers against the AXI DMA model.

One tiny hand-written top (tests/driver_cosim/qloom_top.sv: INT4 frames padded in their
last word, INT16 sums out, the contract's TLAST rule) is built once as the co-simulation
library and serves every test here: a correct run has zero mismatches and the C driver's
bytes equal qloom.packing's; a driver with a packing bug is caught; the faults (no TLAST,
short lengths, an address the DMA cannot reach) come back decoded within the driver's
bounded wait and the co-simulation ends.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qloom.deploy import drivers
from qloom.ir.types import IntType
from qloom.packing import dma_port, pack_frames, unpack_frames
from qloom.verify import driver as D

HERE = Path(__file__).parent / "driver_cosim"
CACHE = Path.home() / ".cache" / "qloom" / "test-driver-cosim"  # content-keyed: safe to share across runs


def tiny_design(rtl: Path) -> dict:
    rtl.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "qloom_top.sv", rtl / "qloom_top.sv")
    din = dma_port("s_axis", 32, IntType.parse("INT4"), [20])
    dout = dma_port("m_axis", 64, IntType.parse("INT16"), [3], elems_per_word=4)
    dout["kind"] = "logits"
    design = {"top": "qloom_top", "graph": "tiny", "files": ["qloom_top.sv"],
              "dma": {"in": din, "out": dout, "tlast": "m_axis_tlast follows the frame's last s_axis_tlast"},
              "clock_mhz": 100, "cycles_per_frame_model": 4, "layers": [{"name": "sum"}]}
    (rtl / "design.json").write_text(json.dumps(design, indent=1))
    return drivers.load_dma(rtl)


def tiny_io(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames, labels and what the tiny top computes: the sum of each input word's 8 elements."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 8, size=(n, 20))
    want = np.pad(x, ((0, 0), (0, 4))).reshape(n, 3, 8).sum(axis=2)
    return x, np.argmax(want, axis=1), want


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    design = tiny_design(root / "rtl")
    lib, _ = D.build_cosim(root / "rtl", cache_dir=CACHE)
    return {"root": root, "rtl": root / "rtl", "design": design, "lib": lib}


def _sw(tiny, name: str, n: int = 24, seed: int = 0):
    x, labels, want = tiny_io(n, seed)
    sw = tiny["root"] / name / "sw"
    drivers.write_sw(tiny["design"], sw, x, labels, want)
    return sw, x, labels, want


# ---------------------------------------------------------------- generated files, no simulator


def test_header_carries_design_numbers(tmp_path):
    design = tiny_design(tmp_path / "rtl")
    text = drivers.driver_header(design, 24)
    macros = dict(re.findall(r"#define (QLOOM_\w+) (\S+)", text))
    din, dout = design["dma"]["in"], design["dma"]["out"]
    assert macros["QLOOM_IN_WIDTH_BITS"] == str(din["width"]) == "32"
    assert macros["QLOOM_IN_BYTES_PER_FRAME"] == str(din["bytes_per_frame"]) == "12"
    assert macros["QLOOM_IN_ELEMS_PER_WORD"] == "8" and macros["QLOOM_IN_SIGNED"] == "1"
    assert macros["QLOOM_OUT_ELEMS_PER_FRAME"] == str(dout["elems_per_frame"]) == "3" and macros["QLOOM_OUT_LABELS"] == "0"
    assert "typedef int8_t qloom_in_t;" in text
    assert macros["QLOOM_OUT_AFFINE"] == "0"  # no OutputSpec: the integers' argmax
    from qloom.ir import OutputSpec

    affine = drivers.driver_header(design, 24, OutputSpec(scale=np.array([1.0, 2.0, 0.5]), bias=np.zeros(3)))
    assert "#define QLOOM_OUT_AFFINE 1" in affine and "#define QLOOM_OUT_SCALE {1.0, 2.0, 0.5}" in affine
    uniform = drivers.driver_header(design, 24, OutputSpec(scale=np.full(3, 0.25), bias=np.full(3, 1.0)))
    assert "#define QLOOM_OUT_AFFINE 0" in uniform
    (tmp_path / "qloom_driver.h").write_text(affine)
    shutil.copy(drivers.TEMPLATES / "sw" / "qloom_board.h", tmp_path)
    shutil.copy(drivers.TEMPLATES / "sw" / "qloom_driver.c", tmp_path)
    r = _gcc("-I.", "-c", "qloom_driver.c", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with pytest.raises(ValueError, match="missing"):
        drivers.fill("@A@ @B@", {"A": 1}, "t")
    with pytest.raises(ValueError, match="unused"):
        drivers.fill("@A@", {"A": 1, "B": 2}, "t")


def test_design_without_dma_is_one_line_error(tmp_path):
    from qloom.errors import QloomError

    (tmp_path / "design.json").write_text(json.dumps({"top": "t", "files": []}))
    with pytest.raises(QloomError, match="no \"dma\" entry"):
        drivers.load_dma(tmp_path)


def _gcc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["gcc", *D.CFLAGS, *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("cpu", ["zynq", "microblaze"])
def test_xilinx_board_layer_compiles(tmp_path, cpu):
    x, labels, want = tiny_io(4)
    sw = tmp_path / "sw"
    drivers.write_sw(tiny_design(tmp_path / "rtl"), sw, x, labels, want)
    extra = ["-D__MICROBLAZE__"] if cpu == "microblaze" else []
    for src in ("qloom_board_xil.c", "qloom_driver.c", "main.c"):
        r = _gcc(*extra, "-I.", f"-I{HERE / 'xil_stubs'}", "-c", src, "-o", src + ".o", cwd=sw)
        assert r.returncode == 0, r.stderr


PACK_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "qloom_board.h"
#include "qloom_driver.h"
/* board functions are not called by pack/unpack: they exist for the linker */
void qloom_board_init(void) {}
uint32_t qloom_board_read32(uintptr_t a) { (void)a; return 0; }
void qloom_board_write32(uintptr_t a, uint32_t v) { (void)a; (void)v; }
uintptr_t qloom_board_dma_base(void) { return 0; }
void *qloom_board_dma_alloc(size_t n) { return malloc(n); }
uint64_t qloom_board_dma_addr(const void *p) { return (uint64_t)(uintptr_t)p; }
void qloom_board_cache_flush(const void *p, size_t n) { (void)p; (void)n; }
void qloom_board_cache_invalidate(void *p, size_t n) { (void)p; (void)n; }
uint64_t qloom_board_time_us(void) { return 0; }
int main(void) {  /* frames of elements on stdin (one int each) -> packed bytes on stdout */
    static qloom_in_t e[64 * QLOOM_IN_ELEMS_PER_FRAME];
    static uint8_t b[64 * QLOOM_IN_BYTES_PER_FRAME];
    int n = 0, v;
    while (n < 64 * QLOOM_IN_ELEMS_PER_FRAME && scanf("%d", &v) == 1) e[n++] = (qloom_in_t)v;
    qloom_pack(e, (size_t)n / QLOOM_IN_ELEMS_PER_FRAME, b);
    fwrite(b, 1, (size_t)(n / QLOOM_IN_ELEMS_PER_FRAME) * QLOOM_IN_BYTES_PER_FRAME, stdout);
    return 0;
}
"""


@pytest.mark.parametrize("width,dtype,shape", [(32, "INT4", [20]), (8, "UINT8", [5]), (16, "BIPOLAR", [1, 3, 7]),
                                               (64, "INT3", [2, 2, 5]), (128, "UINT2", [70])])
def test_c_packing_equals_python_packing(tmp_path, width, dtype, shape):
    """The C driver's packing at awkward sizes equals qloom.packing byte for byte."""
    t = IntType.parse(dtype)
    din = dma_port("s_axis", width, t, shape)
    design = {"top": "t", "dma": {"in": din, "out": dma_port("m_axis", 8, IntType.parse("UINT8"), [1])}}
    design["in_dma"] = drivers.DmaSide.from_json(din, "in")
    design["out_dma"] = drivers.DmaSide.from_json(design["dma"]["out"], "out")
    (tmp_path / "qloom_driver.h").write_text(drivers.driver_header(design, 8))
    for name in ("qloom_board.h", "qloom_driver.c"):
        shutil.copy(drivers.TEMPLATES / "sw" / name, tmp_path / name)
    (tmp_path / "h.c").write_text(PACK_HARNESS)
    r = _gcc("-I.", "h.c", "qloom_driver.c", "-o", "h", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rng = np.random.default_rng(1)
    vals = rng.choice([-1, 1], size=(5, din["elems_per_frame"])) if t.bipolar else \
        rng.integers(t.min, t.max + 1, size=(5, din["elems_per_frame"]))
    out = subprocess.run([str(tmp_path / "h")], input=" ".join(map(str, vals.ravel())).encode(), capture_output=True)
    assert out.stdout == pack_frames(din, vals)
    assert (unpack_frames(din, out.stdout, 5).reshape(5, -1) == vals).all()


# ---------------------------------------------------------------- co-simulation


@pytest.mark.hw
def test_c_driver_cosim_correct_run(tiny):
    sw, x, labels, want = _sw(tiny, "ok", n=24)
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / "ok", x, want)
    assert e["passed"], e["output"]
    assert e["mismatches"] == 0 and e["stream_mismatches"] == 0 and e["bytes_equal"] and e["bytes_checked"] == 24 * 12
    assert e["accuracy"] == 1.0  # labels are the argmax of the expected outputs
    assert e["dma_status"]["s2mm_length"] == 24 * 8 and "IOC_Irq" in e["dma_status"]["s2mm"]
    assert 3.9 <= e["cycles_per_frame"] < 8  # 3 input words + 1 output word per frame, plus the DMA start


@pytest.mark.hw
def test_c_driver_cosim_reports_frames_done(tiny, monkeypatch):
    """The co-simulation library counts S2MM frames on stderr; the run's task gets them, the
    driver's own output does not."""
    from test_verify_rtl import _spy_progress

    seen = _spy_progress(monkeypatch, D)
    sw, x, labels, want = _sw(tiny, "progress", n=10)
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / "progress", x, want)
    assert e["passed"], e["output"]
    [(total, done, err)] = seen
    assert total == 10 and 1 <= done <= 10 and "qloom-progress" not in err + e["output"]


@pytest.mark.hw
def test_cosim_catches_a_packing_bug_and_wrong_expectations(tiny):
    """Both directions: a driver packing INT4 as 3-bit codes, and an IR output that differs."""
    sw, x, labels, want = _sw(tiny, "bug", n=16)
    hdr = sw / "qloom_driver.h"
    hdr.write_text(hdr.read_text().replace("#define QLOOM_IN_VALUE_BITS 4", "#define QLOOM_IN_VALUE_BITS 3"))
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / "bug", x, want)
    assert not e["passed"] and not e["bytes_equal"] and e["mismatches"] > 0 and e["exit_code"] == 1
    sw, x, labels, want = _sw(tiny, "want", n=16)
    wrong = want.copy()
    wrong[5, 1] += 1
    drivers.write_sw(tiny["design"], sw, x, labels, wrong)
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / "want", x, wrong)
    assert e["bytes_equal"] and e["mismatches"] == 1 and e["stream_mismatches"] == 1 and not e["passed"]
    assert "first: frame 5" in e["output"]


@pytest.mark.hw
@pytest.mark.parametrize("call", ["qloom_board_cache_flush(src, src_bytes);",
                                  "qloom_board_cache_invalidate(dst, dst_bytes);"])
def test_cosim_catches_a_missing_cache_call(tiny, call):
    """The co-sim board keeps the CPU's copy apart from DDR: a driver without its flush (the DMA
    reads stale DDR) or without its invalidate (the CPU reads stale data) fails."""
    sw, x, labels, want = _sw(tiny, "cache" + str(len(call)), n=8)
    src = sw / "qloom_driver.c"
    assert call in src.read_text()
    src.write_text(src.read_text().replace(call, ""))
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / ("cache" + str(len(call))), x, want)
    assert not e["passed"] and e["mismatches"] > 0
    assert e["bytes_equal"] == ("invalidate" in call)  # without the flush the DMA sent DDR's zeros


@pytest.mark.hw
def test_ip_without_tlast_times_out_decoded(tiny):
    sw, x, labels, want = _sw(tiny, "notlast", n=8)
    e = D.cosim_c(tiny["design"], tiny["rtl"], sw, tiny["lib"], tiny["root"] / "notlast", x, want, mask_tlast=True)
    assert e["exit_code"] == 1 and e["driver_status"] == 1 and e["error"] is None  # the driver, not the watchdog
    assert "timeout after" in e["output"] and "S2MM DMASR 0x00000000 (running, busy)" in e["output"]
    assert e["dma_status"]["s2mm_busy"] and e["out_bytes"] == 8 * 8  # every output word came, no TLAST


def _fault(tiny, mode: str, **options) -> dict:
    sw, x, labels, want = _sw(tiny, "faults", n=4)
    exe = tiny["root"] / "faults" / "faults"
    if not exe.is_file():
        D.compile_c(sw, tiny["lib"], exe, sources=(str(HERE / "faults.c"), "qloom_driver.c"))
    dump = tiny["root"] / "faults" / mode
    dump.mkdir(exist_ok=True)
    run = D.run_c(exe, tiny["rtl"], D.cosim_options(tiny["design"], dump, **options), args=(mode,), wall_seconds=120)
    assert run["exit_code"] == 0, run["stderr"]
    return {**run, "stats": json.loads((dump / "stats.json").read_text())}


@pytest.mark.hw
@pytest.mark.parametrize("mode,status,text,options", [
    ("short_mm2s", 1, "timeout after", {}),  # the last frame never completes: no TLAST out
    ("short_s2mm", 2, "S2MM DMASR 0x00004011 (halted, busy, DMAIntErr)", {}),  # packet longer than LENGTH
    ("decerr", 2, "S2MM DMASR 0x00004041 (halted, busy, DMADecErr)", {}),  # a buffer outside the DDR
    ("ok", 2, "MM2S DMASR 0x00004021 (halted, busy, DMASlvErr)", {"slverr_base": 0x10000000}),  # memory says SLVERR
    ("zero", 5, "bad length or alignment", {}),
    ("ok", 0, "ok: MM2S DMASR 0x00001002 (running, idle, IOC)", {}),
])
def test_faults_are_reported_not_hung(tiny, mode, status, text, options):
    r = _fault(tiny, mode, **options)
    assert r["result"]["status"] == status, r["stdout"]
    assert text in r["stdout"]
    assert not r["stats"]["error"]  # ended by the driver, not by the watchdog
    if status == 1:
        assert r["result"]["us"] > r["result"]["bound"]  # waited its bound, then gave up


@pytest.mark.hw
def test_s2mm_length_reads_the_bytes_received(tiny):
    r = _fault(tiny, "long_s2mm")  # 64 bytes more buffer than the 4 frames' output: TLAST ends it early
    assert r["result"]["status"] == 0 and r["result"]["s2mm_bytes"] == 4 * 8


@pytest.mark.hw
def test_watchdog_ends_a_driver_that_never_gives_up(tiny, tmp_path):
    """PYNQ's own channel.wait() polls forever: on an IP without TLAST the watchdog ends the run."""
    script = tmp_path / "hang.py"
    script.write_text("import numpy as np\nfrom pynq import Overlay, allocate\n"
                      "dma = Overlay('x.bit').axi_dma_0\n"
                      "i, o = allocate((12,), np.uint8), allocate((8,), np.uint8)\n"
                      "dma.recvchannel.transfer(o); dma.sendchannel.transfer(i); dma.recvchannel.wait()\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(D.PYNQ_STANDIN), QLOOM_COSIM_LIB=str(tiny["lib"]),
               QLOOM_COSIM_OPTS=D.cosim_options(tiny["design"], tmp_path, mask_tlast=True, watchdog_cycles=20000))
    r = subprocess.run([sys.executable, str(script)], cwd=tiny["rtl"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 3 and "watchdog: nothing moved for 20000 cycles" in r.stderr
    assert "S2MM busy" in r.stderr


@pytest.mark.hw
def test_pynq_driver_cosim(tiny):
    x, labels, want = tiny_io(40, seed=2)
    pd = tiny["root"] / "pynq"
    drivers.write_pynq(tiny["design"], pd, x, labels, want)
    import qloom.packing

    # the board runs qloom's own packing module, copied (the co-simulation imports that copy too)
    assert (pd / "qloom_lib" / "qloom" / "packing.py").read_bytes() == Path(qloom.packing.__file__).read_bytes()
    e = D.cosim_pynq(tiny["design"], tiny["rtl"], pd, tiny["lib"], tiny["root"] / "pynq_run", x, want)
    assert e["passed"], e["output"]
    assert e["accuracy"] == 1.0 and e["bytes_equal"] and e["mismatches"] == 0
    # the same driver on an IP without TLAST: a decoded timeout, not a hang
    opts = D.cosim_options(tiny["design"], tiny["root"], mask_tlast=True, watchdog_cycles=D.PYNQ_WATCHDOG_CYCLES)
    r = D.run_pynq(pd, tiny["lib"], tiny["rtl"], opts, frames=8, timeout_s=0.2, wall_seconds=120)
    assert r["exit_code"] == 1 and "timeout" in r["result"]["error"]
    assert "S2MM DMASR 0x00000000 (running, busy)" in r["result"]["error"]


# ---------------------------------------------------------------- generated designs (the RTL backend's DMA top)


@pytest.fixture(scope="module")
def generated_build(tmp_path_factory):
    """`qloom build --stop-after rtl` of a small QONNX CNN (UINT4 in, conv+pool, dense): the DMA-ready top."""
    from qnn_factory import LayerSpec, NetSpec, calibrate_and_export

    from qloom.cli import main

    spec = NetSpec(in_shape=(1, 6, 6), in_bits=4, in_signed=False, seed=11, layers=[
        LayerSpec(kind="conv", out=4, wbits=2, abits=2, asigned=False, narrow=False, per_channel=True,
                  bn=True, bias=False, kernel=3, pool=True),
        LayerSpec(kind="dense", out=8, wbits=1, abits=1, asigned=True, narrow=False, per_channel=False,
                  bn=True, bias=True)])
    root = tmp_path_factory.mktemp("build")
    calibrate_and_export(spec, root / "small.onnx")
    d = root / "b"
    assert main(["build", str(root / "small.onnx"), "--out", str(d), "--stop-after", "rtl"]) == 0
    from qloom.ir import serialize

    return serialize.load(d / "ir_folded.json"), d


def test_write_drivers_deploy_folder(generated_build):
    graph, d = generated_build
    files = drivers.write_drivers(d, d / "deploy", frames=6, dataset="random")
    names = {str(f.relative_to(d / "deploy")) for f in files}
    assert {"sw/qloom_driver.h", "sw/qloom_driver.c", "sw/main.c", "sw/qloom_data.h", "sw/qloom_board.h",
            "sw/qloom_board_xil.c", "pynq/qloom_pynq.py"} <= names
    sw = d / "deploy" / "sw"
    for src in ("qloom_board_xil.c", "qloom_driver.c", "main.c"):
        r = _gcc("-I.", f"-I{HERE / 'xil_stubs'}", "-c", src, "-o", src + ".o", cwd=sw)
        assert r.returncode == 0, r.stderr
    assert "#define QLOOM_DATA_FRAMES 6" in (sw / "qloom_data.h").read_text()


@pytest.mark.hw
def test_verify_level_driver_cli(generated_build, capsys):
    """`qloom verify --level driver` on a generated CNN: both drivers, zero mismatches, bytes equal."""
    from qloom.cli import main

    graph, d = generated_build
    rc = main(["verify", str(d), "--level", "driver", "--frames", "12", "--dataset", "random"])
    out = capsys.readouterr().out
    entry = json.loads((d / "verify.json").read_text())["levels"]["driver"]
    assert rc == 0, (out, entry.get("error"), entry["c"]["output"])
    assert entry["passed"] and entry["mismatches"] == 0 and entry["bytes_equal"]
    din = json.loads((d / "rtl" / "design.json").read_text())["dma"]["in"]
    assert entry["bytes_checked"] == 12 * din["bytes_per_frame"]
    assert entry["pynq"]["passed"] and entry["pynq"]["mismatches"] == 0
    assert entry["cycles_per_frame"] >= entry["cycles_per_frame_model"]
    assert "[driver] 12 frames, 0 mismatches" in out
