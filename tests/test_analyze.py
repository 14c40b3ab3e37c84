"""Quantization analysis (`qloom analyze`): the arithmetic by hand, the page and the JSON from a
small trained model, cross-checked against the Brevitas model itself, and a tiny bit sweep."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from qloom.analyze import analysis_figures, analyze
from qloom.analyze.metrics import asymmetric_grid, compare_grids, sqnr_db, symmetric_grid
from qloom.analyze.sweep import bit_width_sweep, sweep_pairs
from qloom.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ arithmetic


def test_sqnr_of_a_known_tensor():
    x, x_hat = np.array([3.0, 4.0]), np.array([3.0, 3.0])  # signal 9 + 16, noise 1
    assert sqnr_db(x, x_hat) == pytest.approx(10 * np.log10(25.0))
    assert sqnr_db(x, x) is None  # no error: reported as exact, not as infinity
    assert sqnr_db(np.ones(4), np.full(4, 1.1)) == pytest.approx(20.0)  # 4 / (4 * 0.01) = 100


def test_symmetric_and_asymmetric_grids_by_hand():
    x = np.array([0.0, 0.1, 0.5, 1.0])
    # asymmetric, 2 bits: s = (1 - 0) / 3, z = 0, q = round(3x) = 0, 0, 2, 3 (round half even: 0.3 -> 0)
    a = asymmetric_grid(x, 2)
    assert (a.scale, a.zero_point, a.qmin, a.qmax) == (pytest.approx(1 / 3), 0, 0, 3)
    np.testing.assert_allclose(a.fake_quant(x), [0, 0, 2 / 3, 1])
    # symmetric, 2 bits: s = max|x| / (2^1 - 1) = 1, levels -1, 0, 1; 0.5 rounds to 0 (half even)
    s = symmetric_grid(x, 2)
    assert (s.scale, s.zero_point, s.qmin, s.qmax) == (1.0, 0, -1, 1)
    np.testing.assert_allclose(s.fake_quant(x), [0, 0, 0, 1])
    noise_a = 0.1**2 + (0.5 - 2 / 3) ** 2
    noise_s = 0.1**2 + 0.5**2
    c = compare_grids(x, 2)
    assert c["asymmetric"]["sqnr_db"] == pytest.approx(10 * np.log10(1.26 / noise_a))
    assert c["symmetric"]["sqnr_db"] == pytest.approx(10 * np.log10(1.26 / noise_s))
    # a negative minimum gives a nonzero zero point: x in [-1, 2] at 2 bits: s = 1, z = 1
    g = asymmetric_grid(np.array([-1.0, 2.0]), 2)
    assert (g.scale, g.zero_point) == (1.0, 1)
    np.testing.assert_allclose(g.levels(), [-1, 0, 1, 2])
    # 1 bit symmetric: +-max|x|
    np.testing.assert_allclose(symmetric_grid(np.array([-0.2, 0.7]), 1).fake_quant(np.array([-0.2, 0.7])), [-0.7, 0.7])


def test_asymmetric_beats_symmetric_on_one_sided_data_but_not_on_symmetric_data():
    rng = np.random.default_rng(0)
    relu_like = rng.exponential(1.0, 20000)  # one-sided: symmetric wastes its negative half
    for bits in (2, 4, 8):
        c = compare_grids(relu_like, bits)
        assert c["asymmetric"]["sqnr_db"] > c["symmetric"]["sqnr_db"] + 3  # ~ one bit = 6 dB better
    gauss = rng.normal(0, 1, 20000)
    c = compare_grids(gauss, 8)
    assert abs(c["asymmetric"]["sqnr_db"] - c["symmetric"]["sqnr_db"]) < 1.0  # same range: no real gain


def test_sweep_pairs():
    assert sweep_pairs((1, 2)) == [(1, 1), (2, 2)]
    assert sweep_pairs((2, 1), grid=True) == [(1, 1), (1, 2), (2, 1), (2, 2)]


# ------------------------------------------------------------------------------ a small model


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tfc-w2a2-digits")
    assert main(["train", "--model", "tfc-w2a2", "--dataset", "digits", "--epochs", "4", "--out", str(out),
                 "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def analysis(qat_run):
    out = qat_run / "analysis"
    assert main(["analyze", str(qat_run), "--frames", "200", "--out", str(out), "--quiet"]) == 0
    return out


def test_page_and_json(analysis):
    result = json.loads((analysis / "analysis.json").read_text())
    page = (analysis / "analysis.html").read_text()
    assert result["dataset"] == "digits" and result["frames"] == 200  # dataset from the folder's metrics.json
    roles = [l["role"] for l in result["layers"]]
    assert roles == ["input"] + ["weights"] * 4 + ["activation"] * 3  # TFC: pixel quant, 4 weight layers, 3 ReLUs
    for l in result["layers"]:
        assert l["bits"] == (8 if l["role"] == "input" else 2)
        assert sum(l["histogram"]["counts"]) == l["n_values"]
        assert l["grid"]["n_levels"] == (256 if l["role"] == "input" else 3 if l["role"] == "weights" else 4)
        for kind in ("symmetric", "asymmetric"):
            assert kind in l and "sqnr_db" in l[kind]
    assert result["layers"][0]["exact"] and result["layers"][0]["sqnr_db"] is None  # pixel/256 is on the grid
    assert all(isinstance(l["sqnr_db"], float) for l in result["layers"][1:])
    # self-contained: every image inline, a real PNG, and nothing fetched from elsewhere
    images = re.findall(r"<img [^>]*src='([^']+)'", page)
    assert len(images) == 1 + len(result["layers"])  # SQNR summary + one histogram per quantizer
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == PNG
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "<script" not in page
    for l in result["layers"]:
        assert l["name"] in page


def test_figures_come_from_the_json_alone(analysis):
    """The build report embeds the same figures from a saved analysis.json."""
    result = json.loads((analysis / "analysis.json").read_text())
    figs = analysis_figures(result)
    assert len(figs) == 1 + len(result["layers"])
    assert all(isinstance(t, str) and u.startswith("data:image/png;base64,") for t, u in figs)
    from qloom.analyze.html import section_html

    fragment = section_html(result, figs, level=3)
    assert "<html" not in fragment and "<h3>Per-quantizer error</h3>" in fragment
    assert fragment.count("<img ") == len(figs)


def test_sqnr_matches_the_brevitas_model(qat_run, analysis):
    """Cross-check the QONNX-based numbers against the trained Brevitas module directly."""
    from brevitas.nn import QuantLinear, QuantReLU

    from qloom import data
    from qloom.train import load_trained

    result = json.loads((analysis / "analysis.json").read_text())
    weights = [l for l in result["layers"] if l["role"] == "weights"]
    acts = [l for l in result["layers"] if l["role"] == "activation"]
    model = load_trained(qat_run)
    layers = [m for m in model.modules() if isinstance(m, QuantLinear)]
    with torch.no_grad():
        for rec, layer in zip(weights, layers, strict=True):
            want = sqnr_db(layer.weight.numpy(), layer.quant_weight().value.numpy())
            assert rec["sqnr_db"] == pytest.approx(want, rel=1e-6)
        seen = []
        relus = [m for m in model.modules() if isinstance(m, QuantReLU)]
        hooks = [r.register_forward_hook(lambda m, i, o: seen.append((i[0].numpy(), o.numpy()))) for r in relus]
        x, _ = data.load_dataset("digits", "test")
        model(data.to_model_input(x[:200]))
        for h in hooks:
            h.remove()
    for rec, (xin, xout) in zip(acts, seen, strict=True):
        # the QONNX tensor is the Relu output; Brevitas' QuantReLU input is before the ReLU
        assert rec["sqnr_db"] == pytest.approx(sqnr_db(np.maximum(xin, 0), xout), rel=1e-3)


def test_a_ptq_folder_and_a_qonnx_file_are_analyzed(qat_run, tmp_path):
    r = analyze(qat_run / "model.onnx", tmp_path / "a", dataset="digits", frames=50)
    assert r["onnx"].endswith("model.onnx") and len(r["layers"]) == 8
    assert (tmp_path / "a" / "analysis.html").is_file()


def test_tiny_bit_width_sweep(tmp_path):
    sweep = bit_width_sweep("tfc", "digits", tmp_path, bits=(1, 2), epochs=2, limit_train=400, limit_eval=100)
    rows = sweep["rows"]
    assert [r["model"] for r in rows] == ["tfc-w1a1", "tfc-w2a2", "tfc-float"]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)
    assert rows[-1]["weight_bits"] is None
    assert rows[0]["ptq_accuracy"] is None and 0.0 <= rows[1]["ptq_accuracy"] <= 1.0  # no 1-bit PTQ
    assert (tmp_path / "sweep" / "tfc-ptq-w2a2" / "model.onnx").is_file()
    result = analyze(None, tmp_path / "page", sweep=sweep)
    page = (tmp_path / "page" / "analysis.html").read_text()
    assert "Accuracy against bit width" in page and page.count("data:image/png;base64,") == 1
    assert json.loads((tmp_path / "page" / "analysis.json").read_text())["sweep"]["rows"] == rows
    assert result["layers"] == []


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_user_mistakes_are_one_line_errors(qat_run, tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), "--quiet"]
    assert "does not exist" in _one_line_error(capsys, ["analyze", str(tmp_path / "missing.onnx"), *out])
    assert "nothing to analyze" in _one_line_error(capsys, ["analyze", *out])
    assert "--frames" in _one_line_error(capsys, ["analyze", str(qat_run), "--frames", "0", *out])
    assert "--dataset" in _one_line_error(capsys, ["analyze", str(qat_run), "--dataset", "mnist", *out])
    assert "unknown model family" in _one_line_error(capsys, ["analyze", "--sweep", "nosuchfamily", *out])
    assert "--sweep-bits" in _one_line_error(capsys, ["analyze", "--sweep", "tfc", "--sweep-bits", "3", *out])
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    assert "not a readable ONNX" in _one_line_error(capsys, ["analyze", str(tmp_path / "bad.onnx"), *out])
    flt = tmp_path / "flt"
    assert main(["train", "--model", "tfc", "--float", "--dataset", "digits", "--epochs", "1", "--out", str(flt),
                 "--quiet"]) == 0
    assert "qloom quantize" in _one_line_error(capsys, ["analyze", str(flt), *out])


def test_rescaled_sqnr_ignores_the_overall_scale():
    from qloom.analyze.metrics import sqnr_rescaled_db

    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.1, 5000)
    binary = np.where(x >= 0, 1.0, -1.0)  # bipolar weights of scale 1 on latent weights of std 0.1
    assert sqnr_db(x, binary) < -10  # the raw SQNR is dominated by the scale mismatch
    # best a = mean|x|: 1-bit SQNR of a Gaussian = 10 log10(1 / (1 - 2/pi)) = 4.4 dB
    assert sqnr_rescaled_db(x, binary) == pytest.approx(10 * np.log10(1 / (1 - 2 / np.pi)), abs=0.1)
    lossless = sqnr_rescaled_db(x, 3 * x)  # a pure rescaling loses nothing (up to float64 rounding)
    assert lossless is None or lossless > 250
