"""`qloom demo`: the whole flow on an embedded default, end to end.

Trains the default model (TFC-w1a1 on MNIST, QAT), exports QONNX, builds it for the course
board (IR, folding for the board, Verilog, the deploy folder with Vivado/Vitis scripts and
drivers, Yosys), and verifies the IR on the full test set, the RTL under random backpressure,
and the bare-metal C and PYNQ drivers against a simulated AXI DMA and the RTL. Every artifact
lands in --out (default ./qloom-demo).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qloom.pipeline import BuildConfig, build, verify


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train, build and verify the default model end to end", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("qloom-demo"), help="output folder (default ./qloom-demo)")
    p.add_argument("--model", default="tfc-w1a1", help="zoo model (default tfc-w1a1)")
    p.add_argument("--dataset", default="mnist", help="dataset (default mnist)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the model's recipe)")
    p.add_argument("--board", default="zybo-z7-20", help="board to fold and deploy for (default zybo-z7-20)")
    p.add_argument("--target-fps", type=float, default=1e6,
                   help="frame rate target (default 1e6, FINN-class TFC throughput); 0: the fastest that fits the board")
    p.add_argument("--ir-frames", type=int, default=10000, help="test images through the IR (default 10000)")
    p.add_argument("--rtl-frames", type=int, default=1000, help="test images through the RTL simulation (default 1000)")
    p.add_argument("--driver-frames", type=int, default=300,
                   help="test images through the driver co-simulation (C and PYNQ drivers, DMA model, RTL; default 300)")
    p.add_argument("--limit-train", type=int, help="train on the first N images only (smoke runs)")
    p.add_argument("--skip-train", action="store_true", help="reuse OUT/train/model.onnx from an earlier demo")
    p.add_argument("--quiet", action="store_true",
                   help="no progress and no step lines: only the results and the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qloom import progress

    with progress.silenced(args.quiet):
        return _run(args, say=(lambda *a: None) if args.quiet else print)


def _run(args: argparse.Namespace, say) -> int:
    from qloom.errors import QloomError

    out: Path = args.out
    train_dir, build_dir = out / "train", out / "build"
    model = train_dir / "model.onnx"
    if args.skip_train:
        if not model.exists():
            raise QloomError(f"--skip-train: {model} does not exist; run the demo once without it")
    else:
        from qloom.train import train_zoo_model

        say(f"== 1/3 train {args.model} on {args.dataset} (QAT) -> {train_dir}")
        m = train_zoo_model(args.model, args.dataset, train_dir, epochs=args.epochs, seed=0,
                            progress=not args.quiet, limit_train=args.limit_train)
        say(f"   test accuracy {m['test_accuracy']:.4f} in {m['train_seconds']:.0f} s")
    say(f"== 2/3 build {model} -> {build_dir}")
    build(BuildConfig(model=model, out=build_dir, board=args.board, target_fps=args.target_fps or None,
                      dataset=args.dataset), log=say)
    say("== 3/3 verify")
    rc = 0
    for level, frames in (("ir", args.ir_frames), ("rtl", args.rtl_frames), ("driver", args.driver_frames)):
        rc |= verify(build_dir, [level], dataset=args.dataset, frames=frames, seed=0, quiet=args.quiet)
    _summary(build_dir)
    return rc


def _summary(build_dir: Path) -> None:
    from qloom import artifacts as A

    rep = A.read_json(build_dir / A.REPORT_JSON)
    ver = A.read_json(build_dir / A.VERIFY_JSON)["levels"]
    print("\n== summary")
    print(f"   pipeline: {rep['cycles_per_frame']} cycles/frame, {rep['fps']:.0f} frames/s at {rep['clock_mhz']} MHz"
          f" (bottleneck {rep['bottleneck']})")
    tot = rep.get("yosys", {}).get("total") or {}
    if tot:
        est = rep.get("totals_with_dma") or rep.get("totals", {})  # Yosys counts the whole top, DMA side included
        print(f"   Yosys synth_xilinx (not Vivado): {tot.get('slice_LUT', tot.get('LUT'))} LUT (incl. LUTRAM),"
              f" {tot.get('FF')} FF, {tot.get('BRAM18')} BRAM18, {tot.get('DSP', 0)} DSP;"
              f" estimate {est.get('LUT')} LUT, {est.get('BRAM18')} BRAM18, {est.get('DSP')} DSP")
    for level, e in ver.items():
        acc = f", accuracy {e['ir_accuracy']:.4f}" if "ir_accuracy" in e else ""
        ii = f", measured {e['cycles_per_frame']:.1f} cycles/frame" if e.get("cycles_per_frame") else ""
        print(f"   verify {level}: {e['frames']} frames, {e['mismatches']} mismatches{acc}{ii}")
    print(f"   artifacts in {build_dir} (report.json, verify.json, rtl/, deploy/, ir.onnx opens in Netron)")
    if (build_dir / "report.html").exists():
        print(f"   the build as a page: {build_dir / 'report.html'} (open it in a browser)")
    if (build_dir / A.DEPLOY_DIR / "README.md").exists():
        print(f"   next: to a bitstream and the board, follow {build_dir / A.DEPLOY_DIR / 'README.md'}"
              f" (starts with `cd {build_dir / A.DEPLOY_DIR} && ./build.sh`, needs Vivado)")
