"""Progress bars for long work when attached to a terminal; silent otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        tasks = {
            "documents": bar.add_task("documents read: 0", total=None),
            "chunks_embedded": bar.add_task("chunks embedded: 0", total=None),
        }
        counts = dict.fromkeys(tasks, 0)

        def tick(event: str, amount: int) -> None:
            if event in tasks:
                counts[event] += amount
                label = "documents read" if event == "documents" else "chunks embedded"
                bar.update(tasks[event], description=f"{label}: {counts[event]}", advance=amount)

        yield tick
