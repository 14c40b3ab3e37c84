"""deploy/README.md: the exact steps from this folder to a running driver, for this target."""

from __future__ import annotations

from pathlib import Path

from qloom.deploy.presets import MICROBLAZE, PS7, PSU, Target

PYNQ_BOARDS = {"PYNQ-Z1", "PYNQ-Z2", "ZCU104", "KV260", "Ultra96-V2"}


def _board_notes(target: Target) -> list[str]:
    if target.processor == MICROBLAZE:
        pins = ", ".join(f"{k} {v}" for k, v in target.pins.items())
        if pins:
            return [f"- Board I/O in `constraints.xdc`: {pins} (LVCMOS33). {target.board_hint}."]
        return ["- `constraints.xdc` has no pins for this part: fill in the package pins of the board's oscillator "
                "(`sys_clock`, 100 MHz unless you change PRIM_IN_FREQ in create_project.tcl), an active-low reset "
                "button (`reset`) and the USB-UART (`usb_uart_rxd`, `usb_uart_txd`). The script stops until you do."]
    notes = []
    if target.board_part and target.board_part_required:
        notes.append(f"- Vivado needs the board files `{target.board_part}` ({target.board_hint}); "
                     "the script stops with this message if they are missing.")
    elif target.board_part:
        notes.append(f"- Board files `{target.board_part}` are used when installed ({target.board_hint}); "
                     "otherwise the script applies the PS7 DDR/MIO configuration it carries (Digilent's values).")
    elif not target.ps7_config:
        notes.append("- No board preset for this part: the PS keeps Vivado's defaults. Set its DDR, MIO and UART "
                     "for your board (the board vendor's PS preset) in create_project.tcl before building, "
                     "or the processor will not boot.")
    return notes


def deploy_readme(target: Target, design: dict, facts: dict, build_dir: Path) -> str:
    dma = facts["dma"]
    proc = {PS7: "Zynq-7000 PS (processing_system7, ARM Cortex-A9)",
            PSU: "Zynq UltraScale+ PS (zynq_ultra_ps_e, ARM Cortex-A53)",
            MICROBLAZE: "MicroBlaze soft processor with local memory, UART Lite and AXI timer"}[target.processor]
    lines = [f"# Deploy `{design.get('graph', 'design')}` to {target.name} ({target.part})", "",
             f"Written by `qloom deploy {build_dir}`. Processor: {proc}. The design runs at "
             f"{float(design['clock_mhz']):g} MHz; an AXI DMA in simple mode streams {dma['in_width']}-bit words in "
             f"({dma['in_bytes']} bytes per frame) and {dma['out_width']}-bit words out ({dma['out_bytes']} bytes "
             f"per frame), up to {dma['max_frames']} frames per transfer ({dma['length_bits']}-bit length register).",
             "", "## 1. Bitstream and hardware platform (Vivado 2020.2 or later)", "",
             "Copy this folder to the machine with Vivado and run", "", "```", "./build.sh", "```", "",
             "It packages `ip/src/` as an IP (`package_ip.tcl`), builds the block design, runs synthesis and "
             "implementation and writes `out/qloom.bit`, `out/qloom.hwh`, `out/qloom.xsa`, and "
             "`reports/utilization.rpt`, `reports/utilization_hierarchical.rpt`, `reports/timing_summary.rpt`. "
             "`QLOOM_JOBS=8 ./build.sh` uses 8 jobs (default 4). The Vivado project is left in `vivado/`.",
             *_board_notes(target), "",
             "Bring Vivado's figures back beside the estimates and Yosys' (report.json key `vivado`):", "",
             "```", f"qloom deploy {build_dir} --import-reports", "```", ""]
    lines += ["## 2. Bare metal (Vitis)", "",
              "```", "cd vitis", "vitis -s create_app.py     # Vitis Unified, 2023.2 and later",
              "xsct create_app.tcl        # or: Vitis classic (xsct), 2019.2 - 2023.1", "```", "",
              f"Both create a standalone platform for `{target.cpu}` from `out/qloom.xsa` and build the app from "
              "`sw/`: the C driver (`qloom_driver.c`, `qloom_driver.h`), its board layer for the Xilinx standalone "
              "BSP, `main.c`, and `qloom_data.h` (the embedded test frames with their labels and the IR's outputs)."]
    if facts.get("compile_defines"):
        lines.append("The app is compiled with " + ", ".join(f"`{d}`" for d in facts["compile_defines"]) +
                     ": the DMA's buffers live in the AXI BRAM `dma_mem` (the local memory is not reachable by the DMA).")
    lines += ["",
              "Run it: set the board to JTAG boot, connect the USB cable, open a terminal on the board's USB-UART "
              "at 115200 baud, then in Vitis *Run As > Launch Hardware*, or with xsct: `connect`, "
              "`fpga out/qloom.bit`, (Zynq: `loadhw out/qloom.xsa` and the platform's `ps7_init`/`psu_init`), "
              "`dow <the app's .elf>`, `con`. The app prints its accuracy on the embedded frames, the number of "
              "outputs that differ from the IR (0 expected: the board is bit-exact) and frames/s. A DMA error or a "
              "transfer that never ends is reported with the decoded DMA status instead of hanging.", ""]
    if target.name in PYNQ_BOARDS:
        lines += ["## 3. PYNQ", "",
                  "After `build.sh`, `pynq/` also holds `qloom.bit` and `qloom.hwh`. Copy the whole `pynq/` folder to "
                  "the board (PYNQ image 3.0 or later) and run `python3 qloom_pynq.py` in it (`--frames N`, "
                  "`--timeout SECONDS`). It loads the overlay, sends the embedded frames in batches through "
                  "`axi_dma_0` with every wait bounded, and prints the accuracy, the frames whose outputs differ from "
                  "the IR's (0 expected) and frames/s.", ""]
    return "\n".join(lines)
