"""The Procfile (issue 11, point 6) starts what the README's deployment notes say to run, with the
programs this install provides; honcho, when installed, accepts it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
README = ROOT / "README.md"
# A Procfile line: a process type, a colon, its command (comments and blank lines aside).
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>\S.*)$")
FENCE = re.compile(r"^```[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def procfile_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENTRY.match(line)
        assert match, f"not a Procfile entry: {line!r}"
        assert match["name"] not in entries, f"{match['name']} twice"
        entries[match["name"]] = match["command"].strip()
    return entries


def documented_lines() -> set[str]:
    """Every line of the README's code blocks, without a trailing comment."""
    lines = set()
    for block in FENCE.finditer(README.read_text()):
        for line in block["body"].splitlines():
            lines.add(line.split("  #", 1)[0].strip())
    return lines


def test_the_procfile_runs_the_api_and_the_workers_and_nothing_needs_beat() -> None:
    entries = procfile_entries()
    assert {"api", "worker"} <= set(entries), entries
    assert entries["api"].startswith("uvicorn asgi:app "), entries["api"]
    assert entries["worker"].startswith("celery -A jobs worker"), entries["worker"]
    # Periodic work (the sweep for lost jobs) runs inside every worker: a beat would be idle.
    assert not any(" beat" in command for command in entries.values()), entries


def test_each_command_is_one_this_install_provides() -> None:
    bin_dir = Path(sys.executable).parent
    for name, command in procfile_entries().items():
        program = shlex.split(command)[0]
        assert (bin_dir / program).exists() or shutil.which(program), f"{name}: no {program}"


def test_the_readme_documents_the_procfile_commands() -> None:
    if "Procfile" not in README.read_text():
        pytest.skip("the README has no deployment notes yet (issue 11, point 6): nothing to compare")
    documented = documented_lines()
    missing = {name: command for name, command in procfile_entries().items() if command not in documented}
    assert not missing, f"Procfile commands the README does not show: {missing}"


def test_honcho_accepts_the_procfile() -> None:
    honcho = Path(sys.executable).parent / "honcho"
    if not honcho.exists():
        pytest.skip("honcho is not installed (pip install honcho)")
    result = subprocess.run(
        [str(honcho), "-f", str(PROCFILE), "check"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (api, worker, flower)" in result.stderr
