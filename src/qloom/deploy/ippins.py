"""The pins of the Xilinx IPs our block designs use, as far as a connection check needs them.

For each IP (by VLNV name, given its CONFIG values): interface pins that must be connected
("master" / "slave" / "external": made external by the PS automation), clock inputs, reset
inputs by polarity, required plain inputs, and outputs (clock, reset, other). Pin names are
the IPs' documented ones (PG021 axi_dma, PG082 processing_system7, PG201 zynq_ultra_ps_e,
PG247 smartconnect, PG164 proc_sys_reset, DS865 lmb_bram_if_cntlr, PG142 axi_uartlite,
PG079 axi_timer, PG078 axi_bram_ctrl, PG065 clk_wiz, UG984 MicroBlaze).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pins:
    master: set = field(default_factory=set)
    slave: set = field(default_factory=set)
    external: set = field(default_factory=set)
    clock: set = field(default_factory=set)  # clock inputs
    reset_n: set = field(default_factory=set)  # active-low reset inputs
    reset_p: set = field(default_factory=set)  # active-high reset inputs
    inputs: set = field(default_factory=set)  # other required inputs
    clock_out: set = field(default_factory=set)
    reset_n_out: set = field(default_factory=set)
    reset_p_out: set = field(default_factory=set)
    outputs: set = field(default_factory=set)  # other outputs (may drive a net, may be left open)
    optional: set = field(default_factory=set)  # may be left open

    def all(self) -> set:
        return set().union(self.master, self.slave, self.external, self.clock, self.reset_n, self.reset_p,
                           self.inputs, self.clock_out, self.reset_n_out, self.reset_p_out, self.outputs,
                           self.optional)


def _on(config: dict, key: str, default: str = "0") -> bool:
    return str(config.get(key, default)) in ("1", "true")


def _ps7(c):
    p = Pins(external={"DDR", "FIXED_IO"}, clock_out={"FCLK_CLK0"}, reset_n_out={"FCLK_RESET0_N"},
             optional={"IRQ_F2P"})
    if _on(c, "PCW_USE_M_AXI_GP0"):
        p.master.add("M_AXI_GP0")
        p.clock.add("M_AXI_GP0_ACLK")
    if _on(c, "PCW_USE_S_AXI_HP0"):
        p.slave.add("S_AXI_HP0")
        p.clock.add("S_AXI_HP0_ACLK")
    return p


def _psu(c):
    # apply_board_preset enables HPM0_FPD, HPM1_FPD and HPM0_LPD: each left on needs its clock
    p = Pins(clock_out={"pl_clk0"}, reset_n_out={"pl_resetn0"}, optional={"pl_ps_irq0"})
    for key, intf, clk in (("PSU__USE__M_AXI_GP0", "M_AXI_HPM0_FPD", "maxihpm0_fpd_aclk"),
                           ("PSU__USE__M_AXI_GP1", "M_AXI_HPM1_FPD", "maxihpm1_fpd_aclk"),
                           ("PSU__USE__M_AXI_GP2", "M_AXI_HPM0_LPD", "maxihpm0_lpd_aclk")):
        if _on(c, key, "1"):
            p.master.add(intf)
            p.clock.add(clk)
    if _on(c, "PSU__USE__S_AXI_GP2"):
        p.slave.add("S_AXI_HP0_FPD")
        p.clock.add("saxihp0_fpd_aclk")
    return p


def _dma(c):
    p = Pins(reset_n={"axi_resetn"}, optional={"mm2s_introut", "s2mm_introut"})
    p.slave.add("S_AXI_LITE")
    p.clock.add("s_axi_lite_aclk")
    if _on(c, "c_include_sg", "1"):
        p.master.add("M_AXI_SG")
        p.clock.add("m_axi_sg_aclk")
    if _on(c, "c_include_mm2s", "1"):
        p.master |= {"M_AXI_MM2S", "M_AXIS_MM2S"}
        p.clock.add("m_axi_mm2s_aclk")
    if _on(c, "c_include_s2mm", "1"):
        p.master.add("M_AXI_S2MM")
        p.slave.add("S_AXIS_S2MM")
        p.clock.add("m_axi_s2mm_aclk")
    return p


def _smartconnect(c):
    p = Pins(clock={"aclk"}, reset_n={"aresetn"})
    p.slave |= {f"S{i:02d}_AXI" for i in range(int(c.get("NUM_SI", 1)))}
    p.master |= {f"M{i:02d}_AXI" for i in range(int(c.get("NUM_MI", 1)))}
    return p


def _proc_sys_reset(c):
    return Pins(clock={"slowest_sync_clk"}, inputs={"ext_reset_in"},
                optional={"aux_reset_in", "mb_debug_sys_rst", "dcm_locked"},
                reset_p_out={"mb_reset", "bus_struct_reset", "peripheral_reset"},
                reset_n_out={"interconnect_aresetn", "peripheral_aresetn"})


def _microblaze(c):
    p = Pins(master={"ILMB", "DLMB"}, clock={"Clk"}, reset_p={"Reset"}, optional={"Interrupt"})
    if _on(c, "C_D_AXI"):
        p.master.add("M_AXI_DP")
    if _on(c, "C_DEBUG_ENABLED", "1"):
        p.slave.add("DEBUG")
    return p


def _blk_mem_gen(c):
    dual = c.get("Memory_Type", "Single_Port_RAM") in ("True_Dual_Port_RAM", "Simple_Dual_Port_RAM")
    return Pins(slave={"BRAM_PORTA", "BRAM_PORTB"} if dual else {"BRAM_PORTA"})


def _axi_bram_ctrl(c):
    single = _on(c, "SINGLE_PORT_BRAM")
    return Pins(slave={"S_AXI"}, master={"BRAM_PORTA"} if single else {"BRAM_PORTA", "BRAM_PORTB"},
                clock={"s_axi_aclk"}, reset_n={"s_axi_aresetn"})


def _clk_wiz(c):
    p = Pins(inputs={"clk_in1"}, clock_out={"clk_out1"}, outputs={"locked"})
    (p.inputs if c.get("RESET_TYPE") == "ACTIVE_LOW" else p.optional).add(c.get("RESET_PORT", "reset"))
    return p


TABLE = {
    "processing_system7": _ps7,
    "zynq_ultra_ps_e": _psu,
    "axi_dma": _dma,
    "smartconnect": _smartconnect,
    "proc_sys_reset": _proc_sys_reset,
    "microblaze": _microblaze,
    "mdm": lambda c: Pins(master={"MBDEBUG_0"}, reset_p_out={"Debug_SYS_Rst"}),
    # lmb_v10: LMB_M faces the processor's master port, LMB_Sl_0 the controller's slave port
    "lmb_v10": lambda c: Pins(slave={"LMB_M"}, master={"LMB_Sl_0"}, clock={"LMB_Clk"}, reset_p={"SYS_Rst"}),
    "lmb_bram_if_cntlr": lambda c: Pins(slave={"SLMB"}, master={"BRAM_PORT"}, clock={"LMB_Clk"}, reset_p={"LMB_Rst"}),
    "blk_mem_gen": _blk_mem_gen,
    "axi_uartlite": lambda c: Pins(slave={"S_AXI"}, master={"UART"}, clock={"s_axi_aclk"}, reset_n={"s_axi_aresetn"},
                                   optional={"interrupt"}),
    "axi_timer": lambda c: Pins(slave={"S_AXI"}, clock={"s_axi_aclk"}, reset_n={"s_axi_aresetn"},
                                optional={"interrupt", "generateout0", "generateout1", "pwm0", "capturetrig0",
                                          "capturetrig1", "freeze"}),
    "axi_bram_ctrl": _axi_bram_ctrl,
    "clk_wiz": _clk_wiz,
}


def qloom_ip_pins(design: dict) -> Pins:
    """Our packaged IP: the stream ports and clock/reset named in design.json."""
    low = design.get("reset_active_low", True)
    rst = design.get("reset_port", "ap_rst_n")
    return Pins(slave={design["dma"]["in"]["port"]}, master={design["dma"]["out"]["port"]},
                clock={design.get("clock_port", "ap_clk")},
                reset_n={rst} if low else set(), reset_p=set() if low else {rst})
