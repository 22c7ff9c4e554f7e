"""The simulator's FastAPI app: the gateway contract, recording audio, and `/__sim/` controls.

Gateway routes answer exactly what the real gateway answers (paths, query parameters, JSON
shapes, 404 on unknown fiches); everything only a simulator has (counters, runtime faults,
reference transcripts, ground truth) lives under `/__sim/` and is never faulted nor authenticated;
the controls that change it answer only loopback clients, and not at all when `control` is off.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from callaudit.demo_crm import payloads
from callaudit.demo_crm.audio import AudioPlan, plan_audio
from callaudit.demo_crm.behaviour import GatewayBehaviour
from callaudit.demo_crm.calls import build_transcript, fiche_ground_truth
from callaudit.demo_crm.config import Faults, SimulatorConfig
from callaudit.demo_crm.directory import build_directory
from callaudit.demo_crm.fiches import EPOCH, FicheCore, build_fiche, parse_fiche_id
from callaudit.demo_crm.recordings import RecordingMeta, parse_call_id, parse_filename
from callaudit.demo_crm.state import SimulatorState

MAX_RANGE_DAYS = 366


def _find_fiche(config: SimulatorConfig, fiche_id: str) -> FicheCore | None:
    parsed = parse_fiche_id(fiche_id, config.fiches_per_day)
    if parsed is None or parsed[0] < EPOCH:
        return None
    return build_fiche(config.seed, parsed[0], parsed[1], config.fiches_per_day, config.product_fault_rate)


def _find_recording(config: SimulatorConfig, fiche_id: str, index: int) -> tuple[FicheCore, RecordingMeta] | None:
    core = _find_fiche(config, fiche_id)
    if core is None or index >= len(core.recordings):
        return None
    return core, core.recordings[index]


def _find_call(config: SimulatorConfig, call_id: str) -> tuple[FicheCore, RecordingMeta] | None:
    parsed = parse_call_id(call_id)
    found = _find_recording(config, *parsed) if parsed else None
    return found if found and found[1].call_id == call_id else None


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(payloads.error_body(message, "VALIDATION_ERROR"), 400)


def _not_found(message: str) -> JSONResponse:
    return JSONResponse(payloads.error_body(message, "NOT_FOUND"), 404)


def _parse_day(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


def _byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["invalid"] | None:
    """(start, stop) of a single `bytes=` range; None to send everything; "invalid" for a 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header.removeprefix("bytes=").strip().partition("-")
    try:
        if not first:
            start, stop = max(0, size - int(last)), size
        else:
            start, stop = int(first), (min(size, int(last) + 1) if last else size)
    except ValueError:
        return None
    return (start, stop) if 0 <= start < stop else "invalid"


def _audio_response(plan: AudioPlan, range_header: str | None, head: bool) -> Response:
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav"}
    wanted = _byte_range(range_header, plan.size)
    if wanted == "invalid":
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{plan.size}"})
    start, stop = wanted if isinstance(wanted, tuple) else (0, plan.size)
    headers["Content-Length"] = str(stop - start)
    status = 200
    if isinstance(wanted, tuple):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{plan.size}"
    if head:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(plan.iter_bytes(start, stop), status_code=status, headers=headers)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _control(request: Request) -> None:
    """Changing the simulator is for the demo and tests on this machine: faults injected from
    elsewhere would disturb whoever relies on it."""
    state: SimulatorState = request.app.state.simulator
    if not state.config.control:
        raise HTTPException(404, "runtime control is off (DEMO_CRM_CONTROL=false)")
    if not _is_loopback(request.client.host if request.client else None):
        raise HTTPException(403, "runtime control is only accepted from this machine (loopback)")


def create_app(config: SimulatorConfig) -> FastAPI:
    """A fresh simulator (its own counters and fault draws) serving `config`'s synthetic CRM."""
    state = SimulatorState(config)
    app = FastAPI(
        title="callaudit demo CRM simulator",
        description="Synthetic stand-in for the CRM gateway. Not a real CRM: every fiche and call is generated.",
    )
    app.state.simulator = state
    app.add_middleware(GatewayBehaviour, state=state)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:])
        return _bad_request(f"{field}: {first['msg']}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "service": "callaudit-demo-crm", "simulator": True}

    @app.get("/api/fiches/sales-with-calls")
    def sales_with_calls(
        request: Request,
        *,
        start_date: str,
        end_date: str,
        status_id: int = payloads.SALE_STATUS_ID,
        include_recordings: bool = True,
        include_transcriptions: bool = False,
    ) -> JSONResponse:
        """Sales inserted in [start_date, end_date]; only status 53 (Vente) exists here.

        `include_transcriptions` is accepted and ignored, as the product always sends false.
        """
        start, end = _parse_day(start_date), _parse_day(end_date)
        if start is None or end is None:
            return _bad_request("start_date and end_date must be dates as YYYY-MM-DD")
        if end < start:
            return _bad_request("end_date is before start_date")
        if (end - start).days >= MAX_RANGE_DAYS:
            return _bad_request(f"date range longer than {MAX_RANGE_DAYS} days")
        if status_id != payloads.SALE_STATUS_ID or end < EPOCH:
            return JSONResponse({"fiches": [], "total": 0})
        cfg = state.config
        body = payloads.sales_list(
            cfg.seed,
            cfg.fiches_per_day,
            max(start, EPOCH),
            end,
            base_url=str(request.base_url),
            include_recordings=include_recordings,
            product_fault_rate=cfg.product_fault_rate,
        )
        return JSONResponse(body)

    @app.get("/api/fiches/by-id/{fiche_id}")
    def fiche_by_id(
        request: Request,
        fiche_id: str,
        *,
        include_recordings: bool = True,
        include_transcriptions: bool = False,
        include_mail_devis: bool = False,
    ) -> JSONResponse:
        cfg = state.config
        core = _find_fiche(cfg, fiche_id)
        if core is None or fiche_id in cfg.faults.permanent_not_found:
            return JSONResponse(payloads.fiche_not_found(fiche_id), 404)
        body = payloads.fiche_details(core, str(request.base_url), include_recordings, include_mail_devis)
        return JSONResponse(body)

    @app.get("/api/utilisateurs")
    def utilisateurs() -> JSONResponse:
        timestamp = datetime.now(UTC).isoformat()
        return JSONResponse(payloads.users(build_directory(state.config.seed), timestamp))

    @app.get("/api/utilisateurs/groupes")
    def groupes(include_users: bool = False) -> JSONResponse:
        return JSONResponse(payloads.groups(build_directory(state.config.seed), include_users))

    @app.api_route("/records/{acct}/{filename}", methods=["GET", "HEAD"])
    async def recording_audio(
        request: Request, acct: str, filename: str, range_header: Annotated[str | None, Header(alias="range")] = None
    ) -> Response:
        """The call's WAV; the signing token of a signed URL is accepted as is."""
        located = parse_filename(filename)
        found = _find_recording(state.config, *located) if located else None
        if found is None or found[1].account != acct or found[1].filename != filename:
            return _not_found("Recording not found")
        core, rec = found
        cfg = state.config

        def plan() -> AudioPlan:
            transcript = build_transcript(core, rec, cfg.asr_variation_rate)
            return plan_audio(transcript.words, transcript.duration_seconds, cfg.audio_sample_rate)

        return _audio_response(await run_in_threadpool(plan), range_header, request.method == "HEAD")

    @app.get("/__sim/stats")
    def sim_stats() -> dict[str, Any]:
        return state.stats.as_json()

    @app.post("/__sim/stats/reset", dependencies=[Depends(_control)])
    def sim_stats_reset() -> dict[str, Any]:
        state.stats.reset()
        return state.stats.as_json()

    @app.get("/__sim/config")
    def sim_config() -> dict[str, Any]:
        return state.config.model_dump(mode="json")

    @app.put("/__sim/config", dependencies=[Depends(_control)])
    def sim_config_update(faults: Faults) -> dict[str, Any]:
        """Replace the latency and fault settings (all families at once); data settings stay."""
        state.config = state.config.model_copy(update={"faults": faults})
        return state.config.model_dump(mode="json")

    @app.get("/__sim/transcripts/{call_id}")
    def sim_transcript(call_id: str) -> JSONResponse:
        found = _find_call(state.config, call_id)
        if found is None:
            return _not_found("Unknown call")
        return JSONResponse(build_transcript(*found, state.config.asr_variation_rate).as_json())

    @app.get("/__sim/ground-truth/{fiche_id}")
    def sim_ground_truth(fiche_id: str) -> JSONResponse:
        core = _find_fiche(state.config, fiche_id)
        if core is None:
            return _not_found("Unknown fiche")
        return JSONResponse(fiche_ground_truth(core))

    return app
