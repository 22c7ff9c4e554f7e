"""The gateway's JSON bodies: sales list, fiche details, CRM users and groups, errors.

Shapes follow the real gateway payloads key for key; recording URLs are built on the base URL the
client used to reach the simulator, so the audio links work from wherever the lists were fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from callaudit.demo_crm import sections
from callaudit.demo_crm.directory import GROUPS, Directory
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from callaudit.demo_crm.recordings import RecordingMeta

Json = dict[str, Any]

SALE_STATUS_ID = 53


def days_between(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def newest_first(core: FicheCore) -> list[RecordingMeta]:
    """The gateway lists a fiche's calls from the latest to the earliest."""
    return sorted(core.recordings, key=lambda rec: rec.start, reverse=True)


def sales_fiche(core: FicheCore, base_url: str, include_recordings: bool) -> Json:
    p = core.prospect
    return {
        "id": core.fiche_id,
        "cle": core.cle if core.cle_in_sales_list else None,
        "nom": p.person.nom,
        "prenom": p.person.prenom,
        "telephone": p.telephone,
        "telephone_2": p.telephone_2,
        "email": p.email,
        "statut": "Vente",
        "date_insertion": sections.fr_datetime(core.inserted_at),
        "date_modification": sections.fr_datetime(core.modified_at) if core.modified_at else None,
        "recordings": [rec.as_payload(base_url, sales_list=True) for rec in newest_first(core)]
        if include_recordings
        else [],
    }


def sales_list(
    seed: int,
    fiches_per_day: int,
    start: date,
    end: date,
    *,
    base_url: str,
    include_recordings: bool,
    product_fault_rate: float = 0.0,
) -> Json:
    """Every sale inserted from `start` to `end` inclusive; fiches are generated day by day."""
    fiches = [
        sales_fiche(build_fiche(seed, day, index, fiches_per_day, product_fault_rate), base_url, include_recordings)
        for day in days_between(start, end)
        for index in range(fiches_per_day)
    ]
    return {"fiches": fiches, "total": len(fiches)}


def fiche_details(core: FicheCore, base_url: str, include_recordings: bool, include_mail_devis: bool) -> Json:
    payload: Json = {
        "success": True,
        "message": "Fiche parsed successfully",
        "information": sections.information(core),
        "prospect": sections.prospect(core),
        "conjoint": sections.conjoint(core),
        "enfants": sections.enfants(core),
        "mails": sections.mails(core),
        "rendez_vous": sections.rendez_vous(core),
        "commentaires": sections.commentaires(core),
        "elements_souscription": sections.elements_souscription(core),
        "tarification": sections.tarification(core),
        "reclamations": sections.reclamations(core),
        "autres_contrats": sections.autres_contrats(core),
        "documents": sections.documents(core),
        "alertes": sections.alertes(core),
        "recordings": [rec.as_payload(base_url, sales_list=False) for rec in newest_first(core)]
        if include_recordings
        else [],
        "raw_sections": sections.raw_sections(core),
    }
    if include_mail_devis:
        payload["mail_devis"] = sections.mail_devis(core)
    return payload


def fiche_not_found(fiche_id: str) -> Json:
    """The gateway's 404 body, the same for a fiche that does not exist and a transient miss."""
    return {"success": False, "message": "Fiche not found", "error": "NOT_FOUND", "fiche_id": fiche_id}


def error_body(message: str, code: str) -> Json:
    return {"success": False, "message": message, "error": code}


def users(directory: Directory, timestamp: str) -> Json:
    """`GET /api/utilisateurs`; `tv` (télévente) and `se` flags are carried as the CRM's booleans."""
    utilisateurs = [
        {
            "id": user.id,
            "nom": user.person.nom,
            "prenom": user.person.prenom,
            "telephone": user.telephone,
            "email": user.email,
            "login": user.login,
            "agence": user.group.agence_nom,
            "agence_id": user.group.agence_id,
            "role": user.role[1],
            "role_id": user.role[0],
            "etat": "Actif" if user.active else "Inactif",
            "actif": user.active,
            "tv": user.role[1] == "Commercial",
            "se": False,
        }
        for user in directory.users
    ]
    return {
        "success": True,
        "message": "Utilisateurs récupérés",
        "data": {"utilisateurs": utilisateurs, "total_count": len(utilisateurs)},
        "timestamp": timestamp,
    }


def groups(directory: Directory, include_users: bool) -> Json:
    """`GET /api/utilisateurs/groupes`; member ids only when asked, as the gateway does."""
    groupes = []
    for group in GROUPS:
        members = directory.group_members(group)
        entry: Json = {
            "id": group.id,
            "nom": group.nom,
            "membres_count": len(members),
            "responsable_1": directory.lead(group).person.display,
            "responsable_2": None,
            "responsable_3": None,
        }
        if include_users:
            entry["user_ids"] = [user.id for user in members]
        groupes.append(entry)
    return {"success": True, "data": {"groupes": groupes, "total_count": len(groupes)}}
