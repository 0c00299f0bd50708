"""pyinstrument profiles of each import kind (``--profile``), after the timed measures.

This module owns the profiles only; it measures nothing the report states.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.fixtures import Repository, Stack, aws_stack, log
from bench.imports import FANOUT_OVERRIDES, import_repository


def profile_imports(repository: Repository, directory: Path) -> None:
    """pyinstrument profiles (main thread: where the handler waits) of each import kind.

    Run after the timed measurements, which the profiler would slow down.
    """
    from pyinstrument import Profiler  # a dev dependency, needed only here

    directory.mkdir(parents=True, exist_ok=True)

    def profiled(name: str, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        log(f"profiling the {name} import")
        profiler = Profiler(interval=0.001)
        profiler.start()
        try:
            import_repository(stack, repository, overrides)
        finally:
            profiler.stop()
        (directory / f"{name}.txt").write_text(profiler.output_text(show_all=False))
        (directory / f"{name}.html").write_text(profiler.output_html())

    with aws_stack() as stack:
        profiled("cold", stack)
        profiled("warm", stack)
    with aws_stack() as stack:
        profiled("fanout", stack, FANOUT_OVERRIDES)
