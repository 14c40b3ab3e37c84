"""The drivers of a deploy folder: bare-metal C (`sw/`) and PYNQ (`pynq/`), with test data.

Every design number comes from rtl/design.json's "dma" entry (written by the RTL backend
through `qloom.packing`); nothing here re-derives a width or a layout. The C driver packs
in C from those numbers, and the driver co-simulation (`qloom verify --level driver`)
checks its bytes against `qloom.packing.pack_frames`. The PYNQ driver uses `qloom.packing`
itself: the few pure-numpy modules it needs are copied into `pynq/qloom_lib/`, so the
board needs no qloom install.

Test data (`sw/qloom_data.h`, `pynq/qloom_data.npz`): the first `frames` test images of the
dataset as the first hardware layer takes them, their labels, and the IR's outputs for
them (`qloom.sim` on ir_folded.json, as `verify --level rtl` computes them).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qloom.errors import QloomError
from qloom.fold.boards import DEFAULT_CLOCK_MHZ
from qloom.ir.types import IntType

TEMPLATES = Path(__file__).parent / "templates"
SW_STATIC = ("qloom_board.h", "qloom_board_xil.c", "qloom_driver.c", "main.c")
PYNQ_LIB = ("__init__.py", "errors.py", "ir/types.py", "packing.py")  # what qloom.packing imports
DMA_LENGTH_MAX_BITS = 26  # PG021: the buffer length register is 8..26 bits
MAX_BATCH_FRAMES = 1024  # frames per DMA transfer (the Vivado script sizes the length register for it)


# ---------------------------------------------------------------- design.json "dma"


@dataclass(frozen=True)
class DmaSide:
    """One "dma" port entry of design.json, as the drivers read it."""

    width: int
    words_per_frame: int
    bytes_per_frame: int
    elem_bits: int
    elems_per_word: int
    elems_per_frame: int
    dtype: IntType
    order: str

    @classmethod
    def from_json(cls, d: dict, where: str) -> "DmaSide":
        try:
            side = cls(int(d["width"]), int(d["words_per_frame"]), int(d["bytes_per_frame"]), int(d["elem_bits"]),
                       int(d["elems_per_word"]), int(d["elems_per_frame"]), IntType.parse(d["dtype"]), str(d["order"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise QloomError(f"{where}: bad DMA port description: {exc}; regenerate the RTL (qloom build)") from None
        if side.bytes_per_frame * 8 != side.width * side.words_per_frame or side.elem_bits < side.dtype.bits:
            raise QloomError(f"{where}: {side.words_per_frame} words of {side.width} bits != "
                             f"{side.bytes_per_frame} bytes per frame, or {side.elem_bits}-bit elements "
                             f"too narrow for {side.dtype}")
        return side


def load_dma(rtl_dir: Path) -> dict:
    """design.json with its "dma" sides parsed (`in_dma`, `out_dma`); a one-line error if absent."""
    path = Path(rtl_dir) / "design.json"
    if not path.is_file():
        raise QloomError(f"{path} is missing: run `qloom build` through the 'rtl' stage first")
    design = json.loads(path.read_text())
    dma = design.get("dma")
    if not isinstance(dma, dict) or "in" not in dma or "out" not in dma:
        raise QloomError(f"{path} has no \"dma\" entry (RTL from an older qloom): rebuild with `qloom build`")
    design["in_dma"] = DmaSide.from_json(dma["in"], f"{path} dma.in")
    design["out_dma"] = DmaSide.from_json(dma["out"], f"{path} dma.out")
    return design


def length_bits(design: dict) -> tuple[int, int]:
    """(length register bits, frames per transfer): the Vivado script's DMA plan when present."""
    try:
        from qloom.deploy.vivado import dma_plan
    except ImportError:  # the Vivado scripts are not installed: the widest register PG021 allows
        widest = max(design["in_dma"].bytes_per_frame, design["out_dma"].bytes_per_frame)
        bits = min(DMA_LENGTH_MAX_BITS, max(8, (MAX_BATCH_FRAMES * widest).bit_length()))
        return bits, min(MAX_BATCH_FRAMES, (2**bits - 1) // widest)
    plan = dma_plan(design)
    return plan.length_bits, min(MAX_BATCH_FRAMES, plan.max_frames)


# ---------------------------------------------------------------- templates


def fill(template: str, values: dict[str, object], name: str) -> str:
    """Replace @KEY@ placeholders; a missing or an unused key is an error (a template bug)."""
    keys = set(re.findall(r"@([A-Z_]+)@", template))
    missing, unused = keys - values.keys(), values.keys() - keys
    if missing or unused:
        raise ValueError(f"template {name}: missing {sorted(missing)}, unused {sorted(unused)}")
    return re.sub(r"@([A-Z_]+)@", lambda m: str(values[m.group(1)]), template)


def c_type(t: IntType) -> str:
    """The smallest C integer type holding every value of `t`."""
    for bits in (8, 16, 32):
        if t.signed and -(2 ** (bits - 1)) <= t.min and t.max < 2 ** (bits - 1):
            return f"int{bits}_t"
        if not t.signed and t.max < 2**bits:
            return f"uint{bits}_t"
    raise QloomError(f"{t} elements do not fit a 32-bit C integer")


def _side_keys(prefix: str, s: DmaSide) -> dict[str, object]:
    return {f"{prefix}_WIDTH": s.width, f"{prefix}_WORDS": s.words_per_frame, f"{prefix}_BYTES": s.bytes_per_frame,
            f"{prefix}_ELEM_BITS": s.elem_bits, f"{prefix}_VALUE_BITS": s.dtype.bits,
            f"{prefix}_PER_WORD": s.elems_per_word, f"{prefix}_ELEMS": s.elems_per_frame,
            f"{prefix}_SIGNED": int(s.dtype.signed and not s.dtype.bipolar), f"{prefix}_BIPOLAR": int(s.dtype.bipolar)}


def _c_list(values: np.ndarray) -> str:
    return ", ".join(repr(float(v)) for v in values)


def _pad64(n: int) -> int:
    return -(-n // 64) * 64


def output_affine(design: dict, output) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-class (scale, bias) of the logits when the integers' argmax is not the logits' (else None)."""
    if output is None or design["dma"]["out"].get("kind") == "labels":
        return None
    n = design["out_dma"].elems_per_frame
    scale, bias = np.asarray(output.scale, float).reshape(-1), np.asarray(output.bias, float).reshape(-1)
    if scale.size not in (1, n) or bias.size not in (1, n):
        return None
    if np.unique(scale).size == 1 and scale[0] > 0 and np.unique(bias).size == 1:
        return None
    return np.broadcast_to(scale, (n,)), np.broadcast_to(bias, (n,))


def driver_header(design: dict, batch_frames: int, output=None) -> str:
    """qloom_driver.h: the design's numbers as C macros (`output`: the graph's OutputSpec)."""
    din, dout = design["in_dma"], design["out_dma"]
    affine = output_affine(design, output)
    bits, max_frames = length_bits(design)
    batch = max(1, min(batch_frames, max_frames))
    frame_cycles = max(int(design.get("cycles_per_frame_model") or 0), din.words_per_frame, dout.words_per_frame)
    kind = design["dma"]["out"].get("kind", "logits")
    values = {"TOP": design.get("top", "qloom_top"), "GRAPH": design.get("graph", "?"),
              "IN_ORDER": din.order, "OUT_ORDER": dout.order, "IN_CTYPE": c_type(din.dtype), "IN_DTYPE": din.dtype.name,
              **_side_keys("IN", din), **_side_keys("OUT", dout), "OUT_LABELS": int(kind == "labels"),
              "OUT_AFFINE": int(affine is not None), "OUT_SCALE": _c_list(affine[0]) if affine else "1",
              "OUT_BIAS": _c_list(affine[1]) if affine else "0",
              "CLOCK_MHZ": int(round(float(design.get("clock_mhz") or DEFAULT_CLOCK_MHZ))), "FRAME_CYCLES": frame_cycles,
              "LAYERS": len(design.get("layers") or []) or 1, "LENGTH_BITS": bits, "MAX_BATCH": batch,
              "POOL_BYTES": _pad64(batch * din.bytes_per_frame) + _pad64(batch * dout.bytes_per_frame)}
    return fill((TEMPLATES / "sw" / "qloom_driver.h.in").read_text(), values, "qloom_driver.h.in")


def _c_rows(a: np.ndarray) -> str:
    return ",\n".join("    {" + ", ".join(map(str, row)) + "}" for row in a.tolist())


def data_header(design: dict, images: np.ndarray, labels: np.ndarray | None, expected: np.ndarray) -> str:
    """qloom_data.h: N frames (first hardware layer's integers), labels (-1: none), the IR's outputs."""
    din, dout = design["in_dma"], design["out_dma"]
    n = len(images)
    img = np.asarray(images).reshape(n, -1)
    exp = np.asarray(expected).reshape(n, -1)
    if img.shape[1] != din.elems_per_frame or exp.shape[1] != dout.elems_per_frame:
        raise QloomError(f"test data of {img.shape[1]} in / {exp.shape[1]} out elements per frame does not match "
                         f"design.json ({din.elems_per_frame} / {dout.elems_per_frame})")
    lab = np.full(n, -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)[:n]
    return (f"/* qloom test data: {n} frames, their labels (-1: none) and the IR's outputs (generated). */\n"
            "#ifndef QLOOM_DATA_H\n#define QLOOM_DATA_H\n\n#include <stdint.h>\n\n#include \"qloom_driver.h\"\n\n"
            f"#define QLOOM_DATA_FRAMES {n}\n\n"
            f"static const qloom_in_t qloom_images[{n}][QLOOM_IN_ELEMS_PER_FRAME] = {{\n{_c_rows(img)}\n}};\n\n"
            f"static const int16_t qloom_labels[{n}] = {{{', '.join(map(str, lab.tolist()))}}};\n\n"
            f"static const int32_t qloom_expected[{n}][QLOOM_OUT_ELEMS_PER_FRAME] = {{\n{_c_rows(exp)}\n}};\n\n"
            "#endif\n")


# ---------------------------------------------------------------- writers


def write_sw(design: dict, sw_dir: Path, images: np.ndarray, labels: np.ndarray | None,
             expected: np.ndarray, output=None) -> list[Path]:
    """The bare-metal C driver, its board layer, main.c and qloom_data.h into `sw_dir`."""
    sw_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SW_STATIC:
        shutil.copyfile(TEMPLATES / "sw" / name, sw_dir / name)
        written.append(sw_dir / name)
    for name, text in (("qloom_driver.h", driver_header(design, len(images), output)),
                       ("qloom_data.h", data_header(design, images, labels, expected))):
        (sw_dir / name).write_text(text)
        written.append(sw_dir / name)
    return written


def write_pynq(design: dict, pynq_dir: Path, images: np.ndarray, labels: np.ndarray | None,
               expected: np.ndarray, output=None) -> list[Path]:
    """qloom_pynq.py, its design numbers (qloom_design.json), test data and the packing modules."""
    import qloom

    pynq_dir.mkdir(parents=True, exist_ok=True)
    src = Path(qloom.__file__).parent
    written = []
    for rel in PYNQ_LIB:
        dst = pynq_dir / "qloom_lib" / "qloom" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel == "__init__.py":  # the package's own __init__ imports the toolchain: not needed here
            dst.write_text('"""The part of qloom the PYNQ driver uses (copied by qloom deploy)."""\n')
        else:
            shutil.copyfile(src / rel, dst)
        written.append(dst)
    (pynq_dir / "qloom_lib" / "qloom" / "ir" / "__init__.py").write_text("")
    written.append(pynq_dir / "qloom_lib" / "qloom" / "ir" / "__init__.py")
    _, max_frames = length_bits(design)
    keep = {k: design[k] for k in ("top", "graph", "dma", "clock_mhz", "cycles_per_frame_model") if k in design}
    keep["max_batch"] = max_frames
    affine = output_affine(design, output)
    if affine is not None:  # the logits' per-class scale and bias, for the argmax
        keep["output_scale"], keep["output_bias"] = affine[0].tolist(), affine[1].tolist()
    (pynq_dir / "qloom_design.json").write_text(json.dumps(keep, indent=1) + "\n")
    n = len(images)
    np.savez_compressed(pynq_dir / "qloom_data.npz", images=np.asarray(images).reshape(n, -1),
                        labels=np.full(n, -1) if labels is None else np.asarray(labels)[:n],
                        expected=np.asarray(expected).reshape(n, -1))
    shutil.copyfile(TEMPLATES / "pynq" / "qloom_pynq.py", pynq_dir / "qloom_pynq.py")
    written += [pynq_dir / "qloom_design.json", pynq_dir / "qloom_data.npz", pynq_dir / "qloom_pynq.py"]
    return written


def hardware_io(graph, x: np.ndarray, design: dict) -> tuple[np.ndarray, np.ndarray]:
    """(integer frames of the first hardware layer, the IR's integer outputs) for model inputs x.

    The IR is taken as the design implements it (design.json dma.out.kind: labels or logits)."""
    from qloom import sim
    from qloom.backends.rtl.out_kind import with_out_kind

    graph = with_out_kind(graph, design["dma"]["out"].get("kind"))
    if graph.input_quant is not None:  # the host applies the input quantizer, as verify --level rtl
        want, trace = sim.execute(graph, x, trace=True)
        return trace[graph.layers[0].name], want
    return np.asarray(x), sim.execute(graph, np.asarray(x), start=0)


def write_drivers(build_dir: Path, deploy_dir: Path, *, frames: int = 100, dataset: str = "mnist") -> list[Path]:
    """deploy/sw/* and deploy/pynq/* for the build in `build_dir`; returns the files written."""
    from qloom import artifacts as A
    from qloom.ir import serialize
    from qloom.verify.inputs import verification_inputs

    build_dir, deploy_dir = Path(build_dir), Path(deploy_dir)
    design = load_dma(build_dir / A.RTL_DIR)
    folded = build_dir / A.FOLDED_JSON
    if not folded.is_file():
        raise QloomError(f"{folded} is missing: run `qloom build` through the 'fold' stage first")
    graph = serialize.load(folded)
    x, labels = verification_inputs(graph, dataset, frames)
    hw_in, want = hardware_io(graph, x, design)
    return (write_sw(design, deploy_dir / "sw", hw_in, labels, want, graph.output)
            + write_pynq(design, deploy_dir / "pynq", hw_in, labels, want, graph.output))
