"""What a QIDO-RS study search asks (PS3.18 10.6.1): the matching keys of
:class:`StudyFilter` and the optional attributes asked for with ``includefield``.
"""

from __future__ import annotations

from dataclasses import dataclass

STUDY_FIELDS = (
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
"""Optional study attributes asked for with ``includefield`` (PS3.18 10.6.1.2)."""


STUDY_INCLUDES = tuple(("includefield", name) for name in STUDY_FIELDS)


@dataclass(frozen=True)
class StudyFilter:
    """QIDO-RS study matching keys (PS3.18 10.6.1.2, PS3.4 C.2.2.2).

    ``study_date`` takes a single date or a range ``20200101-20201231`` (either
    end may be left open). Empty fields do not filter.
    """

    patient_id: str | None = None
    study_date: str | None = None
    modality: str | None = None
    accession_number: str | None = None

    def as_params(self) -> dict[str, str]:
        pairs = {
            "PatientID": self.patient_id,
            "StudyDate": self.study_date,
            "ModalitiesInStudy": self.modality,
            "AccessionNumber": self.accession_number,
        }
        return {k: v for k, v in pairs.items() if v}

    def is_empty(self) -> bool:
        return not self.as_params()
