"""Vitis scripts: a standalone platform from the XSA, and the bare-metal app from deploy/sw/.

`create_app.py` is for the Vitis Unified IDE's Python API (`vitis -s create_app.py`,
2023.2 and later); `create_app.tcl` for xsct (Vitis classic, 2019.2-2023.1). Both build the
same application: the sources of the deploy folder's sw/ (written by qloom.deploy.drivers).
"""

from __future__ import annotations

from qloom.deploy.presets import MICROBLAZE, Target

PLATFORM, APP = "qloom_platform", "qloom_app"


def compile_defines(target: Target, dma_base: int | None, dma_bytes: int | None) -> list[str]:
    """Symbols the app is compiled with: on MicroBlaze, the AXI BRAM holding the driver's DMA buffer pool
    (the local memory is not DMA-reachable). The board layer (qloom_board_xil.c) also finds it in
    xparameters.h; the explicit values keep it independent of the Vitis release's macro names."""
    if target.processor != MICROBLAZE:
        return []
    return [f"QLOOM_POOL_BASE=0x{dma_base:08X}", f"QLOOM_POOL_BYTES={dma_bytes}"]


def create_app_py(target: Target, defines: list[str]) -> str:
    return f'''"""Vitis Unified (2023.2+): platform from ../out/qloom.xsa, app from ../sw. Run: vitis -s create_app.py"""
import os

import vitis

here = os.path.dirname(os.path.abspath(__file__))
deploy = os.path.dirname(here)
xsa = os.path.join(deploy, "out", "qloom.xsa")
sw = os.path.join(deploy, "sw")
workspace = os.path.join(here, "workspace")
if not os.path.exists(xsa):
    raise SystemExit(f"qloom: {{xsa}} is missing: run ../build.sh (Vivado) first")

client = vitis.create_client()
client.set_workspace(path=workspace)
domain = "standalone_{target.cpu}"
platform = client.create_platform_component(name="{PLATFORM}", hw_design=xsa, os="standalone",
                                            cpu="{target.cpu}", domain_name=domain)
platform.build()
xpfm = os.path.join(workspace, "{PLATFORM}", "export", "{PLATFORM}", "{PLATFORM}.xpfm")
app = client.create_app_component(name="{APP}", platform=xpfm, domain=domain, template="empty_application")
sources = sorted(f for f in os.listdir(sw) if f.endswith((".c", ".h")))  # the driver, its board layer, main, data
app.import_files(from_loc=sw, files=sources, dest_dir_in_cmp="src")
defines = {defines!r}
if defines:
    app.set_app_config(key="USER_COMPILE_DEFINITIONS", values=defines)
app.build()
print(f"qloom: {{os.path.join(workspace, '{APP}', 'build', '{APP}.elf')}}")
vitis.dispose()
'''


def create_app_tcl(target: Target, defines: list[str]) -> str:
    lines = ["# xsct (Vitis classic, 2019.2-2023.1): platform from ../out/qloom.xsa, app from ../sw.",
             "# Run: xsct create_app.tcl",
             "set here [file dirname [file normalize [info script]]]",
             "set deploy [file dirname $here]",
             "set xsa [file join $deploy out qloom.xsa]",
             "if {![file exists $xsa]} { error \"qloom: $xsa is missing: run ../build.sh (Vivado) first\" }",
             "set ws [file join $here workspace_xsct]",
             "setws $ws",
             f"platform create -name {PLATFORM} -hw $xsa -proc {target.cpu} -os standalone -out $ws",
             "platform write",
             "platform generate",
             f"app create -name {APP} -platform {PLATFORM} -template {{Empty Application(C)}}",
             f"importsources -name {APP} -path [file join $deploy sw]"]
    lines += [f"app config -name {APP} -add define-compiler-symbols {{{d}}}" for d in defines]
    lines += [f"app config -name {APP} build-config release",
              f"app build -name {APP}",
              f"puts \"qloom: [file join $ws {APP} Release {APP}.elf]\"", ""]
    return "\n".join(lines)
