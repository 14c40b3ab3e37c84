"""`qloom verify DIR --level ir|rtl|driver`: compare the built hardware with the QONNX reference.

Writes DIR/verify.json as {"levels": {"ir": {...}, "rtl": {...}}}; any mismatch exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom import artifacts as A
from qloom.errors import QloomError

LEVELS = ("ir", "rtl", "driver")


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="check a build bit-exact against the QONNX reference", description=__doc__)
    p.add_argument("dir", type=Path, help="build folder of `qloom build`")
    p.add_argument("--level", choices=LEVELS, action="append", help="level(s) to verify (default: ir)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, digits, idx:DIR, or random")
    p.add_argument("--frames", type=int, default=1000, help="number of input frames (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs and stalls")
    p.set_defaults(func=run)


def _need(path: Path, stage: str) -> Path:
    if not path.exists():
        raise QloomError(f"{path} is missing: run `qloom build` through the '{stage}' stage first")
    return path


def run(args: argparse.Namespace) -> int:
    from qloom.ir import serialize
    from qloom.verify.inputs import verification_inputs

    d: Path = args.dir
    if not (d / A.BUILD_JSON).exists():
        raise QloomError(f"{d} is not a qloom build folder (no {A.BUILD_JSON}); run `qloom build MODEL --out {d}`")
    levels = args.level or ["ir"]
    graph = serialize.load(_need(d / A.IR_JSON, "streamline"))
    x, labels = verification_inputs(graph, args.dataset, args.frames, args.seed)
    verify_path = d / A.VERIFY_JSON
    report = A.read_json(verify_path) if verify_path.exists() else {"levels": {}}
    failed = []
    for level in levels:
        if level == "ir":
            from qloom.verify.ir import compare
            from qloom.verify.reference import Reference

            entry = compare(graph, Reference(_need(d / A.FRONTEND_ONNX, "frontend")), x, labels)
        elif level == "driver":
            from qloom.verify.driver import verify_driver

            entry = verify_driver(serialize.load(_need(d / A.FOLDED_JSON, "fold")), d, x, labels=labels)
        else:
            from qloom.verify.rtl import verify_rtl

            folded = serialize.load(_need(d / A.FOLDED_JSON, "fold"))
            entry = verify_rtl(folded, _need(d / A.RTL_DIR, "rtl"), x, seed=args.seed, labels=labels)
        entry = {"dataset": args.dataset, **entry}
        report["levels"][level] = entry
        A.write_json(verify_path, report)
        ok = entry["mismatches"] == 0 and entry.get("passed", True)
        status = "OK" if ok else ("MISMATCH" if entry["mismatches"] else f"FAILED ({entry.get('error') or 'see verify.json'})")
        acc = entry.get("ir_accuracy", entry.get("rtl_accuracy"))
        extra = f", accuracy {acc:.4f}" if acc is not None else ""
        if "cycles_per_frame" in entry:
            extra += f", {entry['cycles_per_frame']:.1f} cycles/frame (model {entry['cycles_per_frame_model']})"
        print(f"[{level}] {entry['frames']} frames, {entry['mismatches']} mismatches{extra}: {status}")
        if not ok:
            failed.append(level)
    if failed:
        print(f"verification FAILED at level(s) {', '.join(failed)}; details in {verify_path}")
        return 1
    return 0
