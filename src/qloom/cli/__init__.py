"""The `qloom` command line: one module per subcommand, each with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from qloom.errors import QloomError

# subcommand name -> module under qloom.cli (each defines add_parser(subparsers) and run(args) -> int)
SUBCOMMANDS = {
    "train": "train",
    "build": "build",
    "verify": "verify",
    "demo": "demo",
    "boards": "boards",
    "deploy": "deploy",
    "quantize": "quantize",
    "analyze": "analyze",
    "report": "report",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its one-line message."""


DESCRIPTION = """qloom: quantized neural networks from PyTorch to verified FPGA dataflow hardware.

Train and quantize a network, compile its QONNX export into an integer-only dataflow design
(IR, folding, Verilog, Yosys resource counts), and prove the hardware bit-exact in simulation."""

EPILOG = """typical flow:
  qloom train --model tfc-w1a1 --dataset mnist --out runs/tfc
  qloom build runs/tfc/model.onnx --out builds/tfc --board pynq-z2
  qloom verify builds/tfc --level ir --level rtl
  qloom demo                     (all of the above on the default model)
run `qloom COMMAND --help` for a command's options."""


def make_parser() -> argparse.ArgumentParser:
    from qloom import __version__

    parser = _Parser(prog="qloom", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"qloom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"qloom.cli.{module}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet must not break the others
            if exc.name != f"qloom.cli.{module}":
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QloomError as exc:
        print(f"qloom {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a full disk, a read-only folder: the machine's state, not a qloom bug
        print(f"qloom {args.command}: error: {os_error_message(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qloom: interrupted", file=sys.stderr)
        return 130


_OS_HINTS = {
    errno.ENOSPC: "free some disk space and run the command again",
    errno.EDQUOT: "free some disk space and run the command again",
    errno.EACCES: "check the folder's permissions",
    errno.EPERM: "check the folder's permissions",
    errno.EROFS: "write to a folder on a writable file system",
}


def os_error_message(exc: OSError, args: argparse.Namespace) -> str:
    """One line naming the path and the cause. A failed write() carries no file name: then the
    command's output folder is named as where it happened."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if paths:
        where = " -> ".join(paths)
    else:
        folder = next((getattr(args, a) for a in ("out", "dir") if getattr(args, a, None) is not None), None)
        where = f"writing in {folder}" if folder is not None else "reading or writing a file"
    hint = _OS_HINTS.get(exc.errno)
    return f"{where}: {cause}" + (f"; {hint}" if hint else "")


if __name__ == "__main__":
    sys.exit(main())
