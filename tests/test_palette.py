"""Palette colour: what OHIF 3.13.2 reads is in the launch file, from ``snapshot`` and ``folder``.

Real files made by others (pydicom-data): ``OT-PAL-8-face.dcm`` (implicit VR: Orthanc
leaves its descriptors out of the metadata, which made OHIF throw),
``OBXXXX1A_expb_2frame.dcm`` (US, big endian, 2 frames), ``gdcm-US-ALOKA-16_big.dcm``
(segmented tables, big endian) and ``eCT_Supplemental.dcm`` (MONOCHROME2 with a
supplemental palette, which OHIF does not need). Expected values come from pydicom
reading the files; requests are counted by a real proxy in front of a real Orthanc.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import data_store
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from converter.cli import main
from converter.errors import PaletteError
from converter.mapping import palette
from converter.snapshot.palette_fetch import fetch_header
from converter.source.client import DicomWebSource
from converter.validate.validator import validate
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.faultproxy import Fault, Rule, fault_proxy

DATA = Path(data_store.__file__).parent / "data"
PALETTE_FILES = ("OT-PAL-8-face.dcm", "OBXXXX1A_expb_2frame.dcm", "gdcm-US-ALOKA-16_big.dcm")
OTHER_FILES = ("eCT_Supplemental.dcm",)
COLOURS = ("Red", "Green", "Blue")


def reference(path: Path) -> dict[str, tuple[list[int], list[int]]]:
    """SOP instance UID -> (descriptor, red table) as pydicom reads the file.

    Plain tables are the file's 16-bit words in its byte order; segmented ones are
    what pydicom's ``apply_color_lut`` expands them to.
    """
    ds = pydicom.dcmread(path, force=True)
    descriptor = list(ds.RedPaletteColorLookupTableDescriptor)
    if "SegmentedRedPaletteColorLookupTableData" in ds:
        count = descriptor[0] or 65536
        table = apply_color_lut(np.arange(count, dtype=np.uint16).reshape(1, -1), ds)[0, :, 0]
    else:
        little = ds.original_encoding[1] is not False
        table = np.frombuffer(ds.RedPaletteColorLookupTableData, "<u2" if little else ">u2")
    return {ds.SOPInstanceUID: (descriptor, [int(v) for v in table])}


def entries(launch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["metadata"]["SOPInstanceUID"]: e["metadata"]
        for st in launch["studies"]
        for se in st["series"]
        for e in se["instances"]
    }


def table(md: dict[str, Any], colour: str = "Red") -> list[int]:
    raw = base64.b64decode(md[f"{colour}PaletteColorLookupTableData"]["InlineBinary"])
    return list(struct.unpack(f"<{len(raw) // 2}H", raw))


def assert_as_pydicom_reads(launch: dict[str, Any]) -> None:
    found = entries(launch)
    for name in PALETTE_FILES:
        for sop, (descriptor, red) in reference(DATA / name).items():
            md = found[sop]
            for colour in COLOURS:
                assert md[f"{colour}PaletteColorLookupTableDescriptor"] == descriptor, name
            assert table(md) == red, name
            assert "SegmentedRedPaletteColorLookupTableData" not in md
            assert palette.instance_problem(md) is None
    assert validate(launch) == []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("palette")
    for name in (*PALETTE_FILES, *OTHER_FILES):
        shutil.copy(DATA / name, folder / name)
    shutil.copy(next(FIXTURE_DICOM.rglob("*.dcm")), folder / "plain.dcm")
    return folder


@pytest.fixture(scope="module")
def server(corpus: Path) -> Iterator[Orthanc]:
    with Orthanc() as orthanc:
        orthanc.upload(sorted(corpus.iterdir()))
        yield orthanc


class TestRules:
    def test_segmented_tables_expand_as_pydicom_expands_them(self) -> None:
        for name in ("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"):
            ds = pydicom.dcmread(DATA / name)
            lut = apply_color_lut(np.arange(65536, dtype=np.uint16).reshape(1, -1), ds)[0]
            order = "<" if ds.original_encoding[1] else ">"
            for index, colour in enumerate(COLOURS):
                raw = ds[f"Segmented{colour}PaletteColorLookupTableData"].value
                words = struct.unpack(f"{order}{len(raw) // 2}H", raw)
                assert palette.expand_segmented(words) == lut[:, index].tolist()

    def test_indirect_and_linear_segments(self) -> None:
        # discrete 0,10; linear to 20 in 2; indirect: the first segment again
        words = [0, 2, 0, 10, 1, 2, 20, 2, 1, 0, 0]
        assert palette.expand_segmented(words) == [0, 10, 15, 20, 0, 10]

    def test_broken_segments_are_refused(self) -> None:
        with pytest.raises(PaletteError, match="unknown segment type 7"):
            palette.expand_segmented([7, 1, 0])
        with pytest.raises(PaletteError, match="a linear segment without a previous entry"):
            palette.expand_segmented([1, 4, 100])
        with pytest.raises(PaletteError, match="nested too deeply"):
            palette.expand_segmented([0, 1, 5, 2, 1, 3, 0])

    def test_what_makes_ohif_throw(self) -> None:
        md: dict[str, Any] = {"PhotometricInterpretation": "PALETTE COLOR"}
        assert not palette.throws_in_ohif(md)
        md["RedPaletteColorLookupTableData"] = {"BulkDataURI": "http://x/bulk"}
        assert palette.throws_in_ohif(md)  # data without a descriptor: lutDescriptor[0]
        md["RedPaletteColorLookupTableDescriptor"] = [256, 0, 16]
        assert not palette.throws_in_ohif(md)
        assert palette.throws_in_ohif({"PaletteColorLookupTableUID": "1.2"})


@pytest.mark.orthanc
class TestSnapshot:
    def test_tables_inline_fetched_for_palette_instances_only(
        self, server: Orthanc, tmp_path: Path
    ) -> None:
        out = tmp_path / "all.json"
        rules = [Rule(r"/instances/[0-9.]+$", Fault.HTTP_503, times=1)]  # retried
        with fault_proxy(server.url, rules=rules) as proxy:
            assert main(["snapshot", proxy.dicomweb(), "-o", str(out), "-q"]) == 0
            fetched = [s.path for s in proxy.requests_to(r"/instances/[0-9.]+$")]
        launch = json.loads(out.read_text(encoding="utf-8"))
        assert_as_pydicom_reads(launch)
        palette_sops = {sop for name in PALETTE_FILES for sop in reference(DATA / name)}
        assert sorted(path.rsplit("/", 1)[1] for path in fetched[1:]) == sorted(palette_sops)
        assert fetched[0] in fetched[1:]  # the 503 was asked again
        supplemental = next(
            md
            for md in entries(launch).values()
            if md.get("Modality") == "CT" and "RedPaletteColorLookupTableDescriptor" in md
        )
        assert "BulkDataURI" in supplemental["RedPaletteColorLookupTableData"]  # not needed

    def test_failed_fetch_one_warning_and_still_a_file(
        self, server: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        face = next(iter(reference(DATA / "OT-PAL-8-face.dcm")))
        out = tmp_path / "all.json"
        rules = [Rule(rf"/instances/{face}$", Fault.NOT_FOUND)]
        with fault_proxy(server.url, rules=rules) as proxy:
            assert main(["snapshot", proxy.dicomweb(), "-o", str(out)]) == 0
        warnings = [line for line in capsys.readouterr().err.splitlines() if face in line]
        assert len(warnings) == 1, warnings
        assert "no descriptor" in warnings[0] and "HTTP 404" in warnings[0]
        launch = json.loads(out.read_text(encoding="utf-8"))
        assert len(launch["studies"]) == 5
        problems = [str(p) for p in validate(launch)]
        assert len(problems) == 1 and f"instance {face} of series" in problems[0]
        assert "throws" in problems[0] and "snapshot" in problems[0]


class TestFolder:
    def test_tables_inline_whatever_their_size(self, corpus: Path, tmp_path: Path) -> None:
        out = tmp_path / "folder.json"
        assert (
            main(["folder", str(corpus), "--url-prefix", "http://files/", "-o", str(out), "-q"])
            == 0
        )
        assert_as_pydicom_reads(json.loads(out.read_text(encoding="utf-8")))


class TestValidate:
    def test_bulk_data_palette_fails_with_what_to_do(
        self, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        good = tmp_path / "good.json"
        assert (
            main(["folder", str(corpus), "--url-prefix", "http://files/", "-o", str(good), "-q"])
            == 0
        )
        launch = json.loads(good.read_text(encoding="utf-8"))
        broken = copy.deepcopy(launch)
        sop = next(iter(reference(DATA / "OBXXXX1A_expb_2frame.dcm")))
        for md in (
            e["metadata"]
            for st in broken["studies"]
            for se in st["series"]
            for e in se["instances"]
            if e["metadata"]["SOPInstanceUID"] == sop
        ):
            md["GreenPaletteColorLookupTableData"] = {"BulkDataURI": "http://o/bulk/00281202"}
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken), encoding="utf-8")
        capsys.readouterr()
        assert main(["validate", str(path)]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2  # one per frame entry of the 2-frame image
        assert f"instance {sop} of series" in lines[0]
        assert "green palette has its lookup table data only as a BulkDataURI" in lines[0]
        assert "OHIF cannot show this image" in lines[0] and "snapshot" in lines[0]


class TestStreaming:
    @pytest.mark.parametrize("refuses_as_stored", [False, True])
    def test_download_stops_once_the_header_is_read(
        self, refuses_as_stored: bool, tmp_path: Path
    ) -> None:
        """A real local server streams a multipart answer of 64 MiB of pixel data: the
        client hangs up after the header, long before the end (socket buffers aside).
        A server that refuses ``transfer-syntax=*`` (406) is asked again without it."""
        ds = pydicom.dcmread(DATA / "OBXXXX1A.dcm")
        ds.PixelData = bytes(64 << 20)
        path = tmp_path / "big.dcm"
        ds.save_as(path)
        body = path.read_bytes()
        boundary = "b0undary"
        part = (
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        sent: list[int] = []
        accepts: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                accepts.append(self.headers.get("Accept", ""))
                if refuses_as_stored and "transfer-syntax=*" in accepts[-1]:
                    self.send_error(406)
                    return
                self.send_response(200)
                self.send_header(
                    "Content-Type",
                    f'multipart/related; type="application/dicom"; boundary={boundary}',
                )
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                written = 0
                try:
                    for start in range(0, len(part), 1 << 16):
                        self.wfile.write(part[start : start + (1 << 16)])
                        written += min(1 << 16, len(part) - start)
                except OSError:  # the client hung up
                    pass
                sent.append(written)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            source = DicomWebSource(f"http://127.0.0.1:{server.server_address[1]}/dicom-web")
            header = fetch_header(
                source, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
            )
        finally:
            server.shutdown()
            server.server_close()
        assert (
            palette.table_entries(header, 0)
            == reference(DATA / "OBXXXX1A.dcm")[ds.SOPInstanceUID][1]
        )
        assert len(sent) == 1 and sent[0] < len(part) // 4, (sent, len(part))
        assert len(accepts) == 1 + refuses_as_stored
