"""The package's shape: a light root, the API names never shadowed, documented paths kept."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import ddspkit

API_NAMES = ("Model", "TransferResult", "list_models", "load_model", "prepare", "train", "transcribe",
             "transcribe_file")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_config_and_help_do_not_import_torch():
    assert run_python("import sys, ddspkit.config; print('torch' in sys.modules)") == "False"
    code = ("import sys\nsys.argv = ['ddspkit', '--help']\nfrom ddspkit.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    output = run_python(code)
    assert output.endswith("False"), output
    assert "Usage" in output


def test_api_names_stay_the_api_after_every_module_is_imported():
    for module in pkgutil.walk_packages(ddspkit.__path__, "ddspkit."):
        importlib.import_module(module.name)  # also finds an import left at an old path
    from ddspkit import api

    for name in API_NAMES:  # a subpackage named like an API function would replace it
        assert getattr(ddspkit, name) is getattr(api, name), name
    assert ddspkit.__version__.count(".") == 2


def test_the_names_documented_before_the_layers_are_the_same_modules():
    for old, new in [("core", "dsp.core"), ("synths", "dsp.synths"), ("effects", "dsp.effects"),
                     ("losses", "dsp.losses"), ("features", "analysis.features")]:
        assert importlib.import_module(f"ddspkit.{old}") is importlib.import_module(f"ddspkit.{new}")
