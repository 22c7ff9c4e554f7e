"""Benchmark: server-side render time of a 20-step audit report page (100 ms bound) and of its PDF.

No server and no database: the report's view model (`domain.reports.view.build_report`) and its
Jinja2 template (`api.reports.render`) are what the route runs after its four queries, so this
times them on the demo data. The audit is the demo scorecard's 10 steps twice (20 steps, every
control point with two citations), and the transcripts are the demo CRM's reference transcripts
of one simulator fiche, chunked as stored. The route's four queries are not in this figure.

`?format=pdf` is timed the same way: the view without players, the template, then xhtml2pdf
(`api.reports.pdf.render_pdf`, what the route runs in its worker thread). Its bound is 5 s: one PDF
renders at a time per process, so a render is also the wait of the next request in line, and a
download that takes longer than a few seconds is one a person gives up on (the route's hard cap,
30 s, only stops a runaway render).

The last line is `key=value`; `ratio` = median page render time / 100 ms, `pdf_ratio` = median PDF
render time / 5 s (<= 1 meets each).

    .venv/bin/python benchmarks/report.py [--steps 20] [--runs 200] [--pdf-runs 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace as Row
from typing import Any

from api.reports.pdf import render_pdf
from api.reports.render import render
from callaudit.demo_crm.calls import build_transcript
from callaudit.demo_crm.fiches import build_fiche
from domain.reports.view import AuditSource, CallSource, build_report
from domain.transcripts.chunking import Word, build_chunks

BOUND_MS = 100.0
PDF_BOUND_MS = 5000.0
SCORECARD = Path(__file__).resolve().parents[1] / "domain" / "audits" / "demo_scorecard.json"


def _calls() -> tuple[list[CallSource], list[Any]]:
    core = build_fiche(7, date(2025, 3, 3), 1, 4)
    calls, chunks = [], []
    for rec in core.recordings:
        transcript = build_transcript(core, rec)
        words = [Word(w.text, w.start, w.end, w.speaker) for w in transcript.words]
        turns = [
            Row(chunk_id=c.chunk_id, speaker=c.speaker, role="agent" if c.speaker == "speaker_0" else "client",
                start_seconds=c.start, end_seconds=c.end, text=c.text)
            for c in build_chunks(rec.call_id, words)
        ]  # fmt: skip
        calls.append(CallSource(call_id=rec.call_id, has_url=True, recorded="03/03/2025 10:15", turns=turns))
        chunks += turns
    return calls, chunks


def _audit(steps: int, chunks: list[Any]) -> Row:
    template = json.loads(SCORECARD.read_text(encoding="utf-8"))["auditSteps"]
    rows = []
    for position in range(1, steps + 1):
        step = template[(position - 1) % len(template)]
        points = []
        for index, point in enumerate(step["controlPoints"], start=1):
            cited = [chunks[(position * 7 + index * 3 + k) % len(chunks)] for k in range(2)]
            citations = [
                Row(index=k + 1, texte=c.text[:120], chunk_id=c.chunk_id, call_id=c.chunk_id.split(":")[0],
                    speaker=c.speaker, role=c.role, start_seconds=c.start_seconds, end_seconds=c.end_seconds)
                for k, c in enumerate(cited)
            ]  # fmt: skip
            points.append(Row(index=index, point=point, statut="PRESENT", commentaire="Dit clairement.",
                              downgraded=False, citations=citations))  # fmt: skip
        rows.append(
            Row(position=position, name=step["name"], is_critical=step["isCritical"], conforme="CONFORME",
                score=step["weight"], weight=step["weight"], commentaire_global="Étape menée.", failed=False,
                control_points=points)
        )  # fmt: skip
    return Row(
        id=1, steps=rows, completed_at=None, created_at=None, auditor="heuristic", model=None,
        transcript_mode="prompt", score_percentage=92.5, niveau="EXCELLENT", is_compliant=True,
        critical_passed=4, critical_total=4, needs_review=False,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--pdf-runs", type=int, default=5)
    args = parser.parse_args()

    calls, chunks = _calls()
    source = AuditSource(_audit(args.steps, chunks), "1001", "Jeanne Martin", "Paul Durand", "Groupe A",
                         "Vente santé", 1, calls)  # fmt: skip

    def audio(call_id: str) -> str:
        return f"/api/recordings/1001/{call_id}/audio"

    def once() -> tuple[float, int]:
        started = time.perf_counter()
        html = render("report.html.j2", r=build_report(source, audio))
        return (time.perf_counter() - started) * 1000, len(html)

    once()  # the template compiles on first use, once per process
    timings, size = [], 0
    for _ in range(args.runs):
        elapsed, size = once()
        timings.append(elapsed)
    median = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[-1]

    def pdf_once() -> tuple[float, int]:
        started = time.perf_counter()
        document = render_pdf(render("report.html.j2", r=build_report(source, None)))
        return (time.perf_counter() - started) * 1000, len(document)

    pdf_once()  # ReportLab's fonts load on first use
    pdf_timings, pdf_size = [], 0
    for _ in range(args.pdf_runs):
        elapsed, pdf_size = pdf_once()
        pdf_timings.append(elapsed)
    pdf_median = statistics.median(pdf_timings)
    points = sum(len(s.control_points) for s in source.audit.steps)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"audit: {args.steps} steps, {points} control points, {points * 2} citations, {len(calls)} calls, "
          f"{len(chunks)} transcript turns; page {size / 1024:.0f} KiB")  # fmt: skip
    print(f"render (view model + template), {args.runs} runs: median {median:.1f} ms, p95 {p95:.1f} ms")
    print(f"PDF (view + template + xhtml2pdf), {args.pdf_runs} runs: median {pdf_median:.0f} ms, "
          f"max {max(pdf_timings):.0f} ms; {pdf_size / 1024:.0f} KiB")  # fmt: skip
    ratio = median / BOUND_MS
    pdf_ratio = pdf_median / PDF_BOUND_MS
    print(f"steps={args.steps} median_ms={median:.2f} p95_ms={p95:.2f} bound_ms={BOUND_MS:.0f} ratio={ratio:.3f} "
          f"pdf_median_ms={pdf_median:.0f} pdf_bound_ms={PDF_BOUND_MS:.0f} pdf_ratio={pdf_ratio:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
