"""`qloom build --config FILE.toml` and `DIR/build.toml`: a build's options in one TOML file.

The keys are `qloom build`'s long flags without the leading dashes, written with dashes or
underscores (`stop-after` or `stop_after`; build.toml writes underscores), plus `model` and
`out` (the positional MODEL and --out):

    model = "runs/tfc/model.onnx"     # relative paths: relative to the file's folder
    stop_after = "rtl"
    board = "pynq-z2"
    target_fps = 1e6

Flags given on the command line override the file. Every successful build writes the options
it resolved (absolute paths, no `out`) to `DIR/build.toml`, so
`qloom build --config DIR/build.toml --out OTHER` builds the same artifacts again.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from qloom.errors import QloomError

BUILD_TOML = "build.toml"  # written into the build folder by every successful build
HEADER = "# qloom build options (written by qloom build)"  # marks a build.toml that qloom wrote

# key -> (accepted TOML types, what the error message calls them); `path` keys are resolved
# against the config file's folder.
_STR, _NUM, _INT, _BOOL = (str,), (int, float), (int,), (bool,)
KEYS = {
    "model": (_STR, "a path"),
    "out": (_STR, "a path"),
    "stop_after": (_STR, "a stage name"),
    "out_kind": (_STR, "labels or logits"),
    "folding": (_STR, "a path"),
    "target_fps": (_NUM, "a number"),
    "board": (_STR, "a string"),
    "clock_mhz": (_NUM, "a number"),
    "dataset": (_STR, "a string"),
    "deploy_frames": (_INT, "an integer"),
    "resume": (_BOOL, "true or false"),
    "force": (_BOOL, "true or false"),
    "quiet": (_BOOL, "true or false"),
}
PATHS = ("model", "out", "folding")
# what build.toml records: the options the artifacts depend on (not where, nor how, it was built)
RECORDED = ("model", "stop_after", "out_kind", "folding", "target_fps", "board", "clock_mhz", "dataset",
            "deploy_frames")


def read(path: Path) -> dict:
    """The options of the TOML file `path` as {key with underscores: value}; paths made absolute
    (relative ones against the file's folder). Errors are one line naming the file and key."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise QloomError(f"--config {path} is a folder; give the .toml file (e.g. {path / BUILD_TOML})") from None
    except OSError as exc:
        raise QloomError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise QloomError(f"config file {path} is not UTF-8 text (a TOML file is)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QloomError(f"config file {path} is not valid TOML: {exc}") from None
    options: dict = {}
    for raw, value in data.items():
        key = raw.replace("-", "_")
        if key not in KEYS:
            raise QloomError(f"config file {path}: unknown key {raw!r}; keys: {', '.join(KEYS)} "
                             "(dashes or underscores)")
        if key in options:
            raise QloomError(f"config file {path}: key {raw!r} given twice (as {key.replace('_', '-')!r} "
                             f"and {key!r})")
        types, what = KEYS[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise QloomError(f"config file {path}: {raw} must be {what}, got {_toml_type(value)} {value!r}")
        if types is _NUM:
            value = float(value)  # as argparse's type=float: 1000 and 1000.0 are one option value
        choices = _choices().get(key)
        if choices and value not in choices:
            raise QloomError(f"config file {path}: {raw} must be one of {', '.join(choices)}, got {value!r}")
        if key in PATHS:
            if not value.strip():
                raise QloomError(f"config file {path}: {raw} is empty; give a path")
            value = _resolve(path, value)
        elif key == "dataset" and value.startswith("idx:") and len(value) > 4:
            value = "idx:" + str(_resolve(path, value[4:]))
        options[key] = value
    return options


def _choices() -> dict[str, tuple[str, ...]]:
    from qloom.pipeline import STAGES  # (pipeline imports this module)

    return {"stop_after": STAGES, "out_kind": ("labels", "logits")}


def _resolve(config: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (config.resolve().parent / p)


def _toml_type(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # a JSON string is a TOML basic string, once DEL (a control character to TOML) is escaped
    return json.dumps(str(value)).replace("\x7f", "\\u007f")


def dumps(cfg) -> str:
    """build.toml's text for the BuildConfig `cfg` (options at their default or unset are written
    too, except the unset ones: TOML has no null)."""
    lines = [HEADER, "# reproduce the build: qloom build --config build.toml --out DIR"]
    for key in RECORDED:
        value = getattr(cfg, key)
        if value is None:
            continue
        if isinstance(value, Path):
            value = value.resolve()
        elif key == "dataset" and value.startswith("idx:") and len(value) > 4:  # a folder, like the paths
            value = "idx:" + str(Path(os.path.expanduser(value[4:])).resolve())
        lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what qloom writes, qloom reads
    return text


def write(folder: Path, cfg) -> Path | None:
    """Write `folder/build.toml` for `cfg` (atomically). A build.toml that qloom did not write
    (a user's config file kept in the build folder) is left alone: None."""
    path = Path(folder) / BUILD_TOML
    if path.is_file() and not path.read_bytes().startswith(HEADER.encode()):
        return None
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(dumps(cfg))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(exc.filename or path)) from None
    return path
