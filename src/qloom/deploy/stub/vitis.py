"""A stand-in for the Vitis Unified `vitis` Python module: records every call as a JSON line.

Put this folder first on PYTHONPATH and set QLOOM_STUB_LOG; `python create_app.py` then runs
as under `vitis -s`. Only the API the generated script uses exists; paths it hands over
(the XSA, the imported sources) must exist, as Vitis would require.
"""

import json
import os


def _record(call, **kwargs):
    with open(os.environ["QLOOM_STUB_LOG"], "a") as fh:
        fh.write(json.dumps({"cmd": call, "kwargs": kwargs}) + "\n")


def _need(path, what):
    if not os.path.exists(path):
        raise FileNotFoundError(f"vitis stub: {what} {path} does not exist")


class _Platform:
    def __init__(self, name):
        self.name = name

    def build(self):
        _record("platform.build", name=self.name)


class _App:
    def __init__(self, name):
        self.name = name

    def import_files(self, from_loc, files, dest_dir_in_cmp="src", is_skip_copy_sources=False):
        for f in files:
            _need(os.path.join(from_loc, f), "source")
        _record("app.import_files", from_loc=from_loc, files=list(files), dest_dir_in_cmp=dest_dir_in_cmp)

    def set_app_config(self, key, values):
        _record("app.set_app_config", key=key, values=values)

    def build(self):
        _record("app.build", name=self.name)


class _Client:
    def set_workspace(self, path):
        _record("client.set_workspace", path=path)

    def create_platform_component(self, name, hw_design, os, cpu, domain_name):
        _need(hw_design, "hardware design")
        _record("client.create_platform_component", name=name, hw_design=hw_design, os=os, cpu=cpu,
                domain_name=domain_name)
        return _Platform(name)

    def create_app_component(self, name, platform, domain, template):
        _record("client.create_app_component", name=name, platform=platform, domain=domain, template=template)
        return _App(name)


def create_client():
    _record("create_client")
    return _Client()


def dispose():
    _record("dispose")
