"""`whoknows eval ...`: hands the evaluation commands to `python -m eval` in a child process.

The product never imports `eval/` (it measures the product, and holds datasets and baselines the
service has no use for); this command runs it as its own program with the same home folder and
passes its exit code on.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer

from service.cli.common import settings_of

COMMAND: dict[str, Any] = {
    "name": "eval",
    "help": "Measure quality on labelled data.",
    "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True},
    "add_help_option": False,
}


def eval_command(ctx: typer.Context) -> None:
    """Measure quality on labelled data."""
    home = settings_of(ctx).home
    done = subprocess.run([sys.executable, "-m", "eval", "--home", str(home), *ctx.args], check=False)
    raise typer.Exit(done.returncode)
