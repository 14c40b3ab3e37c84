"""The deploy stage: from a build folder's rtl/ to everything a board needs, in DIR/deploy/.

    deploy/ip/src/            the RTL and memory files (a self-contained copy of rtl/)
    deploy/package_ip.tcl     Vivado IP packaging
    deploy/create_project.tcl block design, bitstream, XSA, reports (sources package_ip.tcl)
    deploy/constraints.xdc    board I/O (MicroBlaze designs only)
    deploy/build.sh           vivado -mode batch -source create_project.tcl
    deploy/vitis/             create_app.py (Vitis Unified) and create_app.tcl (xsct)
    deploy/sw/, deploy/pynq/  bare-metal C and PYNQ drivers (qloom.deploy.drivers)
    deploy/README.md          the steps for this board and this build
    deploy/deploy.json        what was written (with checksums) and the target's facts

The folder is written to a temporary sibling and renamed into place. Re-deploying keeps what
qloom did not write (a Vivado project, reports, a Vitis workspace) and files edited since.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import asdict
from pathlib import Path

from qloom import artifacts as A
from qloom.deploy import vitis, vivado
from qloom.deploy.presets import MICROBLAZE, Target, get_target
from qloom.errors import QloomError
from qloom.fold.boards import DEFAULT_CLOCK_MHZ

DEPLOY_DIR = A.DEPLOY_DIR
MANIFEST = "deploy.json"
GENERATOR = "qloom deploy"


def load_design(build_dir: Path) -> dict:
    """rtl/design.json with the DMA contract keys; clock_mhz is the folding's clock."""
    path = Path(build_dir) / A.RTL_DIR / "design.json"
    if not path.exists():
        raise QloomError(f"{build_dir} has no {A.RTL_DIR}/design.json: run `qloom build MODEL --out {build_dir}` "
                         "through the rtl stage first")
    design = A.read_json(path)
    if "dma" not in design:
        raise QloomError(f"{path} has no 'dma' interface description (built by an older qloom): "
                         f"rebuild with `qloom build MODEL --out {build_dir}`")
    # The PL clock is the folding's (report.json); design.json's clock_mhz is the same number once the
    # pipeline passes it to the RTL generator, and the fallback for a folder without report.json.
    report = Path(build_dir) / A.REPORT_JSON
    folded = A.read_json(report).get("clock_mhz") if report.exists() else None
    design["clock_mhz"] = float(folded or design.get("clock_mhz") or DEFAULT_CLOCK_MHZ)
    return design


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(root: Path, rel: str, text: str, executable: bool = False) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    if executable:
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _check_fit(target: Target, design: dict, build_dir: Path, mem: vivado.MbMemory) -> None:
    if not target.bram18:
        return
    report = Path(build_dir) / A.REPORT_JSON
    used = A.read_json(report).get("totals", {}).get("BRAM18", 0) if report.exists() else 0
    if used + mem.bram18 > target.bram18:
        raise QloomError(f"{target.name}: the MicroBlaze memories ({mem.local_bytes // 1024} KiB local + "
                         f"{mem.dma_bytes // 1024} KiB DMA = {mem.bram18} BRAM18) and the design ({used} BRAM18) "
                         f"exceed the part's {target.bram18} BRAM18; embed fewer test frames")


def write_scripts(root: Path, build_dir: Path, design: dict, target: Target, frames: int,
                  dataset: str = "mnist") -> dict:
    """Everything but the drivers into `root`; returns the facts deploy.json records."""
    plan = vivado.dma_plan(design)
    mem = vivado.mb_memory(design, plan, frames) if target.processor == MICROBLAZE else None
    if mem:
        _check_fit(target, design, build_dir, mem)
    rtl = Path(build_dir) / A.RTL_DIR
    for name in [*design["files"], *design.get("mem_files", [])]:
        if not (rtl / name).exists():
            raise QloomError(f"{rtl / name} (listed in design.json) is missing: rebuild the rtl stage")
        (root / "ip" / "src").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rtl / name, root / "ip" / "src" / name)
    _write(root, "package_ip.tcl", vivado.package_ip_tcl(design, target.part))
    _write(root, "create_project.tcl", vivado.create_project_tcl(target, design, plan, mem))
    if mem:
        _write(root, "constraints.xdc", vivado.constraints_xdc(target))
    _write(root, "build.sh", "#!/bin/sh\ncd \"$(dirname \"$0\")\" && exec vivado -mode batch -nojournal "
                             "-log vivado.log -source create_project.tcl\n", executable=True)
    defines = vitis.compile_defines(target, vivado.MB_DMA_BASE if mem else None, mem.dma_bytes if mem else None)
    _write(root, "vitis/create_app.py", vitis.create_app_py(target, defines))
    _write(root, "vitis/create_app.tcl", vitis.create_app_tcl(target, defines))
    facts = {"generator": GENERATOR, "build_dir": str(Path(build_dir).resolve()),
             "target": {k: v for k, v in asdict(target).items() if k != "ps7_config"} | {"cpu": target.cpu},
             "clock_mhz": design["clock_mhz"], "dma": asdict(plan), "cells": vivado.CELLS,
             "ip_vlnv": vivado.IP_VLNV, "frames": frames, "dataset": dataset, "compile_defines": defines,
             "microblaze": {**asdict(mem), "dma_base": vivado.MB_DMA_BASE} if mem else None}
    from qloom.deploy.readme import deploy_readme

    _write(root, "README.md", deploy_readme(target, design, facts, Path(build_dir)))
    return facts


def _carry_over(old: Path, new: Path, manifest: dict) -> list[str]:
    """Move what qloom did not write (or what was edited since) from `old` into `new`."""
    ours = manifest.get("files", {})
    kept = []

    def walk(d: Path):
        for p in sorted(d.iterdir()):
            rel = p.relative_to(old).as_posix()
            if rel == MANIFEST:
                continue
            if p.is_dir() and not p.is_symlink():
                if any(f == rel or f.startswith(rel + "/") for f in ours):
                    walk(p)
                    continue
            elif rel in ours and _sha(p) == ours[rel]:
                continue  # ours, unchanged: replaced by the new one
            dest = new / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists():
                dest.unlink()
            p.replace(dest)
            kept.append(rel)

    walk(old)
    return kept


def write_deploy(build_dir: Path, *, board: str | None, part: str | None, out_dir: Path | None = None,
                 frames: int = 100, dataset: str = "mnist") -> dict:
    """Write DIR/deploy/ (or `out_dir`) for a board or part; returns deploy.json's content.

    `frames` test inputs of `dataset` (as `qloom verify --dataset`) are embedded in the drivers."""
    build_dir = Path(build_dir)
    design = load_design(build_dir)
    target = get_target(board, part)
    out = Path(out_dir) if out_dir else build_dir / DEPLOY_DIR
    old_manifest = _own_manifest(out) if out.exists() else None
    if out.exists() and old_manifest is None:
        if any(out.iterdir()):
            raise QloomError(f"{out} exists and was not written by `qloom deploy`; move it away or choose another folder")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        facts = write_scripts(tmp, build_dir, design, target, frames, dataset)
        from qloom.deploy import drivers

        written = drivers.write_drivers(build_dir, tmp, frames=frames, dataset=dataset)
        facts["drivers"] = sorted(Path(p).resolve().relative_to(tmp.resolve()).as_posix() for p in written)
        files = {p.relative_to(tmp).as_posix(): _sha(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        kept = _carry_over(out, tmp, old_manifest) if old_manifest else []
        facts["files"] = {k: v for k, v in files.items() if k not in kept}  # a kept edit stays the user's
        facts["kept"] = kept
        A.write_json(tmp / MANIFEST, facts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, out)
    return facts


def _swap_in(tmp: Path, out: Path) -> None:
    if out.exists():
        trash = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.replace(trash)
        tmp.replace(out)
        shutil.rmtree(trash)  # holds only files qloom wrote and nobody changed
    else:
        tmp.replace(out)


def _own_manifest(out: Path) -> dict | None:
    """deploy.json of a folder `qloom deploy` wrote, else None."""
    mpath = out / MANIFEST
    if mpath.exists():
        manifest = A.read_json(mpath)
        if manifest.get("generator") == GENERATOR:
            return manifest
    return None


def install(staged: Path, out: Path) -> None:
    """Move a deploy folder written elsewhere (the build's staging folder) to `out`, keeping what
    the user added to or edited in the old `out` (a Vivado project, a Vitis workspace)."""
    if out.exists():
        old_manifest = _own_manifest(out)
        if old_manifest is None and any(out.iterdir()):
            raise QloomError(f"{out} exists and was not written by qloom; move it away and build again")
        if old_manifest:
            manifest = A.read_json(staged / MANIFEST)
            kept = _carry_over(out, staged, old_manifest)
            manifest["files"] = {k: v for k, v in manifest["files"].items() if k not in kept}
            manifest["kept"] = kept
            A.write_json(staged / MANIFEST, manifest)
    _swap_in(staged, out)


def retire(out: Path) -> None:
    """A build that no longer has a deploy stage removes the deploy files qloom wrote (unchanged
    since), and only those: the user's project and edits stay."""
    manifest = _own_manifest(out) if out.exists() else None
    if manifest is None:
        return
    for rel, sha in manifest.get("files", {}).items():
        f = out / rel
        if f.is_file() and _sha(f) == sha:
            f.unlink()
    (out / MANIFEST).unlink()
    for d in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if not any(out.iterdir()):
        out.rmdir()
