"""Keys agree with dcmjs' dictionary for every tag either dictionary knows."""

from __future__ import annotations

import pytest

from converter.mapping.keywords import keyword_for
from tests.update_dictionary import TARGET, candidate_tags, dcmjs_names, render


@pytest.mark.node
class TestAgainstDcmjs:
    def test_every_known_tag_named_as_dcmjs_names_it(self) -> None:
        tags = candidate_tags()
        theirs = dcmjs_names(tags)
        wrong = {t: (keyword_for(t), theirs[t]) for t in tags if keyword_for(t) != theirs[t]}
        assert len(tags) > 5000
        assert wrong == {}

    def test_dictionary_table_is_current(self) -> None:
        """Fails when a bump of pydicom or dcmjs needs `python -m tests.update_dictionary`."""
        assert TARGET.read_text(encoding="utf-8") == render()


def test_no_pydicom_at_start_up() -> None:
    """Naming tags (and so snapshot, studies, map) does not import pydicom and numpy."""
    import subprocess
    import sys

    code = "import sys, converter.cli; print('pydicom' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
