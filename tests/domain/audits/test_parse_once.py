"""A transcript is parsed once: the analysis of each chunk is stored with its version and read back
by later audits instead of parsing; another version (rules or model changed) parses again."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from domain.audits.heuristic import HeuristicAuditor
from domain.language import utterances
from domain.language.analysis import ANALYSIS_VERSION
from domain.language.utterances import parse_timeline
from tests.fixtures.factories.timelines import timeline

AGENT, CLIENT = "speaker_1", "speaker_0"
FICHE = timeline(
    [
        (AGENT, "Bonjour, je ne vous ai pas parlé des frais de dossier."),
        (CLIENT, "Ma voisine m'a dit que l'appel était enregistré ?"),
        (AGENT, "Cet enregistrement sera conservé deux ans. Est-ce que vous avez une mutuelle ?"),
        (CLIENT, "oui d'accord"),
    ],
    roles={AGENT: "agent", CLIENT: "client"},
)


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    parsed: list[int] = []

    def counting(texts: list[str], batch_size: int = 64) -> list[Any]:
        parsed.append(len(list(texts)))
        return []

    monkeypatch.setattr(utterances, "parse", counting)
    return parsed


def test_a_stored_analysis_gives_the_same_utterances_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    first = parse_timeline(FICHE)
    assert set(first.fresh) == {c.chunk_id for c in FICHE.chunks()}
    assert all(a["version"] == ANALYSIS_VERSION for a in first.fresh.values())

    calls = _no_parse(monkeypatch)
    again = parse_timeline(FICHE.with_analyses(first.fresh))
    assert calls == [0], "nothing left to parse"
    assert again.fresh == {}
    assert [dataclasses.replace(u, vectors=(), vector=None) for u in again.utterances] == [
        dataclasses.replace(u, vectors=(), vector=None) for u in first.utterances
    ]
    for old, new in zip(first.utterances, again.utterances, strict=True):
        assert [v is None for v in old.vectors] == [v is None for v in new.vectors]
        pairs = zip(old.vectors, new.vectors, strict=True)
        assert all(a is None or (b is not None and abs(float(a @ b) - 1) < 1e-5) for a, b in pairs)
    said = again.utterances
    assert any(u.reported for u in said)
    assert any(u.question for u in said)
    assert any(u.filler for u in said)
    assert any(any(u.blocked) for u in said), "the fees said under a negation stay blocked"


def test_an_analysis_of_another_version_is_parsed_again() -> None:
    first = parse_timeline(FICHE)
    stale = {k: {**v, "version": "utterances-0/fr_core_news_md-0"} for k, v in first.fresh.items()}
    one = next(iter(first.fresh))
    stale[one] = first.fresh[one]  # one chunk current, the others stale
    again = parse_timeline(FICHE.with_analyses(stale))
    assert set(again.fresh) == set(first.fresh) - {one}


def test_the_heuristic_auditor_prepares_only_what_is_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    made = HeuristicAuditor().prepare(FICHE)
    assert len(made) == len(list(FICHE.chunks()))
    _no_parse(monkeypatch)
    assert HeuristicAuditor().prepare(FICHE.with_analyses(made)) == {}


def test_fiches_prepared_at_once_on_threads_each_get_their_own_parse() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from domain.audits.timeline import Timeline

    fiches = [Timeline(f"fiche-{n}", FICHE.recordings) for n in range(12)]  # more than the auditor keeps
    auditor = HeuristicAuditor()
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(auditor.prepare, fiches))
    assert all(set(m) == {c.chunk_id for c in FICHE.chunks()} for m in made)
