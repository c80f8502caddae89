"""dicomweb2ohif: snapshot DICOMweb studies into OHIF Viewer DICOM JSON launch files.

The public API (README "Python API"; everything else is internal)::

    import converter

    report = converter.snapshot_server("http://localhost:8042/dicom-web")
    report.document          # {"studies": [...]}: the launch file
    report.failures          # [StudyFailure(uid, error)], error typed

Names are imported on first use (PEP 562), so ``import converter`` and the command
line's start-up stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_server": "converter.api",
    "snapshot_server": "converter.api",
    "read_folder": "converter.api",
    "map_dataset": "converter.mapping.mapper",
    "map_datasets": "converter.mapping.mapper",
    "validate_document": "converter.api",
    "load_launch_file": "converter.validate.validator",
    "parse_launch_file": "converter.validate.validator",
    "Problem": "converter.validate.problem",
    "DicomWebSource": "converter.source.client",
    "Credentials": "converter.source.session",
    "RetryPolicy": "converter.source.session",
    "Shard": "converter.snapshot.selection",
    "Events": "converter.snapshot.report",
    "SnapshotReport": "converter.snapshot.report",
    "StudyFailure": "converter.snapshot.report",
    "FolderResult": "converter.folder.result",
    "Skipped": "converter.folder.result",
    "Duplicate": "converter.folder.result",
    "ConverterError": "converter.errors",
    "UsageError": "converter.errors",
    "ServerError": "converter.errors",
    "NotFoundError": "converter.errors",
    "UnsafeUidError": "converter.errors",
    "MappingError": "converter.errors",
    "OutputError": "converter.errors",
    "InputError": "converter.errors",
    "UnreadableFileError": "converter.errors",
    "PaletteError": "converter.errors",
    "SignInError": "converter.errors",
    "Token": "converter.source.tokens",
    "TokenSource": "converter.source.tokens",
    "RefreshingToken": "converter.source.tokens",
    "command_token": "converter.source.token_command",
    "AwsSigV4": "converter.source.aws",
    "GoogleCredentials": "converter.source.google",
}

__all__ = [
    "AwsSigV4",
    "ConverterError",
    "Credentials",
    "DicomWebSource",
    "Duplicate",
    "Events",
    "FolderResult",
    "GoogleCredentials",
    "InputError",
    "MappingError",
    "NotFoundError",
    "OutputError",
    "PaletteError",
    "Problem",
    "RefreshingToken",
    "RetryPolicy",
    "ServerError",
    "Shard",
    "SignInError",
    "Skipped",
    "SnapshotReport",
    "StudyFailure",
    "Token",
    "TokenSource",
    "UnreadableFileError",
    "UnsafeUidError",
    "UsageError",
    "__version__",
    "command_token",
    "load_launch_file",
    "map_dataset",
    "map_datasets",
    "open_server",
    "parse_launch_file",
    "read_folder",
    "snapshot_server",
    "validate_document",
]

if TYPE_CHECKING:
    from converter.api import open_server, read_folder, snapshot_server, validate_document
    from converter.errors import (
        ConverterError,
        InputError,
        MappingError,
        NotFoundError,
        OutputError,
        PaletteError,
        ServerError,
        SignInError,
        UnreadableFileError,
        UnsafeUidError,
        UsageError,
    )
    from converter.folder.result import Duplicate, FolderResult, Skipped
    from converter.mapping.mapper import map_dataset, map_datasets
    from converter.snapshot.report import Events, SnapshotReport, StudyFailure
    from converter.snapshot.selection import Shard
    from converter.source.aws import AwsSigV4
    from converter.source.client import DicomWebSource
    from converter.source.google import GoogleCredentials
    from converter.source.session import Credentials, RetryPolicy
    from converter.source.token_command import command_token
    from converter.source.tokens import RefreshingToken, Token, TokenSource
    from converter.validate.problem import Problem
    from converter.validate.validator import load_launch_file, parse_launch_file


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'converter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
