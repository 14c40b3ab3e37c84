"""A stand-in for the `pynq` package over qloom's driver co-simulation (the subset qloom_pynq.py uses).

`cocotbpynq` (PyPI) was evaluated first and does not fit: it needs a Vivado .hwh to find
the DMA, drives the IP's streams directly instead of modelling the DMA's registers (no
DMASR, no error bits, so neither driver's error handling is exercised), its channel wait
has no timeout (the missing-TLAST fault hangs it), it runs inside cocotb's scheduler (so the
C driver cannot share the simulator), and it is GPL-3.0 with cocotb 2 and pyslang as
dependencies. This module instead loads the same co-simulation library the C driver links
(the AXI DMA register model + the Verilator model of the IP, $QLOOM_COSIM_LIB, options in
$QLOOM_COSIM_OPTS) through ctypes.

Modelled as PYNQ does it on a board: `Overlay(...).ip_dict` and the DMA attribute
`axi_dma_0` (DefaultIP `read`/`write`, `sendchannel`/`recvchannel` whose `transfer` writes
the address and LENGTH registers, `running`/`idle`, an unbounded `wait`), and `allocate`
returning an ndarray whose `flush`/`invalidate` move bytes between the CPU's copy and the
simulated DDR (a missing call shows up as wrong data, as with a data cache).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys

import numpy as np

DMA_BASE = 0x40400000
_lib = None
_next = 0


def _die(msg: str) -> None:
    sys.stdout.flush()
    print(f"qloom co-sim: {msg}", file=sys.stderr, flush=True)
    _lib.qcs_close()
    os._exit(3)


def _check() -> None:
    err = _lib.qcs_error()
    if err:
        _die(err.decode())


def _open():
    global _lib, _next
    if _lib is not None:
        return _lib
    path = os.environ.get("QLOOM_COSIM_LIB")
    if not path:
        raise RuntimeError("this pynq is qloom's co-simulation stand-in: set QLOOM_COSIM_LIB (qloom verify does)")
    lib = ctypes.CDLL(path)
    lib.qcs_open.argtypes, lib.qcs_open.restype = [ctypes.c_char_p], ctypes.c_int
    lib.qcs_reg_read.argtypes, lib.qcs_reg_read.restype = [ctypes.c_uint32], ctypes.c_uint32
    lib.qcs_reg_write.argtypes, lib.qcs_reg_write.restype = [ctypes.c_uint32, ctypes.c_uint32], None
    lib.qcs_ddr.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.qcs_ddr_base.restype = lib.qcs_ddr_bytes.restype = lib.qcs_cycles.restype = ctypes.c_uint64
    lib.qcs_error.restype = ctypes.c_char_p
    _lib = lib
    if lib.qcs_open(os.environ.get("QLOOM_COSIM_OPTS", "").encode()) != 0:
        _die(lib.qcs_error().decode())
    atexit.register(lib.qcs_close)
    _next = lib.qcs_ddr_base()
    return lib


def _ddr() -> np.ndarray:
    lib = _open()
    return np.ctypeslib.as_array(lib.qcs_ddr(), shape=(lib.qcs_ddr_bytes(),))


class PynqBuffer(np.ndarray):
    """CPU-side array of a DMA buffer; `physical_address` is where the DMA sees it."""

    def __array_finalize__(self, obj):
        base = getattr(obj, "physical_address", None)
        if base is None:
            self.physical_address = None
            return
        delta = self.__array_interface__["data"][0] - obj.__array_interface__["data"][0]
        self.physical_address = base + delta

    def _span(self):
        off = self.physical_address - _open().qcs_ddr_base()
        return slice(off, off + self.nbytes)

    def flush(self):
        _ddr()[self._span()] = np.frombuffer(np.ascontiguousarray(self).tobytes(), dtype=np.uint8)

    def invalidate(self):
        self.view(np.uint8).reshape(-1)[:] = _ddr()[self._span()]

    def freebuffer(self):
        pass

    close = freebuffer

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.freebuffer()


def allocate(shape, dtype="u4", target=None, **kwargs) -> PynqBuffer:
    """A buffer in the simulated DDR (64-byte aligned)."""
    global _next
    lib = _open()
    arr = np.zeros(shape, dtype=dtype)
    padded = -(-max(arr.nbytes, 1) // 64) * 64
    if _next + padded > lib.qcs_ddr_base() + lib.qcs_ddr_bytes():
        raise RuntimeError(f"simulated DDR full: cannot allocate {arr.nbytes} bytes")
    buf = arr.view(PynqBuffer)
    buf.physical_address = _next
    _next += padded
    return buf


class _Channel:
    """One channel of the AXI DMA in simple mode, driven through its registers as PYNQ does."""

    def __init__(self, dma: "DMA", offset: int, flush_before: bool):
        self._dma, self._offset, self._flush_before = dma, offset, flush_before
        self._active = None
        self._first = True
        self.start()

    @property
    def running(self) -> bool:
        return self._dma.read(self._offset + 4) & 0x1 == 0

    @property
    def idle(self) -> bool:
        return self._dma.read(self._offset + 4) & 0x2 == 0x2

    @property
    def error(self) -> bool:
        return self._dma.read(self._offset + 4) & 0x70 != 0

    def start(self) -> None:
        self._dma.write(self._offset, 0x1)
        while not self.running:  # the co-simulation's watchdog bounds this, as PYNQ's own loop is unbounded
            pass
        self._first = True

    def stop(self) -> None:
        self._dma.write(self._offset, 0x0)

    def transfer(self, array: PynqBuffer, start: int = 0, nbytes: int = 0) -> None:
        if not self.running:
            raise RuntimeError("DMA channel not started")
        if not self.idle and not self._first:
            raise RuntimeError("DMA channel not idle")
        nbytes = nbytes or array.nbytes - start
        if self._flush_before:
            array.flush()
        addr = array.physical_address + start
        self._dma.write(self._offset + 0x18, addr & 0xFFFFFFFF)
        self._dma.write(self._offset + 0x1C, addr >> 32)
        self._dma.write(self._offset + 0x28, nbytes)
        self._active = array
        self._first = False

    def wait(self) -> None:
        if not self.running:
            raise RuntimeError("DMA channel not started")
        while not self.idle:
            pass
        if not self._flush_before:
            self._active.invalidate()


class DMA:
    """DefaultIP-style register access plus the two channels."""

    def __init__(self, description: dict):
        self.description = description
        _open()
        self.sendchannel = _Channel(self, 0x00, True)
        self.recvchannel = _Channel(self, 0x30, False)

    def read(self, offset: int = 0) -> int:
        v = _lib.qcs_reg_read(offset)
        _check()
        return int(v)

    def write(self, offset: int, value: int) -> None:
        _lib.qcs_reg_write(offset, int(value) & 0xFFFFFFFF)
        _check()

    @property
    def mmio(self) -> "DMA":
        return self


class Overlay:
    """The co-simulated design: one AXI DMA named as in qloom's block design."""

    def __init__(self, bitfile_name: str = "qloom.bit", download: bool = True, **kwargs):
        self.bitfile_name = bitfile_name
        self.ip_dict = {"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1", "phys_addr": DMA_BASE,
                                      "fullpath": "axi_dma_0"}}
        self.axi_dma_0 = DMA(self.ip_dict["axi_dma_0"])
