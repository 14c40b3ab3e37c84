"""FPGA boards and parts qloom can target, with their programmable-logic capacity.

Capacities are the Xilinx product-table figures (DS190 Zynq-7000, DS180 7-series, DS891
Zynq UltraScale+, DS987 Kria K26): LUTs, flip-flops, block RAM in RAMB18 units (two per
RAMB36) and DSP slices. `family` is Yosys `synth_xilinx -family` ("xc7" or "xcup").
Default clocks are conservative fabric clocks for FINN-style dataflow designs: 100 MHz on
7-series (FINN's PYNQ default), 200 MHz on UltraScale+.

`get_board` accepts a board name in any spelling ("Zybo Z7-20", "zybo-z7-20", "zyboz720"),
a bare device ("xc7z020") or a full part ("xc7z020clg400-1"). A full part must be a known
device followed by a Vivado package and speed grade (`PART_SUFFIX`): "xc7z020-GARBAGE" is
refused rather than silently taken for an xc7z020.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from qloom.errors import QloomError


@dataclass(frozen=True)
class Board:
    name: str
    part: str  # full Vivado part number
    family: str  # Yosys synth_xilinx -family
    LUT: int
    FF: int
    BRAM18: int
    DSP: int
    clock_mhz: float
    zynq_ps: bool  # has a processing system (Zynq / Zynq UltraScale+): PYNQ-style deployment

    @property
    def capacity(self) -> dict:
        return {"LUT": self.LUT, "FF": self.FF, "BRAM18": self.BRAM18, "DSP": self.DSP}


@dataclass(frozen=True)
class _Device:
    family: str
    LUT: int
    FF: int
    BRAM36: int
    DSP: int
    zynq_ps: bool
    default_part: str


# device -> capacity. Zynq-7020: 53,200 LUT, 106,400 FF, 140 RAMB36 = 280 RAMB18, 220 DSP48E1.
DEVICES: dict[str, _Device] = {
    "xc7z007s": _Device("xc7", 14_400, 28_800, 50, 66, True, "xc7z007sclg400-1"),
    "xc7z010": _Device("xc7", 17_600, 35_200, 60, 80, True, "xc7z010clg400-1"),
    "xc7z020": _Device("xc7", 53_200, 106_400, 140, 220, True, "xc7z020clg400-1"),
    "xc7a35t": _Device("xc7", 20_800, 41_600, 50, 90, False, "xc7a35tcpg236-1"),
    "xc7a50t": _Device("xc7", 32_600, 65_200, 75, 120, False, "xc7a50tcsg324-1"),
    "xc7a100t": _Device("xc7", 63_400, 126_800, 135, 240, False, "xc7a100tcsg324-1"),
    "xc7a200t": _Device("xc7", 134_600, 269_200, 365, 740, False, "xc7a200tsbg484-1"),
    "xczu3eg": _Device("xcup", 70_560, 141_120, 216, 360, True, "xczu3eg-sbva484-1-e"),
    "xczu7ev": _Device("xcup", 230_400, 460_800, 312, 1_728, True, "xczu7ev-ffvc1156-2-e"),
    "xck26": _Device("xcup", 117_120, 234_240, 144, 1_248, True, "xck26-sfvc784-2LV-c"),
}

# board name -> (full part, other accepted spellings)
_BOARDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Zybo Z7-10": ("xc7z010clg400-1", ("zybo10",)),
    "Zybo Z7-20": ("xc7z020clg400-1", ("zybo", "zybo20")),
    "PYNQ-Z1": ("xc7z020clg400-1", ("pynq",)),
    "PYNQ-Z2": ("xc7z020clg400-1", ()),
    "ZedBoard": ("xc7z020clg484-1", ("zed",)),
    "Cora Z7-07S": ("xc7z007sclg400-1", ("cora07s",)),
    "Cora Z7-10": ("xc7z010clg400-1", ("cora10",)),
    "Ultra96-V2": ("xczu3eg-sbva484-1-i", ("ultra96",)),
    "ZCU104": ("xczu7ev-ffvc1156-2-e", ()),
    "KV260": ("xck26-sfvc784-2LV-c", ("kriakv260", "kria")),
    "Arty A7-35": ("xc7a35ticsg324-1L", ("arty", "arty35")),
    "Arty A7-100": ("xc7a100tcsg324-1", ("arty100",)),
    "Basys 3": ("xc7a35tcpg236-1", ("basys3",)),
    "Nexys A7-100T": ("xc7a100tcsg324-1", ("nexysa7", "nexys")),
}


# What follows the device in a Vivado part name, per family (lower case):
#   7-series:      [i]<package letters><pins>-<speed>[l|q|lv]   xc7z020clg400-1, xc7a35ticsg324-1L
#   UltraScale+:   -<package><pins>-<speed>[l|lv]-<temperature>  xczu3eg-sbva484-1-e, xck26-sfvc784-2LV-c
PART_SUFFIX = {
    "xc7": re.compile(r"i?[a-z]{2,4}[0-9]{3,4}-[1-3](l|q|lv)?"),
    "xcup": re.compile(r"-[a-z]{4}[0-9]{3,4}-[1-3](l|lv)?-[eic]"),
}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _device_of(part: str) -> str | None:
    p = part.lower()
    for dev in sorted(DEVICES, key=len, reverse=True):  # xc7a100t before xc7a10...
        if p.startswith(dev):
            return dev
    return None


DEFAULT_CLOCK_MHZ = 100.0  # the clock of a build without --clock-mhz or --board (and of design.json without one)


def clock_mhz(board: str | Board | None = None, clock: float | None = None) -> float:
    """The build's clock: `clock` if given, else the board's, else DEFAULT_CLOCK_MHZ."""
    if clock:
        return float(clock)
    return get_board(board).clock_mhz if board is not None else DEFAULT_CLOCK_MHZ


def _make(name: str, part: str) -> Board:
    d = DEVICES[_device_of(part)]
    clock = 100.0 if d.family == "xc7" else 200.0
    return Board(name=name, part=part, family=d.family, LUT=d.LUT, FF=d.FF, BRAM18=2 * d.BRAM36,
                 DSP=d.DSP, clock_mhz=clock, zynq_ps=d.zynq_ps)


def list_boards() -> list[Board]:
    """All named boards, then every bare device (its default package and speed grade)."""
    boards = [_make(name, part) for name, (part, _) in _BOARDS.items()]
    return boards + [replace(_make(dev, d.default_part), name=dev) for dev, d in DEVICES.items()]


def get_board(name_or_part: str | Board) -> Board:
    """A board by name (any case/spacing), device or full part number."""
    if isinstance(name_or_part, Board):
        return name_or_part
    key = _key(str(name_or_part))
    for name, (part, aliases) in _BOARDS.items():
        if key == _key(name) or key in aliases:
            return _make(name, part)
    text = str(name_or_part).strip()
    dev = _device_of(text)
    if dev is not None:
        d = DEVICES[dev]
        if text.lower() == dev:
            return replace(_make(dev, d.default_part), name=text)
        if PART_SUFFIX[d.family].fullmatch(text.lower()[len(dev):]):
            return replace(_make(dev, text), name=text)
        raise QloomError(
            f"{text!r} is not a part number of the {dev}: give the device alone ({dev}) or a full Vivado "
            f"part such as {d.default_part} (device, package, pins, speed grade); see `qloom boards`"
        )
    names = ", ".join(_BOARDS)
    raise QloomError(
        f"unknown board or part {name_or_part!r}; boards: {names}; parts: {', '.join(DEVICES)} "
        f"(or a full part such as xc7z020clg400-1); see `qloom boards`"
    )
