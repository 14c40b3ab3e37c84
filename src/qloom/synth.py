"""Resource estimates of a generated design with Yosys `synth_xilinx` (7-series cells).

These are Yosys estimates, not Vivado results: no placement, no routing, and Yosys's own
LUT mapping (ABC) and BRAM/DSP inference. They are good for comparing foldings and for
spotting a ROM that fell out of block RAM, not for sign-off.

With `per_layer=True` the modules instantiated by the top (one per layer, FIFO, width
converter) get `keep_hierarchy` and everything below them is flattened into them, so each
top-level instance has its own counts while inside a layer Yosys optimizes across the
library cores' ports. (Keeping the whole hierarchy instead cost +49% LUTs on TFC-w1a1: a
popcount tree cannot shrink to its 1-bit inputs through a module port.) `per_layer=False`
flattens everything.

Logic depth (7-series only): after the counts, the same Yosys run flattens the mapped netlist
(keeping a flattened copy of every per-layer module) and runs `sta`, which times the longest
register-to-register path with the cell delays in Yosys's Xilinx cell library (Artix-7 figures
from Project X-Ray) and no routing at all. It costs ~1.3 s of CPU beside ~40 s of synthesis on
the demo design (README, "The build report"). The result is a logic depth (LUT and carry levels, as
Vivado counts "Logic Levels") and a cell-delay-only lower bound of the path, per layer module
and for the whole design: a warning sign for a deep adder tree, not a clock frequency. Other
families are not timed: UltraScale's CARRY8 has no delays in that library, so carry chains
would vanish from the paths.

YoWASP remaps /tmp inside WebAssembly, so Yosys runs with cwd = the RTL directory and
every path in its script is relative to it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from qloom import progress, tools
from qloom.errors import QloomError

FAMILIES = ("xc7", "xcup", "xcu", "xc6s", "xc6v", "xc5v", "xc4v", "xc3s")
RESOURCE_KEYS = ("LUT", "FF", "CARRY4", "MUXF7", "MUXF8", "SRL", "LUTRAM",
                 "DSP48E1", "RAMB18E1", "RAMB36E1", "DSP48E2", "RAMB18E2", "RAMB36E2",
                 "BRAM18", "DSP", "slice_LUT")
# LUT6 sites each distributed-memory primitive occupies in a SLICEM (UG474, UG574).
# slice_LUT = logic LUTs + these: what Vivado reports as "Slice LUTs", and what the
# resource model (qloom.fold.resources) and FINN's estimates count as LUTs.
LUTRAM_SITES = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM32M16": 8, "RAM64X1S": 1, "RAM64X1D": 2,
    "RAM64M": 4, "RAM64M8": 8, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8,
    "RAM512X1S": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
# Cells that cost nothing here: clock buffers, I/O buffers, constant drivers.
_FREE = {"BUFG", "BUFGCTRL", "IBUF", "OBUF", "IOBUF", "GND", "VCC", "$scopeinfo"}


def classify(cell_type: str) -> str | None:
    """Resource a primitive cell uses (None: free; 'other': counted under `other`)."""
    if cell_type.startswith("LUT") or cell_type == "INV":  # INV is a LUT1 left at a kept port
        return "LUT"
    if cell_type.startswith("FD"):  # FDRE FDSE FDCE FDPE
        return "FF"
    if cell_type.startswith("SRL"):  # SRL16E SRLC32E: shift registers in LUTs
        return "SRL"
    if cell_type.startswith("RAM") and not cell_type.startswith("RAMB"):  # RAM32M RAM64X1D ...
        return "LUTRAM"
    if cell_type == "CARRY8":  # UltraScale: one CARRY8 per 8 bits, counted with CARRY4
        return "CARRY4"
    if cell_type in ("CARRY4", "MUXF7", "MUXF8", "DSP48E1", "RAMB18E1", "RAMB36E1", "DSP48E2", "RAMB18E2",
                     "RAMB36E2"):
        return cell_type
    return None if cell_type in _FREE else "other"


def resources(cells: dict[str, int]) -> dict:
    """Primitive cell counts -> {LUT (logic), FF, ..., BRAM18 (= RAMB18 + 2 * RAMB36), DSP,
    slice_LUT (logic LUTs + LUTs used as LUTRAM/SRL), other: {...}}."""
    out = dict.fromkeys(RESOURCE_KEYS, 0)
    other: dict[str, int] = {}
    for cell, n in sorted(cells.items()):
        kind = classify(cell)
        if kind == "other":
            other[cell] = other.get(cell, 0) + n
        elif kind is not None:
            out[kind] += n
        if kind in ("LUTRAM", "SRL"):
            out["slice_LUT"] += n * LUTRAM_SITES.get(cell, 1)
    out["slice_LUT"] += out["LUT"]
    out["BRAM18"] = out["RAMB18E1"] + 2 * out["RAMB36E1"] + out["RAMB18E2"] + 2 * out["RAMB36E2"]
    out["DSP"] = out["DSP48E1"] + out["DSP48E2"]
    out["other"] = other
    return out


def _name(module: str) -> str:
    """Yosys escapes public names with a leading backslash in stat -json; drop it."""
    return module[1:] if module.startswith("\\") else module


def rollup(modules: dict[str, dict[str, int]]) -> dict[str, Counter]:
    """Per module: primitive cells including everything instantiated below it."""
    done: dict[str, Counter] = {}

    def visit(name: str, path: tuple[str, ...]) -> Counter:
        if name in done:
            return done[name]
        if name in path:
            raise QloomError(f"recursive module hierarchy through {name}")
        total: Counter = Counter()
        for cell, n in modules[name].items():
            if cell in modules:
                for k, v in visit(cell, path + (name,)).items():
                    total[k] += n * v
            else:
                total[cell] += n
        done[name] = total
        return total

    for name in modules:
        visit(name, ())
    return done


DEPTH_FAMILIES = ("xc7",)  # families whose cells Yosys's library times (Artix-7 delays; CARRY8 has none)
DEPTH_NOTE = ("Yosys sta on the mapped netlist: cell delays only (Artix-7 figures from Project X-Ray in Yosys's "
              "Xilinx cell library), no placement and no routing, which on 7-series often adds as much again. "
              "A logic depth to compare layers and spot a deep path, not a clock frequency: Vivado's timing "
              "report is the judge.")
_STA_HEAD = re.compile(r"^Latest arrival time in '(.+)' is (-?\d+):$")
_STA_END = re.compile(r"^\s+(-?\d+) (?:(.+) \(([^.()\s]+)\.([^()\s]+)\)|\((<[a-z ]+>)\))$")
_STA_CELL = re.compile(r"^\s+(-?\d+) (.+) \(([^.()\s]+)\.([^()\s]+)->([^()\s]+)\)$")
_STA_UNTIMED = re.compile(r"Module '(.+)' has no timing arcs")
_CLOCK_BUFFERS = ("BUFG", "BUFGCTRL", "BUFH", "BUFHCE", "BUFR", "BUFIO")
_SEQUENTIAL = ("FD", "RAMB", "RAM", "SRL", "DSP")  # a path's first such cell is its start (clock to out)


def _script(files: list[str], top: str, family: str, per_layer: bool, depth: bool = False) -> str:
    # -defer: elaborate modules only with their real parameters (a core's default $readmemh
    # file name does not exist)
    reads = "\n".join(f"read_verilog -sv -defer -I. {f}" for f in files)
    keep = f"setattr -mod -set keep_hierarchy 1 {top}/c:* %M\n" if per_layer else ""
    return (f"{reads}\n"
            f"hierarchy -check -top {top}\n"
            f"{keep}"
            f"synth_xilinx -family {family} -noiopad -top {top} -flatten\n"
            f"tee -q -o synth/stat.json stat -json\n"
            f"select {top}\n"
            f"write_json -selected synth/top.json\n"
            + ("select -clear\n"
               # synth_xilinx leaves the cell library without its delays: read it again with them
               "delete =A:blackbox\n"
               "read_verilog -lib -specify +/xilinx/cells_sim.v\n"
               "setattr -mod -unset keep_hierarchy\n"
               "flatten -noscopeinfo -nocleanup\n"  # -nocleanup: each layer module stays, flattened
               "tee -q -o synth/sta.log sta\n" if depth else ""))


def parse_sta(text: str) -> dict[str, dict]:
    """Yosys `sta` output -> {module: its longest path}, each {"path_ps", "start" (the first arc),
    "end" (the endpoint's cell.pin, or "primary output" / "unknown"), "end_cell" (its name, None
    for a port), "cells": [(cell name, type), ...] from start to end}. Modules without paths are
    left out."""
    paths: dict[str, dict] = {}
    cur = None
    for line in text.splitlines():
        if m := _STA_HEAD.match(line):
            cur = paths[m.group(1)] = {"path_ps": int(m.group(2)), "start": None, "end": None, "end_cell": None,
                                       "cells": []}
        elif cur is None:
            continue
        elif cur["end"] is None and (m := _STA_END.match(line)):
            cur["end"] = m.group(5)[1:-1] if m.group(5) else f"{m.group(3)}.{m.group(4)}"
            cur["end_cell"] = m.group(2)
        elif m := _STA_CELL.match(line):
            cur["cells"].insert(0, (m.group(2), m.group(3)))
            cur["start"] = f"{m.group(3)}.{m.group(4)}->{m.group(5)}"
        elif not line.startswith((" ", "Warning:")):  # the histogram or the next pass
            cur = None
    return paths


def depth_of(path: dict) -> dict:
    """A parsed `sta` path as levels: clock buffers and the starting register (or memory) are
    not levels; every other cell is one, as Vivado counts "Logic Levels" (CARRY4=8 LUT2=1 ...)."""
    cells = [c for c in path["cells"] if c[1] not in _CLOCK_BUFFERS]
    start = cells.pop(0) if cells and cells[0][1].startswith(_SEQUENTIAL) else None
    levels = Counter(t for _, t in cells)
    return {"path_ns": round(path["path_ps"] / 1000, 3),
            "lut_levels": sum(n for t, n in levels.items() if t.startswith("LUT") or t == "INV"),
            "logic_levels": sum(levels.values()), "levels": dict(sorted(levels.items())),
            "start": start[1] if start else "input port", "end": path["end"],
            "_cells": ([start[0]] if start else []) + [name for name, _ in cells]  # start to end
                      + ([path["end_cell"]] if path["end_cell"] else [])}


def _instance_of(cell: str) -> str | None:
    """The top-level instance a flattened cell came from: `$flatten\\u_mvu0.$abc$...` -> u_mvu0."""
    m = re.match(r"^(?:\$flatten)?\\?([A-Za-z_][\w$]*)\.", cell)
    return m.group(1) if m else None


def logic_depth(sta_text: str, top: str, modules: dict[str, str], owner: dict, clock_mhz: float | None) -> dict:
    """The `logic_depth` entry of synth.json from the `sta` log: the whole design's longest path
    ("design": in which instance it starts and ends) and each top-level instance's own
    ("instances": inputs arrive at time 0, so a path that enters from the previous instance
    counts only in "design"). `modules`: instance -> module; `owner`: instance -> (layer, part)."""
    paths = parse_sta(sta_text)
    out: dict = {"tool": "yosys sta", "note": DEPTH_NOTE, "target_clock_mhz": clock_mhz, "log": "synth/sta.log",
                 "untimed_cells": sorted(set(_STA_UNTIMED.findall(sta_text))), "design": None, "instances": {}}

    def entry(path: dict) -> dict:
        e = depth_of(path)
        e.pop("_cells")
        if clock_mhz:
            e["share_of_target_period"] = round(e["path_ns"] * clock_mhz / 1000, 3)
        return e

    if top in paths:
        d = depth_of(paths[top])
        where = [i for i in map(_instance_of, d.pop("_cells")) if i]  # from start to end
        out["design"] = entry(paths[top])
        out["design"]["start_instance"] = where[0] if where else None
        out["design"]["end_instance"] = where[-1] if where else None
        layer = owner.get(where[-1]) if where else None  # the layer whose register the path ends in
        out["design"]["layer"] = layer[0] if layer else None
    for inst, module in modules.items():
        if module in paths:
            e = {"module": module.rsplit("\\", 1)[-1], **entry(paths[module])}
            if inst in owner:
                e["layer"], e["part"] = owner[inst]
            out["instances"][inst] = e
    return out


def synthesize(rtl_dir: str | Path, *, family: str = "xc7", top: str | None = None, per_layer: bool = True) -> dict:
    """Run Yosys on the design in `rtl_dir` (files and top from design.json).

    Returns {"tool", "note", "family", "top", "total": {...}, "layers": {instance: {"module",
    ...counts}}, "top_glue": counts of cells in the top module itself, "seconds", "log",
    "logic_depth": see `logic_depth` (7-series; elsewhere only a note why not)}.
    Outputs (script, log, stat.json) go to rtl_dir/synth/.
    """
    rtl_dir = Path(rtl_dir).resolve()
    if family not in FAMILIES:
        raise QloomError(f"unknown synth_xilinx family {family!r}; one of {', '.join(FAMILIES)}")
    try:
        design = json.loads((rtl_dir / "design.json").read_text())
        files = list(design["files"])
    except (OSError, KeyError, ValueError) as exc:
        raise QloomError(f"{rtl_dir}: no usable design.json ({exc}); generate the RTL first") from None
    top = top or design.get("top", "qloom_top")
    out = rtl_dir / "synth"
    out.mkdir(exist_ok=True)
    for stale in ("stat.json", "top.json", "yosys.log"):
        (out / stale).unlink(missing_ok=True)
    depth = family in DEPTH_FAMILIES
    (out / "sta.log").unlink(missing_ok=True)
    (out / "synth.ys").write_text(_script(files, top, family, per_layer, depth))
    log = out / "yosys.log"
    with progress.task("Yosys synth_xilinx"):  # minutes, and Yosys reports no progress: elapsed time
        version = tools.yosys_version()  # also warms YoWASP, keeping the compile out of `seconds`
        t0 = time.perf_counter()
        res = subprocess.run([*tools.yosys_command(), "-q", "-l", "synth/yosys.log", "-s", "synth/synth.ys"],
                             cwd=rtl_dir, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    counted = (out / "stat.json").is_file() and (out / "top.json").is_file()  # written before the depth part
    if res.returncode != 0 and not (depth and counted):
        tail = tools.log_tail(log) if log.is_file() else (res.stderr or res.stdout)[-3000:]
        raise QloomError(f"yosys failed (exit {res.returncode}) on {rtl_dir}; log {log}:\n{tail}")
    stat = json.loads((out / "stat.json").read_text())
    modules = {_name(m): dict(v.get("num_cells_by_type", {})) for m, v in stat["modules"].items()}
    if top not in modules:
        raise QloomError(f"yosys stat has no module {top!r}; modules: {sorted(modules)}")
    rolled = rollup(modules)
    result = {"tool": version, "note": "Yosys synth_xilinx estimates, not Vivado", "family": family, "top": top,
              "total": resources(rolled[top]), "layers": {}, "top_glue": None, "seconds": round(seconds, 3),
              "log": str(log)}
    owner: dict = {}  # instance -> (layer, part): the layer's core and the FIFO / width converter in front of it
    instances: dict[str, str] = {}  # top-level instance -> its module
    if per_layer:
        cells = json.loads((out / "top.json").read_text())["modules"][top]["cells"]
        for l in design.get("layers", []):
            if isinstance(l, dict) and l.get("instance"):
                ports = [""] + [str(e["port"]) for e in l.get("inputs", [])]  # a DAG join: u_<n>_fifo<p>
                for suffix, part in (("", "core"), ("_fifo", "fifo"), ("_dwc", "dwc")):
                    for p in ports if suffix else [""]:
                        owner[l["instance"] + suffix + p] = (l.get("name"), part)
        glue: dict[str, int] = {}
        for inst, cell in cells.items():
            kind = _name(cell["type"])
            if kind in modules:
                entry = {"module": kind.rsplit("\\", 1)[-1], **resources(rolled[kind])}  # $paramod$<hash>\\name
                if inst in owner:
                    entry["layer"], entry["part"] = owner[inst]
                result["layers"][inst] = entry
                instances[inst] = kind
            else:
                glue[kind] = glue.get(kind, 0) + 1
        result["top_glue"] = resources(glue)
    if not depth:
        result["logic_depth"] = {"tool": None, "note": f"not timed: Yosys's cell delays are Artix-7's (and "
                                 f"UltraScale's CARRY8 has none), so {family} gets no logic depth"}
    elif res.returncode != 0 or not (out / "sta.log").is_file():
        result["logic_depth"] = {"tool": "yosys sta", "note": DEPTH_NOTE,
                                 "error": f"yosys sta failed (exit {res.returncode}); see {log}"}
    else:
        result["logic_depth"] = logic_depth((out / "sta.log").read_text(), top, instances, owner,
                                            design.get("clock_mhz"))
    return result
