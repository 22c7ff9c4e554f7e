"""`?format=pdf` of a report: the paper version laid out by xhtml2pdf, in-process, no network.

The paper version is the page without players, their times in their place (what the print
stylesheet shows), rendered by the same template: xhtml2pdf (pure Python over ReportLab) applies
the page's CSS but not its `@media print` rules, so the players are left out of the view instead.
Its resource policy allows no remote fetch and no local read (the page has no external resource
anyway). A 20-step report takes about two seconds of CPU, so rendering runs in a worker thread, one
at a time per process, under a render-time cap.
"""

from __future__ import annotations

import io
import logging

import anyio.to_thread
from fastapi import Response

from api.errors import AppError

# One render at a time per process: each is seconds of CPU held by a worker thread.
_SLOTS = anyio.CapacityLimiter(1)
# xhtml2pdf warns on every render about CSS it ignores (grid, outline): known, not actionable.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)


class PdfFailed(AppError):
    status_code = 500


def render_pdf(html: str) -> bytes:
    # Imported by the first render, not with the app: xhtml2pdf, ReportLab and pypdf hold 33 MiB in
    # every API process, and most never render a PDF (decision 124).
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    policy = ResourceAccessPolicy.server(None, allow_remote=False, max_resources=0, max_render_seconds=30)
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if status.err:
        raise PdfFailed("The report could not be laid out as PDF")
    return out.getvalue()


async def pdf_response(html: str, filename: str) -> Response:
    data = await anyio.to_thread.run_sync(render_pdf, html, limiter=_SLOTS)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Robots-Tag": "noindex",
        },
    )
