"""Legal folding values, checked changes, and the folding file format."""

import json

import pytest
from fold_graphs import dense, tiny_cnn, zoo
from hypothesis import given, strategies as st

from qloom.errors import QloomError
from qloom.fold import apply_folding_file, folding_dict, legal_values, save_folding, set_folding
from qloom.fold.rules import divisors
from qloom.ir import Graph, MemStyle, OutputSpec


@given(st.integers(1, 5000))
def test_divisors_are_exactly_the_divisors(n):
    ds = divisors(n)
    assert list(ds) == [d for d in range(1, n + 1) if n % d == 0]


def test_legal_values_per_kind():
    g = tiny_cnn()
    assert legal_values(g.layer("conv")) == {"pe": (1, 2, 4, 8), "simd": divisors(36), "mem_style": ("auto", "block", "distributed", "registers"),
                                             "mmv": divisors(36)}  # mmv > 1 only at pe = MH, simd = MW
    assert legal_values(g.layer("swg")) == {"simd": (1, 2, 4), "kpar": (1, 2, 3, 4, 6, 9, 12, 18, 36), "mmv": (1, 2)}
    assert legal_values(g.layer("pool")) == {"pe": (1, 2, 4, 8)}
    assert legal_values(g.layer("thr"))["pe"] == (1, 2, 4, 8)
    assert legal_values(g.layer("top")) == {}
    assert legal_values(g.layer("in")) == {}


def test_set_folding_changes_only_the_named_layer():
    g = tiny_cnn()
    g2 = set_folding(g, "conv", pe=4, simd=12, mem_style="block")
    assert (g2.layer("conv").pe, g2.layer("conv").simd, g2.layer("conv").mem_style) == (4, 12, MemStyle.BLOCK)
    assert g.layer("conv").pe == 1  # the input graph is untouched
    assert all(a is b for a, b in zip(g.layers, g2.layers) if a.name != "conv")


@pytest.mark.parametrize("layer, params, needles", [
    ("conv", {"pe": 3}, ["'conv'", "pe=3", "MH=8", "valid choices: 1, 2, 4, 8"]),
    ("conv", {"simd": 5}, ["simd=5", "MW=36", "1, 2, 3, 4, 6, 9, 12, 18, 36"]),
    ("conv", {"simd": 0}, ["simd=0"]),
    ("conv", {"pe": "4"}, ["pe='4'"]),
    ("conv", {"pe": True}, ["pe=True"]),
    ("conv", {"mem_style": "bram"}, ["mem_style='bram'", "auto, block, distributed, registers"]),
    ("conv", {"pee": 2}, ["unknown folding key 'pee'", "pe, simd, mem_style"]),
    ("swg", {"pe": 2}, ["'swg'", "unknown folding key 'pe'", "has simd"]),
    ("pool", {"pe": 3}, ["C=8", "valid choices: 1, 2, 4, 8"]),
    ("top", {"pe": 1}, ["LabelSelect", "no folding parameters"]),
    ("in", {"pe": 1}, ["'in'", "host"]),
    ("nope", {"pe": 1}, ["no layer 'nope'", "swg, conv"]),
])
def test_illegal_folding_names_layer_value_and_choices(layer, params, needles):
    with pytest.raises(QloomError) as err:
        set_folding(tiny_cnn(), layer, **params)
    for needle in needles:
        assert needle in str(err.value)


def test_folding_file_applies_and_round_trips(tmp_path):
    g = tiny_cnn()
    path = tmp_path / "fold.json"
    path.write_text(json.dumps({"layers": {"conv": {"pe": 2, "simd": 9, "mem_style": "distributed"},
                                           "swg": {"simd": 4}, "pool": {"pe": 8}, "thr": {"pe": 4}}}))
    g2 = apply_folding_file(g, path)
    assert (g2.layer("conv").pe, g2.layer("conv").simd, g2.layer("swg").simd, g2.layer("pool").pe) == (2, 9, 4, 8)
    assert g2.layer("conv").mem_style is MemStyle.DISTRIBUTED
    out = save_folding(g2, tmp_path / "saved.json")
    saved = json.loads(out.read_text())
    assert saved["version"] == 1 and saved["graph"] == "tiny_cnn"
    assert set(saved["layers"]) == {"swg", "conv", "pool", "gpool", "thr", "fc"}  # foldable hardware layers
    assert saved["layers"]["conv"] == {"pe": 2, "simd": 9, "mem_style": "distributed"}
    g3 = apply_folding_file(g, out)
    assert folding_dict(g3) == folding_dict(g2)


def test_saved_folding_of_a_zoo_graph_reapplies(tmp_path):
    g = zoo("tfc_w1a1")
    g = set_folding(g, "fc0", pe=16, simd=49, mem_style="block")
    out = save_folding(g, tmp_path / "tfc.json")
    assert folding_dict(apply_folding_file(zoo("tfc_w1a1"), out)) == folding_dict(g)


@pytest.mark.parametrize("content, needles", [
    ('{"layers": {"conv": {"pe": 3}}}', ["fold.json", "'conv'", "pe=3", "valid choices"]),
    ('{"layers": {"conv": {"pe": 2}}, "extra": 1}', ["unknown top-level key", "extra"]),
    ('{"version": 2, "layers": {}}', ["version 2"]),
    ('{"layer": {}}', ["unknown top-level key", "layer"]),
    ('{"layers": {"conv": 4}}', ["'conv'", "expected an object"]),
    ('{"layers": {"missing": {"pe": 1}}}', ["no layer 'missing'"]),
    ('{"layers": {"conv": {"pe": 2,}}}', ["invalid JSON", "line 1"]),
    ('[1, 2]', ["JSON object"]),
])
def test_bad_folding_files_are_user_errors(tmp_path, content, needles):
    path = tmp_path / "fold.json"
    path.write_text(content)
    with pytest.raises(QloomError) as err:
        apply_folding_file(tiny_cnn(), path)
    for needle in needles:
        assert needle in str(err.value)


def test_missing_folding_file(tmp_path):
    with pytest.raises(QloomError, match="cannot read folding file"):
        apply_folding_file(tiny_cnn(), tmp_path / "absent.json")


def test_empty_layers_keep_the_graph():
    from qloom.fold.folding_file import parse_folding
    g = tiny_cnn()
    assert folding_dict(parse_folding({"layers": {}}, g)) == folding_dict(g)


def test_dense_helper_is_legal():
    g = Graph(name="d", layers=(dense(pe=2, simd=4),), output=OutputSpec(scale=None, bias=None))
    assert legal_values(g.layers[0])["pe"] == (1, 2, 4)
