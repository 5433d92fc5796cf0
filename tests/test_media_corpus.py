"""Every file of the real-world media corpus is captioned (with a warning when it was damaged) or refused with its reason.

Read the parametrised ids as the table: ``pytest -v tests/test_media_corpus.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFile

from cgcap.config import LimitSettings
from cgcap.data.media import MediaError, decode_media
from tests.media_corpus import CORPUS, REFERENCE_PICTURES, Captioned, CorpusFile, Refused


@pytest.mark.parametrize("entry", CORPUS, ids=[entry.name for entry in CORPUS])
def test_corpus_file_is_captioned_or_refused_with_its_reason(entry: CorpusFile):
    data = entry.make()
    expect = entry.expect

    if isinstance(expect, Refused):
        with pytest.raises(MediaError) as caught:
            decode_media(data, LimitSettings(), entry.name)
        assert caught.value.status_code == expect.status_code
        assert expect.reason in str(caught.value) and repr(entry.name) in str(caught.value)
        return

    assert isinstance(expect, Captioned)
    media = decode_media(data, LimitSettings(), entry.name)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # a cut image's lenient load must not leave PIL lenient for others
    assert (media.modality, media.format) == (expect.modality, expect.format)
    if expect.warning is None:
        assert media.warnings == []
    else:
        assert any(expect.warning in warning for warning in media.warnings), media.warnings
    if expect.seconds is not None:
        assert media.duration_seconds == pytest.approx(expect.seconds, abs=0.1)
        assert np.max(np.abs(media.audio)) > 0.1  # the signal, not a decoder's silence
    if expect.picture is not None:
        reference = REFERENCE_PICTURES[expect.picture]()
        pixels = np.asarray(media.image, dtype=np.int16)
        assert media.image.mode == "RGB" and pixels.shape == reference.shape
        rows = expect.rows or reference.shape[0]
        assert np.abs(pixels[:rows] - reference[:rows]).mean() < 6
        if expect.rows:  # below the rows a cut image's data reached: the decoder's flat fill, not made-up content
            assert np.all(pixels[rows + 1:] == pixels[-1, 0]) and rows + 1 < pixels.shape[0]
