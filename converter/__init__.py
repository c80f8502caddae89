"""dicomweb2ohif: snapshot DICOMweb studies into OHIF Viewer DICOM JSON launch files."""

__version__ = "0.1.0"
