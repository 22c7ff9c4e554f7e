"""Inline markers never reach the client, however the model's text is cut into deltas."""

from __future__ import annotations

import json

import pytest

from domain.chat.framing import MarkerFilter, citations_frame, text_frame

MARKER = '[CITATION:{"texte": "une {accolade} et un ] crochet \\" guillemet", "recording_index": 0, "chunk_index": 1}]'
TEXT = f"Oui, dit à 01:15 {MARKER} puis [1] et [CIT non. Fin"
SHOWN = "Oui, dit à 01:15  puis [1] et [CIT non. Fin"


def run(deltas: list[str]) -> tuple[list[str], list[str]]:
    markers = MarkerFilter()
    out = [markers.feed(d) for d in deltas] + [markers.flush()]
    return out, markers.markers


@pytest.mark.parametrize("cut", range(len(TEXT) + 1))
def test_a_marker_split_anywhere_in_two_deltas_is_removed_whole(cut: int) -> None:
    out, markers = run([TEXT[:cut], TEXT[cut:]])
    assert "".join(out) == SHOWN
    assert all("CITATION" not in piece and "{" not in piece for piece in out)
    assert [json.loads(m)["texte"] for m in markers] == ['une {accolade} et un ] crochet " guillemet']


def test_one_character_per_delta() -> None:
    out, markers = run(list(TEXT))
    assert "".join(out) == SHOWN
    assert len(markers) == 1


def test_an_unfinished_marker_is_dropped_and_a_lone_prefix_shown() -> None:
    assert run(["Voir [CITATION:", '{"texte": "coup'])[0][-1] == ""
    assert "".join(run(["Voir [CIT"])[0]) == "Voir [CIT"
    assert "".join(run(["[CITATION: pas un objet]"])[0]) == "[CITATION: pas un objet]"


def test_frames_are_the_original_shapes() -> None:
    assert json.loads(text_frame("é")) == {"text": "é"}
    assert json.loads(citations_frame([])) == {"citations": []}
