"""Keys agree with dcmjs' dictionary for every tag either dictionary knows."""

from __future__ import annotations

import pytest

from converter.keywords import keyword_for
from tests.update_keyword_overrides import candidate_tags, dcmjs_names, differences


@pytest.mark.node
class TestAgainstDcmjs:
    def test_every_known_tag_named_as_dcmjs_names_it(self) -> None:
        tags = candidate_tags()
        theirs = dcmjs_names(tags)
        wrong = {t: (keyword_for(t), theirs[t]) for t in tags if keyword_for(t) != theirs[t]}
        assert len(tags) > 5000
        assert wrong == {}

    def test_override_table_is_current(self) -> None:
        """Fails when a bump of pydicom or dcmjs needs `python -m tests.update_keyword_overrides`."""
        from converter.keyword_overrides import DCMJS_OVERRIDES

        assert differences() == DCMJS_OVERRIDES
