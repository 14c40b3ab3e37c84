"""`qloom verify`: a simulator that cannot build or run is an error, not a mismatch count;
paths with spaces work; bad flags and corrupt artifacts are one-line errors (exit 2) that
leave verify.json as it was."""

from __future__ import annotations

import json
import shutil

import pytest

from qloom import artifacts as A

from cli_helpers import run_cli, small_model, snapshot


@pytest.fixture(scope="module")
def spaced_build(tmp_path_factory):
    """A build folder whose path has spaces, built to 'rtl' and verified once at both levels
    (so the simulator is compiled once, in rtl/sim_build, for the copies below)."""
    root = tmp_path_factory.mktemp("verify errors") / "my designs"
    model = small_model(root.parent / "small model.onnx")
    out = root / "b 1"
    assert run_cli(["build", model, "--out", out, "--stop-after", "rtl"])[0] == 0
    return out


def _copy(src, tmp_path, name="copy"):
    dst = tmp_path / "with space" / name
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.mark.hw
def test_rtl_verify_in_a_path_with_spaces(spaced_build):
    rc, out, err = run_cli(["verify", spaced_build, "--level", "rtl", "--dataset", "random", "--frames", "12"])
    assert rc == 0, err
    entry = json.loads((spaced_build / A.VERIFY_JSON).read_text())["levels"]["rtl"]
    assert entry["passed"] and entry["mismatches"] == 0 and entry["error"] is None
    assert "0 mismatches" in out
    assert not list((spaced_build / A.RTL_DIR / "sim_build").glob("*.failed"))


def _expect_error(folder, argv_tail, *needles):
    before = snapshot(folder)
    rc, out, err = run_cli(["verify", folder, *argv_tail])
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and err.startswith("qloom verify: error: ")
    for needle in needles:
        assert needle in err, err
    assert "mismatches" not in out  # no mismatch count for a run that never happened
    assert snapshot(folder) == before  # nothing written, not even a log in the build folder
    return err


@pytest.mark.hw
def test_unreadable_mem_file_is_an_error_not_mismatches(spaced_build, tmp_path):
    run_cli(["verify", spaced_build, "--level", "rtl", "--dataset", "random", "--frames", "4"])  # compiles once
    d = _copy(spaced_build, tmp_path)
    mem = sorted((d / A.RTL_DIR).glob("*.mem"))[0]
    mem.write_text("zzzz not hex\n")
    _expect_error(d, ["--level", "rtl", "--dataset", "random", "--frames", "5"], "$readmem", mem.name)


@pytest.mark.hw
def test_missing_or_folder_mem_file_is_an_error(spaced_build, tmp_path):
    d = _copy(spaced_build, tmp_path)
    mems = sorted((d / A.RTL_DIR).glob("*.mem"))
    mems[0].unlink()
    _expect_error(d, ["--level", "rtl", "--dataset", "random", "--frames", "5"], "missing", mems[0].name)
    mems[0].mkdir()
    _expect_error(d, ["--level", "rtl", "--dataset", "random", "--frames", "5"], "is a folder", mems[0].name)


@pytest.mark.hw
def test_simulator_that_does_not_build_is_an_error(spaced_build, tmp_path):
    d = _copy(spaced_build, tmp_path)
    top = d / A.RTL_DIR / "qloom_top.sv"
    top.write_text(top.read_text().replace("endmodule", "endmodule oops", 1))
    err = _expect_error(d, ["--level", "rtl", "--dataset", "random", "--frames", "5"], "Verilator build", "%Error")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**40)], "--seed"),
    (["--frames", "0"], "--frames"),
    (["--frames", "-3"], "--frames"),
    (["--frames", "100000000000"], "GiB"),  # refused before anything is allocated
])
def test_bad_flags_are_one_line_errors(spaced_build, tmp_path, flags, needle):
    d = _copy(spaced_build, tmp_path)
    err = _expect_error(d, ["--level", "ir", "--dataset", "random", *flags], needle)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"{not json", "{}".encode("utf-16"), b"[1, 2]", b'{"levels": 3}', b""])
def test_corrupt_verify_json_is_refused_and_kept(spaced_build, tmp_path, content):
    d = _copy(spaced_build, tmp_path)
    (d / A.VERIFY_JSON).write_bytes(content)
    _expect_error(d, ["--dataset", "random", "--frames", "5"], A.VERIFY_JSON, "delete it")
    assert (d / A.VERIFY_JSON).read_bytes() == content


@pytest.mark.parametrize("name", [A.IR_JSON, A.FOLDED_JSON])
@pytest.mark.parametrize("content", [b"garbage", '{"qloom_ir": 1}'.encode("utf-16"), b'{"qloom_ir": 1, "graph": {}}',
                                     b'{"qloom_ir": 1, "graph": {"__type__": "Nope"}}', None])
def test_corrupt_or_folder_ir_is_an_error(spaced_build, tmp_path, name, content):
    d = _copy(spaced_build, tmp_path)
    (d / name).unlink()
    if content is None:
        (d / name).mkdir()
    else:
        (d / name).write_bytes(content)
    _expect_error(d, ["--level", "ir", "--level", "rtl", "--dataset", "random", "--frames", "5"], name)


def test_a_file_given_as_the_build_folder(spaced_build, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    rc, _, err = run_cli(["verify", f])
    assert rc == 2 and "is a file" in err


def test_a_failing_level_keeps_the_other_levels_results(spaced_build, tmp_path):
    d = _copy(spaced_build, tmp_path)
    assert run_cli(["verify", d, "--level", "ir", "--dataset", "random", "--frames", "7"])[0] == 0
    (d / A.FOLDED_JSON).write_text("garbage")
    _expect_error(d, ["--level", "ir", "--level", "rtl", "--dataset", "random", "--frames", "9"], A.FOLDED_JSON)
    assert json.loads((d / A.VERIFY_JSON).read_text())["levels"]["ir"]["frames"] == 7


@pytest.mark.parametrize("content, needle", [(b"\x00garbage", "damaged"), ("{}".encode("utf-16"), "damaged"),
                                             (b'{"complete": false, "stages": {}}', "no finished 'frontend'")])
def test_corrupt_or_incomplete_build_json(spaced_build, tmp_path, content, needle):
    d = _copy(spaced_build, tmp_path)
    (d / A.BUILD_JSON).write_bytes(content)
    _expect_error(d, ["--dataset", "random", "--frames", "5"], A.BUILD_JSON, needle)


def test_a_build_that_failed_later_still_verifies_what_it_finished(spaced_build, tmp_path):
    d = _copy(spaced_build, tmp_path)
    state = json.loads((d / A.BUILD_JSON).read_text())
    del state["stages"]["rtl"]  # as if the build had failed in its rtl stage
    state["complete"] = False
    (d / A.BUILD_JSON).write_text(json.dumps(state))
    assert run_cli(["verify", d, "--dataset", "random", "--frames", "5"])[0] == 0
    _expect_error(d, ["--level", "rtl", "--dataset", "random", "--frames", "5"], "no finished 'rtl'", "--stop-after rtl")


def test_a_folder_being_built_is_not_verified(spaced_build, tmp_path):
    d = _copy(spaced_build, tmp_path)
    with A.locked(d):  # a build holds the folder
        _expect_error(d, ["--dataset", "random", "--frames", "5"], "being built")
    assert run_cli(["verify", d, "--dataset", "random", "--frames", "5"])[0] == 0


def test_full_disk_while_writing_verify_json(spaced_build, tmp_path):
    """/dev/full fails every write with ENOSPC: one line naming the file, no partial file left."""
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    d = _copy(spaced_build, tmp_path)
    before = (d / A.VERIFY_JSON).read_bytes() if (d / A.VERIFY_JSON).exists() else None
    (d / (A.VERIFY_JSON + ".tmp")).symlink_to("/dev/full")
    rc, _, err = run_cli(["verify", d, "--dataset", "random", "--frames", "3"])
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "No space left on device" in err and A.VERIFY_JSON in err and "free some disk space" in err
    assert not (d / (A.VERIFY_JSON + ".tmp")).exists()
    assert ((d / A.VERIFY_JSON).read_bytes() if (d / A.VERIFY_JSON).exists() else None) == before
