"""What ``serve`` is asked to serve (:class:`ServeOptions`) and the studies it offers
(:class:`Link`): plain data, shared by the server and its request handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from converter.serve import proxy

Log = Callable[[str], None]


@dataclass(frozen=True)
class Link:
    """One study to open: the launch file it is in and the viewer URL that opens it."""

    file: str
    study_uid: str
    patient_name: str
    modalities: str
    url: str


@dataclass
class ServeOptions:
    """What ``serve`` serves; see :func:`converter.cli` for the options."""

    folder: Path
    port: int = 3000
    viewer_dist: Path | None = None
    upstream: proxy.Upstream | None = None
    viewer_base: str | None = None
    only: tuple[str, ...] = ()
    log: Log | None = None
    warn: Log = field(default=lambda message: None)
