"""`qloom deploy --import-reports`: Vivado's utilization and timing reports into report.json (`vivado`).

The report texts below follow Vivado's layout (report_utilization 2020.2+ with the Prohibited
column; UltraScale's CLB rows; report_utilization -hierarchical; report_timing_summary)."""

from __future__ import annotations

import json

import pytest

from qloom.cli import main
from qloom.deploy.reports import parse_hierarchical, parse_timing, parse_utilization
from qloom.errors import QloomError

UTIL_7SERIES = """Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.
---------------------------------------------------------------------------------------------------------------
| Tool Version : Vivado v.2022.2 (lin64) Build 3671981 Fri Oct 14 04:59:54 MDT 2022
| Command      : report_utilization -file /x/deploy/reports/utilization.rpt
| Design       : qloom_bd_wrapper
| Device       : xc7z020clg400-1
| Design State : Routed
---------------------------------------------------------------------------------------------------------------

Utilization Design Information

Table of Contents
-----------------
1. Slice Logic
1.1 Summary of Registers by Type
2. Slice Logic Distribution
3. Memory
4. DSP

1. Slice Logic
--------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| Slice LUTs                 | 12345 |     0 |          0 |     53200 | 23.20 |
|   LUT as Logic             | 11800 |     0 |          0 |     53200 | 22.18 |
|   LUT as Memory            |   545 |     0 |          0 |     17400 |  3.13 |
|     LUT as Distributed RAM |   320 |     0 |            |           |       |
|     LUT as Shift Register  |   225 |     0 |            |           |       |
| Slice Registers            | 15678 |     0 |          0 |    106400 | 14.74 |
|   Register as Flip Flop    | 15678 |     0 |          0 |    106400 | 14.74 |
|   Register as Latch        |     0 |     0 |          0 |    106400 |  0.00 |
| F7 Muxes                   |   210 |     0 |          0 |     26600 |  0.79 |
| F8 Muxes                   |    12 |     0 |          0 |     13300 |  0.09 |
+----------------------------+-------+-------+------------+-----------+-------+


3. Memory
---------

+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    | 13.5 |     0 |          0 |       140 |  9.64 |
|   RAMB36/FIFO*    |   12 |     0 |          0 |       140 |  8.57 |
|     RAMB36E1 only |   12 |       |            |           |       |
|   RAMB18          |    3 |     0 |          0 |       280 |  1.07 |
|     RAMB18E1 only |    3 |       |            |           |       |
+-------------------+------+-------+------------+-----------+-------+


4. DSP
------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |    4 |     0 |          0 |       220 |  1.82 |
|   DSP48E1 only |    4 |       |            |           |       |
+----------------+------+-------+------------+-----------+-------+
"""

UTIL_ULTRASCALE = """| Design State : Routed
1. CLB Logic
------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| CLB LUTs                   |  9876 |     0 |          0 |    230400 |  4.29 |
|   LUT as Logic             |  9500 |     0 |          0 |    230400 |  4.12 |
| CLB Registers              | 11111 |     0 |          0 |    460800 |  2.41 |
+----------------------------+-------+-------+------------+-----------+-------+

3. BLOCKRAM
-----------

+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    |    2 |     0 |          0 |       312 |  0.64 |
|   RAMB36/FIFO*    |    2 |     0 |          0 |       312 |  0.64 |
| URAM              |    0 |     0 |          0 |        96 |  0.00 |
+-------------------+------+-------+------------+-----------+-------+

4. ARITHMETIC
-------------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |    0 |     0 |          0 |      1728 |  0.00 |
+----------------+------+-------+------------+-----------+-------+
"""

UTIL_HIER = """1. Utilization by Hierarchy
---------------------------

+------------------------------+----------------------------+------------+------------+---------+------+-------+--------+--------+------+
|           Instance           |           Module           | Total LUTs | Logic LUTs | LUTRAMs | SRLs |  FFs  | RAMB36 | RAMB18 | DSP Blocks |
+------------------------------+----------------------------+------------+------------+---------+------+-------+--------+--------+------+
| qloom_bd_wrapper             |                      (top) |      12345 |      11800 |     320 |  225 | 15678 |     12 |      3 |    4 |
|   qloom_bd_i                 |                   qloom_bd |      12345 |      11800 |     320 |  225 | 15678 |     12 |      3 |    4 |
|     axi_dma_0                |         qloom_bd_axi_dma_0 |       1800 |       1650 |      60 |   90 |  2600 |      2 |      0 |    0 |
|     qloom_0                  |         qloom_bd_qloom_0_0 |       9400 |       9100 |     260 |   40 | 11000 |     10 |      3 |    4 |
+------------------------------+----------------------------+------------+------------+---------+------+-------+--------+--------+------+
"""

TIMING = """------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints  
    -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------  
      1.234        0.000                      0                41234        0.035        0.000                      0                41234        3.750        0.000                       0                 16001  


All user specified timing constraints are met.


------------------------------------------------------------------------------------------------
| Clock Summary
| -------------
------------------------------------------------------------------------------------------------

Clock       Waveform(ns)         Period(ns)      Frequency(MHz)
-----       ------------         ----------      --------------
clk_fpga_0  {0.000 5.000}        10.000          100.000         


"""

TIMING_FAILED = TIMING.replace("      1.234        0.000                      0", "     -0.512      -35.210                     87")


def test_utilization_7series_and_ultrascale_tables():
    u = parse_utilization(UTIL_7SERIES)
    assert u["LUT"] == {"used": 12345, "available": 53200, "utilization": 12345 / 53200}
    assert u["FF"]["used"] == 15678 and u["BRAM18"] == {"used": 27, "available": 280, "utilization": 27 / 280}
    assert u["DSP"]["used"] == 4 and u["DSP"]["available"] == 220
    v = parse_utilization(UTIL_ULTRASCALE)
    assert (v["LUT"]["used"], v["FF"]["used"], v["BRAM18"]["used"], v["DSP"]["used"], v["URAM"]["used"]) == \
        (9876, 11111, 4, 0, 0)
    old = UTIL_7SERIES.replace(" Prohibited |", "").replace("          0 |     53200", "     53200")
    assert parse_utilization(old)["LUT"]["used"] == 12345  # before 2019: no Prohibited column


def test_hierarchical_row_of_our_ip():
    assert parse_hierarchical(UTIL_HIER, "qloom_0") == {"LUT": 9400, "FF": 11000, "BRAM18": 23, "DSP": 4}
    assert parse_hierarchical(UTIL_HIER, "nothing") is None


def test_timing_summary():
    t = parse_timing(TIMING)
    assert (t["wns_ns"], t["tns_ns"], t["whs_ns"], t["failing_endpoints"], t["met"]) == (1.234, 0.0, 0.035, 0, True)
    assert t["clocks"] == {"clk_fpga_0": {"period_ns": 10.0, "mhz": 100.0}}
    bad = parse_timing(TIMING_FAILED)
    assert (bad["wns_ns"], bad["failing_endpoints"], bad["met"]) == (-0.512, 87, False)


def test_not_a_report_is_a_user_error():
    with pytest.raises(QloomError, match="not a Vivado report_utilization"):
        parse_utilization("hello\n| a | b |\n")
    with pytest.raises(QloomError, match="not a Vivado report_timing_summary"):
        parse_timing("nothing here")


def test_import_reports_into_report_json_beside_yosys(tmp_path, capsys):
    build = tmp_path / "b"
    reports = build / "deploy" / "reports"
    reports.mkdir(parents=True)
    (build / "report.json").write_text(json.dumps({"clock_mhz": 100.0, "yosys": {"total": {"LUT": 9000}}}))
    assert main(["deploy", str(build), "--import-reports"]) == 2
    assert "utilization.rpt is missing" in capsys.readouterr().err
    (reports / "utilization.rpt").write_text(UTIL_7SERIES)
    (reports / "utilization_hierarchical.rpt").write_text(UTIL_HIER)
    (reports / "timing_summary.rpt").write_text(TIMING_FAILED)
    assert main(["deploy", str(build), "--import-reports"]) == 0
    rep = json.loads((build / "report.json").read_text())
    assert rep["yosys"] == {"total": {"LUT": 9000}}  # kept
    v = rep["vivado"]
    assert v["design"]["LUT"]["used"] == 12345 and v["ip"] == {"LUT": 9400, "FF": 11000, "BRAM18": 23, "DSP": 4}
    assert v["timing"]["met"] is False and v["timing"]["achieved_mhz"] == pytest.approx(1000 / 10.512, abs=1e-3)
    assert "12345 LUT" in capsys.readouterr().out
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "utilization.rpt").write_text(UTIL_ULTRASCALE)
    (other / "timing_summary.rpt").write_text("garbage")
    assert main(["deploy", str(build), "--import-reports", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a Vivado report_timing_summary" in err
