"""The one place where dicomweb2ohif's exceptions live.

The library raises these; only :mod:`converter.cli` turns them into a one-line
message and an exit code (the sqlite-utils split: the library raises, the CLI
formats).
"""

from __future__ import annotations


class ConverterError(Exception):
    """Base class: anything the user can act on, with a message that says how."""


class UsageError(ConverterError):
    """The command line or an option value is wrong (exit code 2)."""


class ServerError(ConverterError):
    """A DICOMweb server could not be reached or gave an unusable answer.

    Keeps the HTTP status (``None`` when no answer came), the URL that was
    asked (never with credentials) and a short excerpt of the body, so that
    the message names what failed without dumping a whole HTML error page.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        body: str | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.body = body
        super().__init__(message)


class NotFoundError(ConverterError):
    """A study that was asked for by UID, or any study at all, is not on the server."""


class MappingError(ConverterError):
    """A PS3.18 element cannot be mapped; names the tag (and VR when known)."""

    def __init__(self, message: str, *, tag: str | None = None, vr: str | None = None) -> None:
        self.tag = tag
        self.vr = vr
        super().__init__(message)


class OutputError(ConverterError):
    """The launch file cannot be written where the user asked."""


class InputError(ConverterError):
    """A local input -- a folder of DICOM files, a launch file -- cannot be used."""


class UnreadableFileError(InputError):
    """One local file cannot be used as a DICOM instance.

    ``not_dicom`` is true for files that are no DICOM instance at all (a JPEG, a
    text file, a DICOMDIR), false for DICOM files that are broken or incomplete.
    """

    def __init__(self, message: str, *, not_dicom: bool = False) -> None:
        self.not_dicom = not_dicom
        super().__init__(message)


class PaletteError(ConverterError):
    """A palette colour lookup table cannot be put into the form OHIF reads (PS3.3 C.7.9)."""
