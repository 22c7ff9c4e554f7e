"""The report's view model and its template, without a database or a browser."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace as Row
from zoneinfo import ZoneInfo

from api.reports.render import render
from domain.reports.view import AuditSource, CallSource, build_report, clock
from tests.fixtures.reports_html import html_problems


def _source(has_url: bool = True) -> AuditSource:
    citation = Row(
        index=1, texte="je suis Paul <b>", chunk_id="c1:0", call_id="c1", speaker="speaker_0", role="agent",
        start_seconds=62.4, end_seconds=65.0,
    )  # fmt: skip
    step = Row(
        position=1, name="Présentation", is_critical=True, conforme="NON_CONFORME", score=0, weight=5,
        commentaire_global="", failed=False,
        control_points=[
            Row(index=2, point="Société", statut="ABSENT", commentaire="", downgraded=True, citations=[]),
            Row(index=1, point="Nom", statut="PRESENT", commentaire="ok", downgraded=False, citations=[citation]),
        ],
    )  # fmt: skip
    audit = Row(
        id=9, steps=[step], completed_at=dt.datetime(2025, 3, 3, 10, 5, tzinfo=dt.UTC), created_at=None,
        auditor="heuristic", model=None, transcript_mode="prompt", score_percentage=Decimal("42.50"),
        niveau="REJET", is_compliant=False, critical_passed=0, critical_total=1, needs_review=True,
    )  # fmt: skip
    turns = [Row(chunk_id="c1:0", speaker="speaker_0", role="agent", start_seconds=62.4, text="je suis Paul <b>"),
             Row(chunk_id="c1:1", speaker="speaker_1", role=None, start_seconds=66.0, text="oui")]  # fmt: skip
    calls = [CallSource(call_id="c1", has_url=has_url, recorded="03/03/2025 10:15", turns=turns)]
    return AuditSource(audit, "F1", "Jeanne Martin", "Paul", "Groupe A", "Vente", 3, calls)


def test_clock() -> None:
    assert [clock(0), clock(62.9), clock(3725)] == ["0:00", "1:02", "1:02:05"]


def test_view_orders_points_marks_critical_failures_and_highlights_cited_turns() -> None:
    view = build_report(_source(), lambda call: f"/audio/{call}")
    assert [p.index for p in view.steps[0].points] == [1, 2]
    assert view.critical_failed == ["Présentation"]
    assert view.score == "42,5 %"
    assert view.date == "03/03/2025 10:05"
    assert build_report(_source(), None, tz=ZoneInfo("Europe/Paris")).date == "03/03/2025 11:05"
    citation = view.steps[0].points[0].citations[0]
    assert (citation.time, citation.audio_url, citation.call_label) == (
        "1:02-1:05",
        "/audio/c1",
        "Appel 1 (03/03/2025 10:15)",
    )
    assert [t.cited for t in view.calls[0].turns] == [True, False]
    assert view.calls[0].turns[1].role == "locuteur inconnu"


def test_no_listening_or_no_recording_means_no_player() -> None:
    assert build_report(_source(), None).steps[0].points[0].citations[0].audio_url is None
    gone = build_report(_source(has_url=False), lambda call: "/x")
    assert gone.steps[0].points[0].citations[0].audio_url is None
    assert gone.calls[0].unavailable == "Enregistrement non fourni par le CRM."
    assert "Enregistrement non fourni par le CRM." in render("report.html.j2", r=gone)


def test_template_escapes_text_and_is_well_formed() -> None:
    html = render("report.html.j2", r=build_report(_source(), lambda call: f"/audio/{call}"))
    assert html_problems(html) == []
    assert "je suis Paul &lt;b&gt;" in html
    assert "<b>" not in html
    assert 'src="/audio/c1#t=62.4,65.0"' in html
    assert "(à relire)" in html


def test_human_review_and_rerun_history_render_only_when_present() -> None:
    view = build_report(_source(), None)
    html = render("report.html.j2", r=view)
    assert "Révisions humaines" not in html
    assert "Historique des relances" not in html
    reviewed = dataclasses.replace(
        view,
        human_review=[{"label": "Étape 1 : CONFORME", "by": "Alice", "at": "03/03/2025", "reason": "écouté"}],
        rerun_history=[{"label": "Version 2", "at": "04/03/2025", "result": "BON"}],
    )
    html = render("report.html.j2", r=reviewed)
    assert "Révisions humaines" in html
    assert "Alice" in html
    assert "Historique des relances" in html
    assert html_problems(html) == []


def test_the_page_shows_every_header_field_and_each_steps_and_citations_details() -> None:
    source = _source()
    source.audit.steps[0].commentaire_global = "Présentation sans le nom de la société."
    source.audit.model = "gpt-test"
    html = render("report.html.j2", r=build_report(source, lambda call: f"/audio/{call}"))
    header = {
        "Fiche": "F1",
        "Prospect": "Jeanne Martin",
        "Conseiller": "Paul",
        "Groupe": "Groupe A",
        "Grille": "Vente (version 3)",
        "Auditeur": "heuristic",
        "Modèle": "gpt-test",
        "Mode de transcription": "transcription dans le prompt",
        "Date": "03/03/2025 10:05",
        "Score": "42,5 %",
        "Niveau": "REJET (à relire)",
        "Étapes critiques réussies": "0 / 1 — en échec : Présentation",
    }
    for label, value in header.items():
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html, label
    # the step: verdict, score / weight, comment; each point its status and comment
    assert 'Verdict : <span class="verdict-NON_CONFORME">Non conforme</span> · Score : 0 / 5' in html
    assert "<p>Présentation sans le nom de la société.</p>" in html
    assert '<h4>Nom — <span class="status-PRESENT">Présent</span></h4>' in html
    assert '<h4>Société — <span class="status-ABSENT">Absent</span> (faute de preuve)</h4>' in html
    # the citation: speaker and role, call, time linking to the passage, a player of that span
    cited = 'speaker_0 (conseiller), Appel 1 (03/03/2025 10:15), <a href="#passage-c1-0"><span class="time">1:02-1:05'
    assert cited in html
    assert 'data-start="62.4" data-end="65.0"' in html
