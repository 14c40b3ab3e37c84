"""Run the generated Vivado/xsct scripts under tclsh with the stub, and check the recorded design.

`run_tcl(script)` executes a script with every Vivado/xsct command recorded (unknown commands
are errors) and returns the calls. `Recorded` rebuilds the block design from them (cells and
their CONFIG, interface connections, nets), and `check_design` lists what is wrong: an
interface pin of any cell left open, a clock or reset pin not on the PL clock / a reset of the
right polarity, a pin the IP does not have, the DMA not in simple mode or with other widths,
addresses not assigned, a missing step of the flow (validate, wrapper, synthesis,
implementation, bitstream, XSA, reports). An empty list means the design is complete.
`check_package` does the same for the IP packaging, `check_vitis` for the two Vitis scripts
(`run_vitis_py` runs create_app.py against stub/vitis.py), `check_deploy` all of it for a folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from qloom.deploy import ippins
from qloom.deploy.vivado import CELLS, IP_VLNV, MICROBLAZE, PS7, PSU, DmaPlan

STUB = Path(__file__).parent / "stub" / "vivado_stub.tcl"


class TclStubError(RuntimeError):
    """A generated script failed under the stub (a Tcl error, or an unknown command)."""


def run_tcl(script: Path, *, boards: tuple[str, ...] = (), timeout: float = 60) -> list[dict]:
    """Run `script` (from its own folder) under tclsh + the stub; return the recorded calls."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise TclStubError("tclsh is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.jsonl"
        env = dict(os.environ, QLOOM_STUB_LOG=str(log), QLOOM_STUB_BOARDS=" ".join(boards))
        res = subprocess.run([tclsh, str(STUB), str(script)], cwd=script.parent, env=env,
                             capture_output=True, text=True, timeout=timeout)
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if res.returncode != 0 or not calls or calls[-1]["cmd"] != "stub_end":
        raise TclStubError(f"{script.name} failed under the Tcl stub: {(res.stderr or res.stdout).strip()}")
    return calls


def _opt(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _strip(ref: str) -> str:
    return ref.strip("/")


@dataclass
class Recorded:
    calls: list[dict]
    cells: dict = field(default_factory=dict)  # name -> {"vlnv", "config"}
    intf: list = field(default_factory=list)  # [(a, b)] pin or port names
    nets: list = field(default_factory=list)  # [set of pins/ports]
    ports: set = field(default_factory=set)
    pins_seen: set = field(default_factory=set)

    def __post_init__(self):
        for c in self.calls:
            cmd, args = c["cmd"], c["args"]
            if cmd == "create_bd_cell":
                self.cells[_strip(c["ret"])] = {"vlnv": _opt(args, "-vlnv"), "config": {}}
            elif cmd == "set_property":
                self._prop(args)
            elif cmd in ("create_bd_port", "create_bd_intf_port"):
                self.ports.add(_strip(c["ret"]))
            elif cmd in ("get_bd_pins", "get_bd_intf_pins"):
                self.pins_seen |= {_strip(p) for p in c["ret"].split()}
            elif cmd == "connect_bd_intf_net":
                self.intf.append(tuple(_strip(a) for a in args))
            elif cmd == "connect_bd_net":
                self.nets.append({_strip(a) for a in args if not a.startswith("-")})

    def _prop(self, args: list[str]) -> None:
        args = [a for a in args if a not in ("-quiet", "-verbose")]
        if args[0] == "-dict":
            pairs, objs = _tcl_list(args[1]), args[2].split()
        else:
            pairs, objs = [args[0], args[1]], args[2].split()
        for obj in objs:
            name = _strip(obj)
            if name in self.cells:
                for k, v in zip(pairs[::2], pairs[1::2]):
                    if k.startswith("CONFIG."):
                        self.cells[name]["config"][k[7:]] = v

    def of(self, cmd: str) -> list[list[str]]:
        return [c["args"] for c in self.calls if c["cmd"] == cmd]

    def index(self, cmd: str) -> int:
        return next((i for i, c in enumerate(self.calls) if c["cmd"] == cmd), -1)

    def merged_nets(self) -> list[set]:
        """connect_bd_net calls sharing a pin are one net."""
        nets: list[set] = []
        for n in self.nets:
            joined = [m for m in nets if m & n]
            for m in joined:
                nets.remove(m)
            nets.append(set(n).union(*joined))
        return nets


def _tcl_list(text: str) -> list[str]:
    """Split a Tcl list of plain words and {braced words} (what the scripts pass to -dict)."""
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] == "{":
            j = text.index("}", i)
            out.append(text[i + 1:j])
            i = j + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _pins_of(cell: dict, design: dict) -> ippins.Pins | None:
    if cell["vlnv"] == IP_VLNV:
        return ippins.qloom_ip_pins(design)
    name = cell["vlnv"].split(":")[2]
    make = ippins.TABLE.get(name)
    return make(cell["config"]) if make else None


def check_design(rec: Recorded, design: dict, plan: DmaPlan, processor: str) -> list[str]:
    """Problems in the recorded block design (empty: every interface, clock and reset connected)."""
    problems = []
    pins = {}
    for name, cell in rec.cells.items():
        p = _pins_of(cell, design)
        if p is None:
            problems.append(f"cell {name}: IP {cell['vlnv']} has no pin table in ippins.py")
            continue
        pins[name] = p
    for ref in sorted(rec.pins_seen):
        cell, pin = ref.split("/", 1)
        if cell in pins and pin not in pins[cell].all():
            problems.append(f"{ref}: {rec.cells[cell]['vlnv']} has no pin {pin}")

    def role(ref: str) -> str | None:
        if ref in rec.ports:
            return "port"
        cell, pin = ref.split("/", 1)
        p = pins.get(cell)
        if p is None:
            return None
        return next((r for r in ("master", "slave", "external", "clock", "reset_n", "reset_p", "inputs",
                                 "clock_out", "reset_n_out", "reset_p_out", "outputs", "optional") if pin in getattr(p, r)), None)

    used = defaultdict(int)
    for a, b in rec.intf:
        used[a] += 1
        used[b] += 1
        roles = {role(a), role(b)}
        if roles not in ({"master", "slave"}, {"master", "port"}, {"slave", "port"}):
            problems.append(f"interface connection {a} <-> {b}: roles {sorted(map(str, roles))}, not master to slave")
    externals = _automation_externals(rec)
    for name, p in pins.items():
        for pin in sorted(p.master | p.slave):
            n = used[f"{name}/{pin}"]
            if n != 1:
                problems.append(f"interface {name}/{pin} is in {n} connections (wants exactly 1)")
        for pin in sorted(p.external):
            if f"{name}/{pin}" not in externals:
                problems.append(f"interface {name}/{pin} is not made external")

    nets = rec.merged_nets()
    net_of = {ref: n for n in nets for ref in n}
    for n in nets:
        drivers = [r for r in n if role(r) in ("clock_out", "reset_n_out", "reset_p_out", "outputs", "port")]
        if len(drivers) != 1:
            problems.append(f"net {sorted(n)} has {len(drivers)} drivers {sorted(drivers)}")
    clock_nets = set()
    for name, p in pins.items():
        for pin in sorted(p.clock):
            n = net_of.get(f"{name}/{pin}")
            src = [r for r in (n or ()) if role(r) == "clock_out"]
            if not src:
                problems.append(f"clock {name}/{pin} is not on a PL clock")
            else:
                clock_nets.add(src[0])
        for pin, want in [(x, "reset_n_out") for x in p.reset_n] + [(x, "reset_p_out") for x in p.reset_p]:
            n = net_of.get(f"{name}/{pin}") or ()
            if not any(role(r) == want for r in n):
                problems.append(f"reset {name}/{pin} is not driven by a {'active-low' if want == 'reset_n_out' else 'active-high'} reset")
        for pin in sorted(p.inputs):
            if f"{name}/{pin}" not in net_of:
                problems.append(f"input {name}/{pin} is not connected")
    if len(clock_nets) != 1:
        problems.append(f"the design wants one PL clock, found {sorted(clock_nets)}")
    problems += _check_dma(rec, plan) + _check_clock(rec, design, processor) + _check_flow(rec, processor)
    return problems


def _automation_externals(rec: Recorded) -> set:
    out = set()
    for args in rec.of("apply_bd_automation"):
        config = _opt(args, "-config") or ""
        obj = _strip(args[-1])
        if "make_external" in config:
            for intf in ("DDR", "FIXED_IO"):
                if intf in config:
                    out.add(f"{obj}/{intf}")
    return out


def _check_dma(rec: Recorded, plan: DmaPlan) -> list[str]:
    cell = rec.cells.get(CELLS["dma"])
    if cell is None:
        return ["no AXI DMA cell"]
    c, want = cell["config"], {"c_include_sg": "0", "c_m_axis_mm2s_tdata_width": str(plan.in_width),
                               "c_s_axis_s2mm_tdata_width": str(plan.out_width), "c_sg_length_width": str(plan.length_bits),
                               "c_include_mm2s_dre": "0", "c_include_s2mm_dre": "0", "c_micro_dma": "0"}
    out = [f"DMA CONFIG.{k} = {c.get(k)!r}, wants {v!r}" for k, v in want.items() if c.get(k) != v]
    for side, width in (("mm2s", plan.in_width), ("s2mm", plan.out_width)):
        mm = int(c.get(f"c_m_axi_{side}_data_width", 32))
        if mm < max(32, width):
            out.append(f"DMA {side} memory width {mm} is narrower than its stream ({width})")
    if IP_VLNV not in {x["vlnv"] for x in rec.cells.values()}:
        out.append(f"our IP {IP_VLNV} is not in the block design")
    return out


def _check_clock(rec: Recorded, design: dict, processor: str) -> list[str]:
    key = {PS7: (CELLS[PS7], "PCW_FPGA0_PERIPHERAL_FREQMHZ"), PSU: (CELLS[PSU], "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"),
           MICROBLAZE: ("clk_wiz_0", "CLKOUT1_REQUESTED_OUT_FREQ")}[processor]
    got = rec.cells.get(key[0], {}).get("config", {}).get(key[1])
    if got is None or abs(float(got) - float(design["clock_mhz"])) > 1e-6:
        return [f"PL clock {key[0]} {key[1]} = {got}, wants {design['clock_mhz']} MHz"]
    return []


def _check_flow(rec: Recorded, processor: str) -> list[str]:
    out = []
    last_connect = max(i for i, c in enumerate(rec.calls) if c["cmd"].startswith("connect_bd"))
    assigns = [i for i, c in enumerate(rec.calls) if c["cmd"] == "assign_bd_address"]
    if not assigns or max(assigns) < last_connect:
        out.append("assign_bd_address does not follow the connections")
    if processor == MICROBLAZE:
        spaces = {_opt(a, "-target_address_space") for a in rec.of("assign_bd_address")}
        for s in (f"/{CELLS[MICROBLAZE]}/Data", f"/{CELLS[MICROBLAZE]}/Instruction",
                  f"/{CELLS['dma']}/Data_MM2S", f"/{CELLS['dma']}/Data_S2MM"):
            if s not in spaces:
                out.append(f"no explicit address in space {s}")
    order = ["validate_bd_design", "make_wrapper", "launch_runs", "open_run", "write_hw_platform"]
    idx = [rec.index(c) for c in order]
    if -1 in idx or idx != sorted(idx) or idx[0] < last_connect:
        out.append(f"flow steps out of order or missing: {dict(zip(order, idx))}")
    runs = {a[0]: _opt(a, "-to_step") for a in rec.of("launch_runs")}
    if "synth_1" not in runs or runs.get("impl_1") != "write_bitstream":
        out.append(f"runs {runs}: want synth_1 then impl_1 -to_step write_bitstream")
    hw = rec.of("write_hw_platform")
    if not hw or not {"-fixed", "-include_bit"} <= set(hw[0]) or not (_opt(hw[0], "-file") or "").endswith(".xsa"):
        out.append(f"write_hw_platform {hw}: wants -fixed -include_bit -file *.xsa")
    files = {Path(_opt(a, "-file") or "").name for a in rec.of("report_utilization") + rec.of("report_timing_summary")}
    for f in ("utilization.rpt", "timing_summary.rpt"):
        if f not in files:
            out.append(f"report {f} not written")
    return out


def _top_ports(top_sv: Path) -> set:
    text = Path(top_sv).read_text()
    return set(re.findall(r"^\s*(?:input|output|inout)\s+(?:wire\s+|logic\s+)?(?:\[[^\]]*\]\s*)?(\w+)", text, re.M))


def check_package(rec: Recorded, design: dict, top_sv: Path | None = None) -> list[str]:
    """The IP packaging: sources in order with the memory files, stream interfaces (their ports those
    of the top module `top_sv`, when given), clock/reset, FREQ_HZ."""
    out = []
    if top_sv is not None:
        ports = _top_ports(top_sv)
        for args in rec.of("ipx::infer_bus_interface"):
            missing = [p for p in args[0].split() if p not in ports]
            if missing:
                out.append(f"ipx::infer_bus_interface names ports {missing} that {Path(top_sv).name} does not have")
    added = [Path(f).name for c in rec.calls if c["cmd"] == "add_files" for f in c["ret"].split()]
    hdl = [f for f in added if not f.endswith(".mem")]
    if hdl[: len(design["files"])] != design["files"]:
        out.append(f"HDL files {hdl} differ from design.json's order {design['files']}")
    mems = {Path(a[-1].split(":")[-1]).name for a in rec.of("set_property") if a[:2] == ["type", "mem"]}
    for m in design.get("mem_files", []):
        if m not in added or m not in mems:
            out.append(f"memory file {m} is not packaged as a mem file")
    sin, sout = design["dma"]["in"]["port"], design["dma"]["out"]["port"]
    clk, rst = design.get("clock_port", "ap_clk"), design.get("reset_port", "ap_rst_n")
    modes = {a[2]: a[1] for a in rec.of("set_property") if a[0] == "interface_mode"}
    for name, mode in ((sin, "slave"), (sout, "master")):
        if modes.get(f"busif:{name}") != mode:
            out.append(f"stream interface {name} is not an AXI-Stream {mode}")
    assoc = [" ".join(a[:-1]) for a in rec.of("ipx::associate_bus_interfaces")]
    for want in (f"-busif {sin} -clock {clk}", f"-busif {sout} -clock {clk}", f"-clock {clk} -reset {rst}"):
        if want not in assoc:
            out.append(f"no ipx::associate_bus_interfaces {want}")
    values = {a[2]: a[1] for a in rec.of("set_property") if a[0] == "value"}
    polarity = "ACTIVE_LOW" if design.get("reset_active_low", True) else "ACTIVE_HIGH"
    if values.get(f"busparam:busif:{rst}:POLARITY") != polarity:
        out.append(f"reset {rst} POLARITY is not {polarity}")
    if values.get(f"busparam:busif:{clk}:FREQ_HZ") != str(int(round(float(design["clock_mhz"]) * 1e6))):
        out.append(f"clock {clk} FREQ_HZ is not {design['clock_mhz']} MHz")
    if not rec.of("ipx::save_core"):
        out.append("the core is never saved")
    return out


def run_vitis_py(script: Path, timeout: float = 60) -> list[dict]:
    """Run create_app.py under python with the stub `vitis` module first on the path; return its calls."""
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.jsonl"
        env = dict(os.environ, QLOOM_STUB_LOG=str(log), PYTHONPATH=str(STUB.parent))
        res = subprocess.run([sys.executable, str(script)], cwd=script.parent, env=env, capture_output=True,
                             text=True, timeout=timeout)
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if res.returncode != 0:
        raise TclStubError(f"{script.name} failed under the vitis stub: {(res.stderr or res.stdout).strip()}")
    return calls


def check_vitis(py_calls: list[dict], tcl_calls: list[dict], deploy: Path, cpu: str, defines: list[str]) -> list[str]:
    """Both Vitis scripts: a standalone platform for `cpu` from out/qloom.xsa, the app from sw/, built."""
    out = []
    xsa = str((deploy / "out" / "qloom.xsa").resolve())
    by = {c["cmd"]: c["kwargs"] for c in py_calls}
    plat = by.get("client.create_platform_component", {})
    if str(Path(plat.get("hw_design", "")).resolve()) != xsa or plat.get("cpu") != cpu or plat.get("os") != "standalone":
        out.append(f"vitis -s: platform {plat}, wants standalone on {cpu} from {xsa}")
    imp = by.get("app.import_files", {})
    if str(Path(imp.get("from_loc", "")).resolve()) != str((deploy / "sw").resolve()):
        out.append(f"vitis -s: sources imported from {imp.get('from_loc')}, not deploy/sw")
    sources = sorted(p.name for p in (deploy / "sw").iterdir() if p.suffix in (".c", ".h"))
    if sorted(imp.get("files", [])) != sources:
        out.append(f"vitis -s: imported {imp.get('files')}, deploy/sw has {sources}")
    cfg = by.get("app.set_app_config", {})
    if defines and cfg.get("values") != defines:
        out.append(f"vitis -s: compile definitions {cfg}, want {defines}")
    order = [c["cmd"] for c in py_calls]
    for step in ("platform.build", "client.create_app_component", "app.build"):
        if step not in order:
            out.append(f"vitis -s: no {step}")
    rec = Recorded(tcl_calls)
    plats = [a for a in rec.of("platform") if a[0] == "create"]
    if not plats or str(Path(_opt(plats[0], "-hw") or "").resolve()) != xsa or _opt(plats[0], "-proc") != cpu:
        out.append(f"xsct: platform create {plats}, wants -hw {xsa} -proc {cpu}")
    imports = rec.of("importsources")
    if not imports or str(Path(_opt(imports[0], "-path") or "").resolve()) != str((deploy / "sw").resolve()):
        out.append(f"xsct: importsources {imports}, wants -path deploy/sw")
    symbols = [a[-1] for a in rec.of("app") if a[0] == "config" and "define-compiler-symbols" in a]
    if symbols != defines:
        out.append(f"xsct: compiler symbols {symbols}, want {defines}")
    if not any(a[0] == "build" for a in rec.of("app")):
        out.append("xsct: no app build")
    return out


def check_deploy(deploy_dir: Path) -> list[str]:
    """Every script of a deploy folder under the stubs, on a scratch copy (the runs leave files behind):
    the problems of the recorded design, IP package and Vitis scripts ([] when complete)."""
    from qloom import artifacts as A
    from qloom.deploy.vivado import dma_plan

    deploy_dir = Path(deploy_dir)
    facts = A.read_json(deploy_dir / "deploy.json")
    design = json.loads((Path(facts["build_dir"]) / A.RTL_DIR / "design.json").read_text())
    design["clock_mhz"] = facts["clock_mhz"]
    target = facts["target"]
    boards = (target["board_part"].replace("*", "part0:1.0"),) if target.get("board_part_required") else ()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "deploy"
        shutil.copytree(deploy_dir, copy, ignore=shutil.ignore_patterns("vivado", "vivado_ip", "out", "reports",
                                                                        "workspace*", "*.log", "*.jou"))
        try:
            rec = Recorded(run_tcl(copy / "create_project.tcl", boards=boards))
            problems = check_design(rec, design, dma_plan(design), target["processor"])
            problems += check_package(rec, design, copy / "ip" / "src" / f"{design['top']}.sv")
            py, tcl = run_vitis_py(copy / "vitis" / "create_app.py"), run_tcl(copy / "vitis" / "create_app.tcl")
            problems += check_vitis(py, tcl, copy, target["cpu"], facts["compile_defines"])
        except TclStubError as exc:
            problems = [str(exc).replace(str(copy), str(deploy_dir))]
    return problems
