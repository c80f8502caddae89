"""The one place where dicomweb2ohif's exceptions live.

The library raises these; only :mod:`converter.cli` turns them into a one-line
message and an exit code (the sqlite-utils split: the library raises, the CLI
formats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_MARK = "\x1f"
_MARKED = re.compile(f"{_MARK}([^{_MARK}]{{1,80}}){_MARK}")


def arg(wording: str) -> str:
    """Mark how a message names an argument of the library, e.g. ``arg("timeout")`` or
    ``arg("verify=False")``.

    ``str()`` of the error shows the wording as it is (a Python caller passes
    ``verify=False``); the CLI shows its flag instead (``--insecure``) through
    :meth:`ConverterError.worded`. Only for exception messages: a ``warn``
    callback receives plain text.
    """
    return f"{_MARK}{wording}{_MARK}"


def worded(text: str, flags: Mapping[str, str] | None = None) -> str:
    """``text`` with every :func:`arg` mark replaced by its entry in ``flags`` (else itself)."""
    if _MARK not in text:
        return text
    table = flags or {}
    return _MARKED.sub(lambda m: table.get(m.group(1), m.group(1)), text).replace(_MARK, "")


class ConverterError(Exception):
    """Base class: anything the user can act on, with a message that says how.

    ``message`` keeps the :func:`arg` marks (for wrapping into another error);
    ``str()`` speaks of the library's arguments, :meth:`worded` of the CLI's flags.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return worded(self.message)

    def worded(self, flags: Mapping[str, str]) -> str:
        """The message with each argument named as ``flags`` names it (the CLI's flags)."""
        return worded(self.message, flags)


class UsageError(ConverterError):
    """An argument (a command-line option) is wrong or goes with another (CLI exit code 2)."""


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


class UnsafeUidError(ConverterError):
    """A server lists a UID that cannot be put into a file name or request path
    (:mod:`converter.uids`); the object is skipped, never fetched."""

    def __init__(self, message: str, *, uid: str) -> None:
        self.uid = uid
        super().__init__(message)


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


class SignInError(ConverterError):
    """No usable bearer token: the command or callable that gives one failed, or the
    server refused a token fresh from it. Stops a whole run (every request would fail);
    the message never shows a token."""
