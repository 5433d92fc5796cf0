"""The README and the documents it sends readers to say only what works: every command in their
``bash`` blocks names files that exist, and every ``cgcap``, ``python3 jobs/...``,
``python3 benchmarks/...``, ``python3 scripts/...`` and ``python3 cluster/...`` command parses with
the real argument parser (subcommands and options included); every relative link leads to a file.
.ci/run runs the README's test command verbatim."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "docs/CLUSTER.md", "docs/CLASSIFIER.md", "docs/RESULTS.md", "docs/PERFORMANCE.md",
             "docs/OFFLINE.md"]
# Folders of this repository: a word that starts with one of them names a file or folder that must exist.
REPOSITORY_FOLDERS = ("cgcap/", "deployments/", "jobs/", "benchmarks/", "scripts/", "cluster/", "docs/", "tests/")
SEPARATORS = {"&&", "||", ";", "|", "&"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

# Runs in a fresh interpreter: each command's parser parses its words and stops there (no work is done).
PARSE_ONLY = r'''
import argparse, contextlib, io, json, runpy, sys

class Parsed(Exception):
    pass

original = argparse.ArgumentParser.parse_args

def parse_then_stop(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed

argparse.ArgumentParser.parse_args = parse_then_stop
results = []
for kind, target, words in json.load(sys.stdin):
    sys.argv = [target, *words]
    error = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(error):
            if kind == "module":
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
        outcome = "ran past its parser"
    except Parsed:
        outcome = "ok"
    except SystemExit as stop:
        outcome = "ok" if stop.code in (0, None) else "refused: " + error.getvalue().strip()[-400:]
    except Exception as failure:
        outcome = f"{type(failure).__name__}: {failure}"
    results.append(outcome)
print(json.dumps(results))
'''


def code_blocks(path: Path) -> list[str]:
    return re.findall(r"^```(?:bash|sh)\n(.*?)^```", path.read_text(), re.M | re.S)


def commands(block: str) -> list[list[str]]:
    """Each simple command of a bash block as words: continuations joined, comments and variable
    assignments dropped, split at ``&&``, ``;``, ``|`` and ``&``, and ``X -- command`` opened up."""
    found = []
    for line in block.replace("\\\n", "").splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, ";"]:
            if word not in SEPARATORS:
                current.append(word)
                continue
            while current and ASSIGNMENT.match(current[0]):
                current.pop(0)
            if current:
                found.append(current)
            current = []
    opened = []
    for words in found:
        opened.append(words)
        if words[0] == "ray" and "--" in words:  # ray job submit ... -- python jobs/x.py ...
            opened.append(words[words.index("--") + 1:])
    return opened


def inline_commands(path: Path) -> list[str]:
    """Commands quoted in the text (`cgcap ...`, `python3 benchmarks/... --opt`), across line breaks."""
    return re.findall(r"`((?:cgcap|python3?) [^`]+)`", path.read_text().replace("\n", " "))


def documented_commands() -> list[tuple[str, list[str]]]:
    found = [(name, words) for name in DOCUMENTS for block in code_blocks(ROOT / name) for words in commands(block)]
    return found + [(name, words) for name in DOCUMENTS for text in inline_commands(ROOT / name)
                    for words in commands(text)]


def parse_target(words: list[str]) -> tuple[str, str, list[str]] | None:
    """What runs the command's parser: ``cgcap`` is the module cgcap.cli, ``python3 FILE`` that file."""
    if words[0] == "cgcap":
        return "module", "cgcap.cli", [w for w in words[1:] if not w.startswith("${")]
    if words[0] in ("python", "python3") and len(words) > 1 and words[1].startswith(REPOSITORY_FOLDERS):
        return "path", str(ROOT / words[1]), [w for w in words[2:] if not w.startswith("${")]
    return None


def test_the_documents_have_commands_to_check():
    found = documented_commands()
    readme = [words for name, words in found if name == "README.md"]
    assert sum(words[0] == "cgcap" for words in readme) >= 10
    assert ["bash", "scripts/install.sh", "--dev"] in readme
    assert any(words[:3] == ["python", "jobs/evaluate.py", "--dataset"] for words in readme)  # after ray job submit --


def test_every_repository_path_a_command_names_exists():
    missing = []
    for name, words in documented_commands():
        for word in words:
            for candidate in (word, word.rpartition("@")[2], word.rpartition("$PWD/")[2], word.partition("=")[2]):
                if candidate.startswith(REPOSITORY_FOLDERS) and not (ROOT / candidate.rstrip("/")).exists():
                    missing.append(f"{name}: {candidate} in {shlex.join(words)}")
    assert not missing, missing


# Commands the parsers must refuse: the check of the checker.
MISTAKES = [("module", "cgcap.cli", ["evaluate", "--dataset", "folder", "--data-root", "x", "--output", "y",
                                     "--no-such-option"]),
            ("module", "cgcap.cli", ["evaluation", "--help"]),
            ("path", str(ROOT / "jobs/evaluate.py"), ["--dataset", "folder"])]


@pytest.fixture(scope="module")
def parsed() -> tuple[list[tuple[str, list[str], str]], list[str]]:
    """Every documented cgcap / python command with its parser's verdict, and the verdicts on MISTAKES:
    one interpreter for all of them."""
    checked = [(name, words, target) for name, words in documented_commands()
               if (target := parse_target(words)) is not None]
    targets = [target for _, _, target in checked] + MISTAKES
    done = subprocess.run([sys.executable, "-c", PARSE_ONLY], input=json.dumps(targets), capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    return [(name, words, outcome) for (name, words, _), outcome in zip(checked, outcomes)], outcomes[len(checked):]


def test_every_cgcap_and_python_command_parses_with_its_real_parser(parsed):
    documented, _ = parsed
    assert len(documented) >= 30
    wrong = [f"{name}: {shlex.join(words)}: {outcome}" for name, words, outcome in documented if outcome != "ok"]
    assert not wrong, "\n".join(wrong)


def test_a_misspelt_option_or_subcommand_or_a_missing_argument_would_be_caught(parsed):
    _, mistakes = parsed
    assert [outcome.split(":")[0] for outcome in mistakes] == ["refused"] * 3, mistakes
    assert "--no-such-option" in mistakes[0] and "invalid choice: 'evaluation'" in mistakes[1]
    assert "--data-root" in mistakes[2]


def test_every_pytest_marker_a_command_selects_is_registered():
    registered = {line.split(":")[0].strip() for line in
                  tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]}
    for name, words in documented_commands():
        if words[:3] == ["python3", "-m", "pytest"] and "-m" in words[3:]:
            expression = words[words.index("-m", 3) + 1]
            selected = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
            assert selected <= registered, (name, expression, registered)


def test_ci_runs_the_readmes_test_command_verbatim():
    readme = [block.strip() for block in code_blocks(ROOT / "README.md")]
    test_command = "bash scripts/install.sh --dev && python3 -m pytest -q"
    assert test_command in readme
    assert test_command in (ROOT / ".ci/run").read_text().splitlines()


def test_every_relative_link_in_the_documents_leads_to_a_file():
    broken = []
    for name in DOCUMENTS:
        path = ROOT / name
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{name}: {target}")
    assert not broken, broken


def test_the_readme_stays_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220
