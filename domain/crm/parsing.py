"""Typed views of the CRM gateway's payloads, and its date formats.

The models are lenient where the gateway is loose (unknown keys are kept, nulls accepted nearly
everywhere) and strict where a wrong value would silently corrupt data: a value of the wrong type
or a malformed date raises `CrmPayloadError` naming the field, so a contract drift fails one fiche
loudly instead of storing garbage. Dates stay the gateway's strings in the models; callers convert
them with the functions below, which know the business time zone (the CRM writes local times).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError

BUSINESS_TZ = ZoneInfo("Europe/Paris")
"""Default business time zone; callers pass `ZoneInfo(settings.sales_timezone)` to override."""


class CrmPayloadError(ValueError):
    """A gateway value could not be read; `field` is its dotted path in the payload."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# --- dates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateFormat:
    """One of the gateway's local date(-time) spellings: a shape to check and a strftime pattern."""

    label: str
    shape: re.Pattern[str]
    pattern: str


FR_DATETIME = DateFormat("DD/MM/YYYY HH:MM", re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"), "%d/%m/%Y %H:%M")
FR_DATE = DateFormat("DD/MM/YYYY", re.compile(r"\d{2}/\d{2}/\d{4}"), "%d/%m/%Y")
SQL_DATETIME = DateFormat(
    "YYYY-MM-DD HH:MM:SS", re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"), "%Y-%m-%d %H:%M:%S"
)


def _naive(value: str | None, field: str, fmt: DateFormat) -> dt.datetime | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not fmt.shape.fullmatch(text):
        raise CrmPayloadError(field, f"expected a date as {fmt.label}, got {value!r}")
    try:
        return dt.datetime.strptime(text, fmt.pattern)  # local time: callers attach the zone
    except ValueError as exc:
        raise CrmPayloadError(field, f"not a valid {fmt.label} date: {value!r}") from exc


def parse_local_datetime(
    value: str | None, field: str, fmt: DateFormat = FR_DATETIME, tz: ZoneInfo = BUSINESS_TZ
) -> dt.datetime | None:
    """An aware datetime from a CRM local time (`DD/MM/YYYY HH:MM` by default); blank -> None."""
    naive = _naive(value, field, fmt)
    return None if naive is None else naive.replace(tzinfo=tz)


def parse_local_date(value: str | None, field: str, fmt: DateFormat = FR_DATE) -> dt.date | None:
    """A date from `DD/MM/YYYY` (by default); blank -> None."""
    naive = _naive(value, field, fmt)
    return None if naive is None else naive.date()


def format_local_datetime(value: dt.datetime, fmt: DateFormat = FR_DATETIME, tz: ZoneInfo = BUSINESS_TZ) -> str:
    """The gateway's spelling of an instant, in the business time zone (inverse of the parser)."""
    return value.astimezone(tz).strftime(fmt.pattern)


def format_local_date(value: dt.date, fmt: DateFormat = FR_DATE) -> str:
    return value.strftime(fmt.pattern)


@dataclass(frozen=True)
class StartTime:
    """A call's start instant. `offset_assumed` flags an upstream timestamp that had no UTC offset,
    which was then read in the business time zone (§13.3 #22): kept visible rather than silently guessed."""

    at: dt.datetime
    offset_assumed: bool


def parse_start_time(
    value: str | None, field: str = "start_time", naive_tz: ZoneInfo = BUSINESS_TZ
) -> StartTime | None:
    """ISO 8601 with an offset (the contract). Offset-less ISO is read as UTC: the gateway renders its
    UTC database value, and the recording file names (UTC) agree on the real payloads. A French
    `DD/MM/YYYY HH:MM` is local time, read in `naive_tz`. Both guesses are flagged. Blank -> None;
    anything else raises naming the field."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        local = parse_local_datetime(text, field, FR_DATETIME, naive_tz)
        assert local is not None  # non-blank text parses to a value or raises
        return StartTime(local, offset_assumed=True)
    if parsed.tzinfo is None:
        return StartTime(parsed.replace(tzinfo=dt.UTC), offset_assumed=True)
    return StartTime(parsed, offset_assumed=False)


def format_start_time(start: StartTime) -> str:
    """ISO 8601 in UTC; a start time that came without offset goes back without one (UTC)."""
    if start.offset_assumed:
        return start.at.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    return start.at.astimezone(dt.UTC).isoformat()


# --- payload models ----------------------------------------------------------------------------


class CrmModel(BaseModel):
    """Unknown keys are kept (`model_extra`) and numbers are accepted where the contract says string."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class CrmRecording(CrmModel):
    """A call, as both the sales list and the details carry it; `call_id` is its upstream key."""

    call_id: str
    start_time: str | None = None
    duration_seconds: int | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    answered: bool | None = None
    recording_url: str | None = None


class SalesFiche(CrmModel):
    """One row of `GET /api/fiches/sales-with-calls`: a summary, never a substitute for details."""

    id: str
    cle: str | None = None
    nom: str | None = None
    prenom: str | None = None
    telephone: str | None = None
    telephone_2: str | None = None
    email: str | None = None
    statut: str | None = None
    date_insertion: str | None = None
    date_modification: str | None = None
    recordings: list[CrmRecording] | None = None


class SalesPage(CrmModel):
    fiches: list[SalesFiche] | None = None
    total: int | None = None


class Etiquette(CrmModel):
    nom: str | None = None
    date: str | None = None
    style: str | None = None


class Information(CrmModel):
    fiche_id: str | None = None
    cle: str | None = None
    date_insertion: str | None = None
    dernier_acces: str | None = None
    nombre_acces: int | None = None
    groupe: str | None = None
    groupe_responsable: str | None = None
    agence_id: str | None = None
    agence_nom: str | None = None
    attribution_user_id: str | None = None
    attribution_user_nom: str | None = None
    attribution_bis_user_id: str | None = None
    attribution_bis_user_nom: str | None = None
    provenance_id: str | None = None
    provenance_nom: str | None = None
    origine_id: str | None = None
    origine_nom: str | None = None
    refus_demarchage: bool | None = None
    exception_demarchage: bool | None = None
    corbeille: bool | None = None
    archive: bool | None = None
    modules: list[str] | None = None
    etiquettes: list[Etiquette] | None = None


class Prospect(CrmModel):
    prospect_id: str | None = None
    civilite: int | None = None
    civilite_text: str | None = None
    nom: str | None = None
    prenom: str | None = None
    date_naissance: str | None = None
    regime: str | None = None
    regime_text: str | None = None
    telephone: str | None = None
    mobile: str | None = None
    telephone_2: str | None = None
    mail: str | None = None
    mail_2: str | None = None
    adresse: str | None = None
    code_postal: str | None = None
    ville: str | None = None
    situation_familiale: int | None = None
    situation_familiale_text: str | None = None
    profession: str | None = None
    csp: int | None = None
    csp_text: str | None = None


class Conjoint(CrmModel):
    conjoint_id: str | None = None
    civilite: int | str | None = None
    nom: str | None = None
    prenom: str | None = None
    date_naissance: str | None = None
    regime: int | str | None = None
    profession: str | None = None
    csp: int | str | None = None


class Enfant(CrmModel):
    enfant_id: str | None = None
    civilite: int | str | None = None
    nom: str | None = None
    prenom: str | None = None
    date_naissance: str | None = None
    regime: int | str | None = None


class Commentaire(CrmModel):
    commentaire_id: str | None = None
    date: str | None = None
    utilisateur: str | None = None
    texte: str | None = None


class Produit(CrmModel):
    """The product sold; `groupe_nom` / `gamme_nom` / `formule_nom` are what product matching uses."""

    date_effet: str | None = None
    formule: str | None = None
    groupe_nom: str | None = None
    gamme_nom: str | None = None
    formule_nom: str | None = None
    cotisation: str | None = None
    type_contrat: str | None = None
    type_client: str | None = None


class Paiement(CrmModel):
    mode_paiement: str | None = None
    prelevement_le: str | None = None
    periodicite: str | None = None
    pas_coord_bancaires: bool | None = None
    compte_prelevement: dict[str, Any] | None = None
    compte_virement: dict[str, Any] | None = None


class AncienContrat(CrmModel):
    deja_assure: bool | None = None
    plus_12_mois: bool | None = None
    ria_requested: bool | None = None
    assureur: str | None = None
    date_echeance: str | None = None
    num_contrat: str | None = None
    formule: str | None = None
    cotisation: str | None = None


class ElementsSouscription(CrmModel):
    souscription_id: str | None = None
    date_souscription: str | None = None
    date_signature: str | None = None
    date_validation: str | None = None
    num_contrat: str | None = None
    annulation_contrat: bool | None = None
    type_vente: str | None = None
    vente_a_froid: str | None = None
    vf_accept: str | None = None
    ancien_contrat: AncienContrat | None = None
    produit: Produit | None = None
    paiement: Paiement | None = None
    questions_complementaires: Any = None
    questions_conseil: Any = None
    raw_data: Any = None


class FicheDetails(CrmModel):
    """`GET /api/fiches/by-id/{id}`. Sections this product does not query stay raw lists/dicts."""

    success: bool | None = None
    message: str | None = None
    information: Information | None = None
    prospect: Prospect | None = None
    conjoint: Conjoint | None = None
    enfants: list[Enfant] | None = None
    commentaires: list[Commentaire] | None = None
    elements_souscription: ElementsSouscription | None = None
    recordings: list[CrmRecording] | None = None
    raw_sections: dict[str, Any] | None = None
    mails: list[dict[str, Any]] | None = None
    rendez_vous: list[dict[str, Any]] | None = None
    tarification: list[dict[str, Any]] | None = None
    reclamations: list[dict[str, Any]] | None = None
    autres_contrats: list[dict[str, Any]] | None = None
    documents: list[dict[str, Any]] | None = None
    alertes: list[dict[str, Any]] | None = None
    mail_devis: dict[str, Any] | None = None


_M = TypeVar("_M", bound=CrmModel)


def _validate(model: type[_M], data: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or model.__name__
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CrmPayloadError(field, f"{first['msg']}{more}") from exc


def parse_sales_page(data: Mapping[str, Any]) -> SalesPage:
    """The sales list, or `CrmPayloadError` naming the first bad field (e.g. `fiches.3.id`)."""
    return _validate(SalesPage, data)


def parse_fiche_details(data: Mapping[str, Any]) -> FicheDetails:
    """The details payload, or `CrmPayloadError` naming the first bad field."""
    return _validate(FicheDetails, data)
