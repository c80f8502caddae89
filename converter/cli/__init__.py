"""The ``dicomweb2ohif`` command line: one module per command, shared option handling in
:mod:`converter.cli.options`, the parser and the error boundary in :mod:`converter.cli.entry`.

Only this package prints (the library raises typed :mod:`converter.errors`).
"""

from converter.cli.entry import main, run

__all__ = ["main", "run"]
