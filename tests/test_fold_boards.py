"""Board database lookups and the `qloom boards` subcommand."""

import argparse
import json

import pytest

from qloom.cli import boards as boards_cli
from qloom.errors import QloomError
from qloom.fold import get_board, list_boards


@pytest.mark.parametrize("name", ["Zybo Z7-20", "zybo-z7-20", "ZYBO_Z7_20", "zyboz720"])
def test_board_spellings(name):
    b = get_board(name)
    assert b.name == "Zybo Z7-20" and b.part == "xc7z020clg400-1"


def test_zynq_7020_capacity():
    for name in ("PYNQ-Z1", "pynq-z2", "ZedBoard", "xc7z020", "xc7z020clg484-1"):
        b = get_board(name)
        assert (b.LUT, b.FF, b.BRAM18, b.DSP) == (53_200, 106_400, 280, 220)
        assert b.family == "xc7" and b.zynq_ps and b.clock_mhz == 100


@pytest.mark.parametrize("name, part, family, cap", [
    ("Cora Z7-07S", "xc7z007sclg400-1", "xc7", (14_400, 28_800, 100, 66)),
    ("cora-z7-10", "xc7z010clg400-1", "xc7", (17_600, 35_200, 120, 80)),
    ("Zybo Z7-10", "xc7z010clg400-1", "xc7", (17_600, 35_200, 120, 80)),
    ("Ultra96-V2", "xczu3eg-sbva484-1-i", "xcup", (70_560, 141_120, 432, 360)),
    ("zcu104", "xczu7ev-ffvc1156-2-e", "xcup", (230_400, 460_800, 624, 1_728)),
    ("KV260", "xck26-sfvc784-2LV-c", "xcup", (117_120, 234_240, 288, 1_248)),
    ("xc7a35t", "xc7a35tcpg236-1", "xc7", (20_800, 41_600, 100, 90)),
    ("xc7a100t", "xc7a100tcsg324-1", "xc7", (63_400, 126_800, 270, 240)),
])
def test_boards_and_parts(name, part, family, cap):
    b = get_board(name)
    assert (b.part, b.family, (b.LUT, b.FF, b.BRAM18, b.DSP)) == (part, family, cap)


def test_full_part_keeps_its_name_and_non_zynq_has_no_ps():
    b = get_board("xc7a100tcsg324-1")
    assert b.part == "xc7a100tcsg324-1" and not b.zynq_ps and b.LUT == 63_400
    assert get_board("xck26").part == "xck26-sfvc784-2LV-c"


def test_unknown_board_lists_the_choices():
    with pytest.raises(QloomError) as err:
        get_board("pynq-z9")
    msg = str(err.value)
    for needle in ("'pynq-z9'", "PYNQ-Z2", "Zybo Z7-20", "KV260", "xc7z020", "qloom boards"):
        assert needle in msg


def test_list_boards_has_required_entries_unique_names():
    names = [b.name for b in list_boards()]
    assert len(names) == len(set(names))
    for required in ("Zybo Z7-10", "Zybo Z7-20", "PYNQ-Z1", "PYNQ-Z2", "ZedBoard", "Cora Z7-07S", "Cora Z7-10",
                     "Ultra96-V2", "ZCU104", "KV260", "xc7z007s", "xc7z010", "xc7z020", "xczu3eg", "xczu7ev",
                     "xck26", "xc7a35t", "xc7a100t"):
        assert required in names
    for b in list_boards():
        assert b.BRAM18 % 2 == 0 and b.LUT * 2 == b.FF  # 7-series and UltraScale+: 2 FF per LUT


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="qloom")
    boards_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_boards_subcommand_table(capsys):
    out = _run(["boards"], capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["name", "part", "yosys", "LUT", "FF", "BRAM18", "DSP", "clock", "PS"]
    row = next(l for l in lines if l.startswith("PYNQ-Z2"))
    assert "xc7z020clg400-1" in row and "53,200" in row and "106,400" in row and " 280 " in row and "100 MHz" in row


def test_boards_subcommand_json(capsys):
    rows = json.loads(_run(["boards", "--json"], capsys))
    z2 = next(r for r in rows if r["name"] == "PYNQ-Z2")
    assert z2 == {"name": "PYNQ-Z2", "part": "xc7z020clg400-1", "family": "xc7", "LUT": 53200, "FF": 106400,
                  "BRAM18": 280, "DSP": 220, "clock_mhz": 100.0, "zynq_ps": True}


@pytest.mark.parametrize("bad", ["xc7z020-GARBAGE", "xc7z020clg400", "xc7z020clg400-9", "xc7z020 clg400-1",
                                 "xczu3eg-sbva484-1", "xc7z020clg400-1-e", "xc7a35tXYZ"])
def test_a_part_must_be_a_real_part_number(bad):
    with pytest.raises(QloomError) as err:
        get_board(bad)
    assert repr(bad) in str(err.value) and "qloom boards" in str(err.value)


def test_every_preset_part_passes_the_part_check():
    from qloom.fold.boards import _BOARDS, DEVICES

    for part in [p for p, _ in _BOARDS.values()] + [d.default_part for d in DEVICES.values()]:
        assert get_board(part).part == part
    assert get_board("xc7a35ticsg324-1L").LUT == 20_800 and get_board("XC7Z020").part == "xc7z020clg400-1"
