"""The README's runnable examples, found by what they import, run as written against a server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example(imports: str) -> str:
    """The README's one ```python block that imports `imports`."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    found = [b for b in blocks if f"from {imports} import" in b]
    assert len(found) == 1, f"the README should hold one example importing {imports}, found {len(found)}"
    return found[0]


def run_readme_example(
    imports: str, url: str, token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """Runs the example with WHOKNOWS_URL and WHOKNOWS_API_TOKEN set, as a reader would; its stdout."""
    monkeypatch.setenv("WHOKNOWS_URL", url)
    monkeypatch.setenv("WHOKNOWS_API_TOKEN", token)
    capsys.readouterr()
    exec(compile(readme_example(imports), f"README.md#{imports}", "exec"), {})
    return capsys.readouterr().out
