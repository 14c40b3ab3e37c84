"""A Vivado block design as data (cells, interface connections, nets, ports, addresses), printed as Tcl.

The design is built as structure first so its text has one shape for every processor, and
the Tcl stub's recorded calls can be compared with what was meant. Cells are created by
versionless VLNV (`xilinx.com:ip:axi_dma`): Vivado then takes the version it ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def tcl_word(value) -> str:
    """A Tcl word in braces (no substitution); values are plain property text."""
    text = str(value)
    if any(c in text for c in "{}\\\n"):
        raise ValueError(f"value {text!r} cannot be braced in Tcl")
    return "{" + text + "}"


def tcl_dict(config: dict) -> str:
    items = " ".join(f"CONFIG.{k} {tcl_word(v)}" for k, v in config.items())
    return f"[list {items}]"


@dataclass
class Cell:
    name: str
    vlnv: str
    config: dict = field(default_factory=dict)


@dataclass
class BlockDesign:
    name: str
    cells: list[Cell] = field(default_factory=list)
    intf: list[tuple[str, str]] = field(default_factory=list)  # (master pin, slave pin) as "cell/PIN"
    nets: list[list[str]] = field(default_factory=list)  # [driver, loads...], "cell/pin" or a port name
    ports: list[tuple[str, str, str, dict]] = field(default_factory=list)  # (name, dir, type, props)
    intf_ports: list[tuple[str, str, str]] = field(default_factory=list)  # (name, mode, vlnv)
    addresses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (space, segment, offset, range)
    raw: list[str] = field(default_factory=list)  # Tcl run right after the cells are made (PS automation)

    def cell(self, name: str, vlnv: str, **config) -> str:
        self.cells.append(Cell(name, vlnv, dict(config)))
        return name

    def connect(self, master: str, slave: str) -> None:
        self.intf.append((master, slave))

    def net(self, driver: str, *loads: str) -> None:
        self.nets.append([driver, *loads])

    def port(self, name: str, direction: str, kind: str = "data", **props) -> None:
        self.ports.append((name, direction, kind, props))

    def intf_port(self, name: str, mode: str, vlnv: str) -> None:
        self.intf_ports.append((name, mode, vlnv))

    def address(self, space: str, segment: str, offset: str, size: str) -> None:
        self.addresses.append((space, segment, offset, size))

    def tcl(self) -> str:
        out = [f"create_bd_design {self.name}", ""]
        for c in self.cells:
            out.append(f"set cell [create_bd_cell -type ip -vlnv {c.vlnv} {c.name}]")
            if c.config:
                out.append(f"set_property -dict {tcl_dict(c.config)} $cell")
        out += ["", *self.raw, ""]
        for name, mode, vlnv in self.intf_ports:
            out.append(f"create_bd_intf_port -mode {mode} -vlnv {vlnv} {name}")
        for name, direction, kind, props in self.ports:
            opts = f" -type {kind}" if kind != "data" else ""
            opts += "".join(f" -{k} {tcl_word(v)}" for k, v in props.items() if k == "freq_hz")
            out.append(f"create_bd_port -dir {direction}{opts} {name}")
            for k, v in props.items():
                if k != "freq_hz":
                    out.append(f"set_property CONFIG.{k} {tcl_word(v)} [get_bd_ports {name}]")
        out.append("")
        for master, slave in self.intf:
            out.append(f"connect_bd_intf_net {_intf_ref(master, self)} {_intf_ref(slave, self)}")
        for driver, *loads in self.nets:
            out.append("connect_bd_net " + " ".join(_pin_ref(p, self) for p in (driver, *loads)))
        out.append("")
        for space, seg, offset, size in self.addresses:  # the fixed ones first, then everything else
            out.append(f"assign_bd_address -offset {offset} -range {size} "
                       f"-target_address_space [get_bd_addr_spaces {space}] [get_bd_addr_segs {seg}]")
        out.append("assign_bd_address")
        return "\n".join(out) + "\n"


def _is_port(ref: str, bd: BlockDesign) -> bool:
    return "/" not in ref


def _intf_ref(ref: str, bd: BlockDesign) -> str:
    return f"[get_bd_intf_ports {ref}]" if _is_port(ref, bd) else f"[get_bd_intf_pins {ref}]"


def _pin_ref(ref: str, bd: BlockDesign) -> str:
    return f"[get_bd_ports {ref}]" if _is_port(ref, bd) else f"[get_bd_pins {ref}]"
