"""Deployment targets: which processor a part gets, and the board presets Vivado needs.

One `Target` per deploy: the part, the processor system the block design is built around
("ps7" = processing_system7 on Zynq-7000, "psu" = zynq_ultra_ps_e on Zynq UltraScale+,
"microblaze" = a soft processor on a part without a PS), and the board facts:

- `board_part`: a Vivado board-part pattern (`get_board_parts -latest_file_version PATTERN`).
  Vivado ships xilinx.com boards (ZCU104, KV260); third-party board files (TUL PYNQ-Z2,
  Digilent Zybo Z7 / Arty A7) come from the vendors or the Vivado board store (xhub).
- `ps7_config`: the PS7 DDR/MIO configuration used when the board file is not installed
  (Zybo Z7-20: values of Digilent's public board file, vivado-boards zybo-z7-20/A.0/preset.xml).
- `pins`: package pins of the MicroBlaze design's board I/O (clock, reset, UART), from the
  board's master XDC (Digilent digilent-xdc Arty-A7-100-Master.xdc).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qloom.errors import QloomError
from qloom.fold.boards import get_board

PS7, PSU, MICROBLAZE = "ps7", "psu", "microblaze"

# Zybo Z7-20 (Digilent board file zybo-z7-20 A.0): DDR3L MT41K256M16 RE-125 (1 GB, 32 bit),
# bank voltages, UART1 on MIO 48..49 (the USB-UART), SD0, QSPI, USB0, ENET0, 33.33 MHz crystal.
ZYBO_Z7_20_PS7 = {
    "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "33.333333",
    "PCW_APU_PERIPHERAL_FREQMHZ": "667",
    "PCW_PRESET_BANK0_VOLTAGE": "LVCMOS 3.3V",
    "PCW_PRESET_BANK1_VOLTAGE": "LVCMOS 1.8V",
    "PCW_DDR_RAM_HIGHADDR": "0x3FFFFFFF",
    "PCW_UIPARAM_DDR_ENABLE": "1",
    "PCW_UIPARAM_DDR_MEMORY_TYPE": "DDR 3 (Low Voltage)",
    "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125",
    "PCW_UIPARAM_DDR_BUS_WIDTH": "32 Bit",
    "PCW_UIPARAM_DDR_DRAM_WIDTH": "16 Bits",
    "PCW_UIPARAM_DDR_DEVICE_CAPACITY": "4096 MBits",
    "PCW_UIPARAM_DDR_SPEED_BIN": "DDR3_1066F",
    "PCW_UIPARAM_DDR_FREQ_MHZ": "533.333333",
    "PCW_UIPARAM_DDR_BANK_ADDR_COUNT": "3",
    "PCW_UIPARAM_DDR_ROW_ADDR_COUNT": "15",
    "PCW_UIPARAM_DDR_COL_ADDR_COUNT": "10",
    "PCW_UIPARAM_DDR_CL": "7",
    "PCW_UIPARAM_DDR_CWL": "6",
    "PCW_UIPARAM_DDR_T_RCD": "7",
    "PCW_UIPARAM_DDR_T_RP": "7",
    "PCW_UIPARAM_DDR_T_RC": "48.75",
    "PCW_UIPARAM_DDR_T_RAS_MIN": "35.0",
    "PCW_UIPARAM_DDR_T_FAW": "40.0",
    "PCW_UIPARAM_DDR_TRAIN_WRITE_LEVEL": "1",
    "PCW_UIPARAM_DDR_TRAIN_READ_GATE": "1",
    "PCW_UIPARAM_DDR_TRAIN_DATA_EYE": "1",
    "PCW_UIPARAM_DDR_USE_INTERNAL_VREF": "0",
    "PCW_UIPARAM_DDR_BOARD_DELAY0": "0.221",
    "PCW_UIPARAM_DDR_BOARD_DELAY1": "0.222",
    "PCW_UIPARAM_DDR_BOARD_DELAY2": "0.217",
    "PCW_UIPARAM_DDR_BOARD_DELAY3": "0.244",
    "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_0": "-0.050",
    "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_1": "-0.044",
    "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_2": "-0.035",
    "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_3": "-0.100",
    "PCW_UART1_PERIPHERAL_ENABLE": "1",
    "PCW_UART1_UART1_IO": "MIO 48 .. 49",
    "PCW_UART1_BAUD_RATE": "115200",
    "PCW_UART_PERIPHERAL_FREQMHZ": "100",
    "PCW_SD0_PERIPHERAL_ENABLE": "1",
    "PCW_SD0_SD0_IO": "MIO 40 .. 45",
    "PCW_SD0_GRP_CD_ENABLE": "1",
    "PCW_SD0_GRP_CD_IO": "MIO 47",
    "PCW_SDIO_PERIPHERAL_FREQMHZ": "50",
    "PCW_QSPI_PERIPHERAL_ENABLE": "1",
    "PCW_QSPI_GRP_SINGLE_SS_ENABLE": "1",
    "PCW_QSPI_GRP_SINGLE_SS_IO": "MIO 1 .. 6",
    "PCW_QSPI_GRP_FBCLK_ENABLE": "1",
    "PCW_QSPI_GRP_FBCLK_IO": "MIO 8",
    "PCW_USB0_PERIPHERAL_ENABLE": "1",
    "PCW_USB0_USB0_IO": "MIO 28 .. 39",
    "PCW_USB0_RESET_ENABLE": "1",
    "PCW_USB0_RESET_IO": "MIO 46",
    "PCW_ENET0_PERIPHERAL_ENABLE": "1",
    "PCW_ENET0_ENET0_IO": "MIO 16 .. 27",
    "PCW_ENET0_GRP_MDIO_ENABLE": "1",
    "PCW_ENET0_GRP_MDIO_IO": "MIO 52 .. 53",
    "PCW_GPIO_MIO_GPIO_ENABLE": "1",
}

# Arty A7-100 (Digilent Arty-A7-100-Master.xdc): 100 MHz oscillator, the red reset button
# (active low), USB-UART (FPGA receives on A9 = uart_txd_in, sends on D10 = uart_rxd_out).
ARTY_A7_PINS = {"sys_clock": "E3", "reset": "C2", "usb_uart_rxd": "A9", "usb_uart_txd": "D10"}
# Nexys A7-100T (Digilent Nexys-A7-100T-Master.xdc): CPU_RESETN (active low), UART_TXD_IN C4, UART_RXD_OUT D4.
NEXYS_A7_PINS = {"sys_clock": "E3", "reset": "C12", "usb_uart_rxd": "C4", "usb_uart_txd": "D4"}
_STORE = "from the board vendor or the Vivado board store (xhub::install [xhub::get_xitems *NAME*])"


@dataclass(frozen=True)
class Target:
    name: str  # board name, or the part for a bare part
    part: str
    processor: str  # PS7 | PSU | MICROBLAZE
    yosys_family: str
    board_part: str | None = None  # Vivado board-part pattern
    board_part_required: bool = False  # no PS configuration of our own to fall back on
    board_hint: str = ""  # where to get the board file
    ps7_config: dict = field(default_factory=dict)
    pins: dict = field(default_factory=dict)  # MicroBlaze board I/O: port -> package pin
    ref_clock_mhz: float = 100.0  # MicroBlaze: the board oscillator feeding the clocking wizard
    bram18: int | None = None  # block RAM of the part (RAMB18 units), when known
    in_database: bool = True

    @property
    def cpu(self) -> str:
        """The processor name Vitis/xsct use for the standalone domain."""
        return {PS7: "ps7_cortexa9_0", PSU: "psu_cortexa53_0", MICROBLAZE: "microblaze_0"}[self.processor]


# board name (as in fold.boards) -> preset fields
_PRESETS: dict[str, dict] = {
    "Zybo Z7-20": dict(board_part="digilentinc.com:zybo-z7-20:*", ps7_config=ZYBO_Z7_20_PS7,
                       board_hint="optional: Digilent vivado-boards (board_files/zybo-z7-20) or the Vivado board store"),
    "PYNQ-Z2": dict(board_part="tul.com.tw:pynq-z2:*", board_part_required=True,
                    board_hint="install the PYNQ-Z2 board files from TUL (pynq.io) or the Vivado board store: "
                               "xhub::refresh_catalog [xhub::get_xstores xilinx_board_store]; "
                               "xhub::install [xhub::get_xitems *pynq-z2*]"),
    "ZCU104": dict(board_part="xilinx.com:zcu104:*", board_part_required=True, board_hint="shipped with Vivado"),
    "KV260": dict(board_part="xilinx.com:kv260_som:*", board_part_required=True, board_hint="shipped with Vivado"),
    "Arty A7-100": dict(pins=ARTY_A7_PINS, board_hint="no board file needed: pins from Digilent's master XDC"),
    "Arty A7-35": dict(pins=ARTY_A7_PINS, board_hint="no board file needed: pins from Digilent's master XDC"),
    "Nexys A7-100T": dict(pins=NEXYS_A7_PINS, board_hint="no board file needed: pins from Digilent's master XDC"),
    # Zynq boards whose PS configuration comes from their board files only
    "Zybo Z7-10": dict(board_part="digilentinc.com:zybo-z7-10:*", board_part_required=True,
                       board_hint=_STORE.replace("NAME", "zybo-z7-10")),
    "PYNQ-Z1": dict(board_part="www.digilentinc.com:pynq-z1:*", board_part_required=True,
                    board_hint=_STORE.replace("NAME", "pynq-z1")),
    "ZedBoard": dict(board_part="avnet.com:zedboard:*", board_part_required=True,
                     board_hint=_STORE.replace("NAME", "zedboard")),
    "Cora Z7-07S": dict(board_part="digilentinc.com:cora-z7-07s:*", board_part_required=True,
                        board_hint=_STORE.replace("NAME", "cora-z7-07s")),
    "Cora Z7-10": dict(board_part="digilentinc.com:cora-z7-10:*", board_part_required=True,
                       board_hint=_STORE.replace("NAME", "cora-z7-10")),
    "Ultra96-V2": dict(board_part="avnet.com:ultra96v2:*", board_part_required=True,
                       board_hint=_STORE.replace("NAME", "ultra96v2")),
}

_PS7_PREFIX = ("xc7z",)
_PSU_PREFIX = ("xczu", "xck26", "xck24")
_PSLESS_PREFIX = ("xc7a", "xc7k", "xc7v", "xc7s", "xcku", "xcvu", "xcau")


def _processor(part: str) -> str:
    p = part.lower()
    if p.startswith(_PS7_PREFIX):
        return PS7
    if p.startswith(_PSU_PREFIX):
        return PSU
    if p.startswith(_PSLESS_PREFIX):
        return MICROBLAZE
    raise QloomError(f"part {part!r} is not a Xilinx 7-series, UltraScale or Zynq part qloom deploys to; "
                     "give a full part such as xc7z020clg400-1, xczu7ev-ffvc1156-2-e or xc7a100tcsg324-1")


def _check_part(part: str) -> None:
    if not re.fullmatch(r"x[a-z0-9]+(-[a-z0-9]+)*", part.lower()) or "-" not in part:
        raise QloomError(f"part {part!r} lacks its package and speed grade (e.g. xc7z020clg400-1); "
                         "Vivado needs the full part number")


def get_target(board: str | None = None, part: str | None = None) -> Target:
    """The deployment target for a board (by name, as `qloom boards` lists) or a bare part."""
    if bool(board) == bool(part):
        raise QloomError("give the target as --board NAME (see `qloom boards`) or --part PART, not both or neither")
    if board:
        b = get_board(board)
        preset = _PRESETS.get(b.name, {})
        return Target(name=b.name, part=b.part, processor=_processor(b.part), yosys_family=b.family,
                      bram18=b.BRAM18, **preset)
    part = part.strip()
    _check_part(part)
    proc = _processor(part)
    family = "xc7" if part.lower().startswith("xc7") else "xcup"
    try:
        bram18 = get_board(part).BRAM18
        known = True
    except QloomError:
        bram18, known = None, False
    return Target(name=part, part=part, processor=proc, yosys_family=family, bram18=bram18, in_database=known)
