"""What the command-line tests share: a command run in this process, and its last JSON line."""

from __future__ import annotations

import json


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``nudgenet *argv`` in this process: its exit code, stdout and stderr."""
    from nudgenet.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    """The last line of ``out``, a command's ``--json`` summary, read."""
    return json.loads(out.strip().splitlines()[-1])
