"""Folding: how much parallelism (PE, SIMD) and which memories each layer gets.

The stage between streamlining and the backends. A folding is set from a hand-written
JSON file (`apply_folding_file`), or found automatically (`auto_fold`) for a target frame
rate or to fill a board; `performance`, `resources` and `report` estimate what a folded
graph costs and how fast it runs. Each layer's stream interface and cycles come from
`qloom.hw.interface`; the costs of its parts from the backend's cost model (`model.py`: the
interface; the RTL backend's is `qloom.backends.rtl.cost`, calibrated against Yosys
synth_xilinx with every constant in `qloom.backends.rtl.coeffs.Coefficients`), which
`resources.py` adds up over a graph (`calibration.py` compares the two per layer).
`resolve_mem_styles` stores what "auto" memory styles become (the folded IR says what is built).
`finn_greedy_fold` is FINN's SetFolding heuristic, kept as the baseline auto folding is
measured against.
"""

from qloom.fold.auto import auto_fold
from qloom.fold.boards import Board, get_board, list_boards
from qloom.fold.cycles import latency_cycles, performance
from qloom.fold.folding_file import apply_folding_file, folding_dict, save_folding
from qloom.fold.greedy import finn_greedy_fold
from qloom.fold.memstyle import resolve_mem_styles
from qloom.fold.model import CostModel, cost_model
from qloom.fold.report import report
from qloom.fold.resources import layer_resources, memory_styles, resources
from qloom.fold.rules import legal_values, set_folding
from qloom.hw import layer_cycles

__all__ = [
    "apply_folding_file", "save_folding", "folding_dict", "auto_fold", "finn_greedy_fold",
    "performance", "layer_cycles", "latency_cycles", "resources", "layer_resources",
    "memory_styles", "report", "Board", "get_board", "list_boards", "CostModel", "cost_model",
    "legal_values", "set_folding", "resolve_mem_styles",
]
