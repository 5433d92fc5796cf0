"""The hub default is decided in one place: importing cgcap."""

import os
import subprocess
import sys


def _hub_setting_after_import(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    if value is not None:
        env["HF_HUB_OFFLINE"] = value
    code = "import cgcap, os; print(os.environ['HF_HUB_OFFLINE'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_importing_cgcap_turns_the_hub_off_unless_the_user_said_otherwise():
    assert _hub_setting_after_import(None) == "1"
    assert _hub_setting_after_import("0") == "0"


def test_no_entry_point_decides_the_hub_default_again():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    places = []
    for folder in ("cgcap", "jobs", "benchmarks", "deployments"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as handle:
                        if 'setdefault("HF_HUB_OFFLINE"' in handle.read():
                            places.append(os.path.relpath(path, root))
    assert places == [os.path.join("cgcap", "__init__.py")]
