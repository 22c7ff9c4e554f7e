"""Small hand-written gateway payloads of the real fixtures' shape, shared by the CRM tests.

They mirror `/work/shared/fixtures/crm/*.json` (nulls, empty strings, French dates, a call without
offset, a signed URL) so the suite passes without those files; when the files are present, the
tests below check that both have the same keys, so the hand-written ones cannot drift.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from domain.crm.parsing import parse_fiche_details, parse_sales_page

SHARED_FIXTURES = Path("/work/shared/fixtures/crm")
FICHE_ID = "2000001"
CDN = "https://cdn.example.invalid/records/1000-2000"

_DETAILS: dict[str, Any] = {
    "success": True,
    "message": "Fiche parsed successfully",
    "information": {
        "fiche_id": FICHE_ID,
        "cle": "0123456789abcdef0123456789abcdef",
        "date_insertion": "03/03/2025 00:30",
        "createur": None,
        "fiches_associees": None,
        "nombre_acces": 12,
        "dernier_acces": "05/03/2025 18:02",
        "groupe": "NCA R1",
        "groupe_responsable": "Paul MARTIN",
        "groupe_gestion": "Réclamation :",
        "groupe_reclamation": "",
        "agence_id": "17",
        "agence_nom": "1-NCAR1",
        "attribution_user_id": "104",
        "attribution_user_nom": "Zoé PETIT",
        "provenance_id": "118",
        "provenance_nom": "KEVB",
        "provenance_numero": None,
        "provenance_periode_rappel": None,
        "origine_id": None,
        "origine_nom": None,
        "attribution_bis_user_id": None,
        "attribution_bis_user_nom": None,
        "refus_demarchage": False,
        "exception_demarchage": False,
        "exception_demarchage_commentaire": "",
        "niveau_interet": None,
        "nombre_ouverture_mails": 0,
        "derniere_ouverture_mail": None,
        "nombre_visualisation_pages": 2,
        "derniere_visualisation_page": "04/03/2025 16:54",
        "espace_prospect_url": None,
        "ferme_espace_prospect": False,
        "desinscription_mail": False,
        "corbeille": False,
        "archive": False,
        "modules": ["Santé"],
        "etiquettes": [
            {"nom": "Ecoute LD", "date": "04/03/2025", "style": "background:#2A8C30;color:#fff;"},
            {"nom": "Qualité confirmée", "date": "", "style": "background:#4CAF50;color:#fff;"},
        ],
    },
    "prospect": {
        "prospect_id": "2220001",
        "civilite": 1,
        "civilite_text": "Monsieur",
        "nom": "DURAND",
        "prenom": "Éric",
        "date_naissance": "09/02/1958",
        "regime": "1",
        "regime_text": "Régime Général",
        "telephone": "0612345678",
        "mobile": None,
        "telephone_2": None,
        "mail": "client0001@example.org",
        "mail_2": None,
        "adresse": "1 rue des Exemples",
        "code_postal": "75000",
        "ville": "EXEMPLEVILLE",
        "num_secu": None,
        "num_affiliation": "881500001",
        "situation_familiale": 1,
        "situation_familiale_text": "Marié(e)",
        "madelin": False,
        "profession": "retraité",
        "csp": 6,
        "csp_text": "Retraité",
        "fax": None,
    },
    "conjoint": None,
    "enfants": [
        {
            "enfant_id": "e1",
            "civilite": 2,
            "nom": "DURAND",
            "prenom": "Lina",
            "date_naissance": "01/01/2010",
            "regime": "1",
        }
    ],
    "mails": [
        {
            "date_envoi": "04/03/2025 10:44",
            "type_mail": "z Projet adhésion",
            "utilisateur": "Zoé PETIT",
            "visualisation_url": "https://crm.example.invalid/visualisation_url/1",
        }
    ],
    "rendez_vous": [],
    "commentaires": [
        {"commentaire_id": "comm_0", "date": "05/03/2025 11:14", "utilisateur": "Unknown", "texte": "Rejet traité"},
        {"commentaire_id": "comm_1", "date": "", "utilisateur": "Zoé PETIT", "texte": "Client rappelé", "lu": True},
    ],
    "elements_souscription": {
        "souscription_id": "030001",
        "date_souscription": "2025-03-04 10:20:11",
        "date_signature": "2025-03-04 10:26:28",
        "date_validation": None,
        "num_contrat": "00860001",
        "annulation_contrat": False,
        "type_vente": "1",
        "vente_a_froid": "3",
        "vf_accept": "0",
        "ancien_contrat": {
            "deja_assure": False,
            "plus_12_mois": False,
            "ria_requested": False,
            "assureur": "",
            "code_assureur": "",
            "adresse": "",
            "code_postal": "",
            "ville": "",
            "date_souscription": "",
            "date_echeance": "31/03/2025",
            "num_contrat": "",
            "formule": "",
            "cotisation": "",
        },
        "produit": {
            "date_effet": None,
            "date_effet_modifiable": "",
            "formule": "CEGEMA Essentiel2HOSPIà23,64€/mois",
            "groupe_nom": "CEGEMA",
            "gamme_nom": "Essentiel2",
            "formule_nom": "HOSPI",
            "cotisation": "23.64",
            "type_contrat": None,
            "type_client": None,
            "logo_url": None,
            "garanties_url": "https://crm.example.invalid/garanties_url/1",
        },
        "paiement": {
            "mode_paiement": "Prélèvement",
            "prelevement_le": "12",
            "periodicite": "mensuel",
            "pas_coord_bancaires": False,
            "compte_prelevement": {"account_id": "990001", "titulaire_nom": "DURAND"},
            "compte_virement": None,
        },
        "questions_complementaires": {"Pays de naissance": "FRANCE"},
        "questions_conseil": {
            "Vous souhaitez privilégier un contrat": "Non Responsable",
            "Bénéficiez-vous d’une prise en charge thérapeutique à 100% (ALD) ?": "Oui",  # noqa: RUF001 - as sent
        },
        "raw_data": {},
    },
    "tarification": [],
    "reclamations": [],
    "autres_contrats": [],
    "documents": [],
    "alertes": [
        {"alerte_id": "531000", "etat": "Traitée", "date": "04/03/2025", "etiquette": None, "libelle": "SIGNASSUR"}
    ],
    "recordings": [
        {
            "call_id": "12258673469935550001",
            "start_time": "2025-03-03T08:45:05.454463+00:00",
            "duration_seconds": 521,
            "direction": "out",
            "from_number": "33612345678",
            "to_number": "33402917912",
            "answered": True,
            "recording_url": f"{CDN}/00000000-0000-4000-8000-000000000001-03-03-25-08h45-33612345678-33402917912.mp3",
        },
        {
            "call_id": "12258673469935550002",
            "start_time": "2025-03-04T09:24:17.393093+00:00",
            "duration_seconds": 96,
            "direction": "in",
            "from_number": "33402917912",
            "to_number": "33612345678",
            "answered": True,
            "recording_url": f"{CDN}/00000000-0000-4000-8000-000000000002-04-03-25-09h24-33402917912-33612345678.mp3"
            "?token=abc123#t=0",
        },
        {
            "call_id": "12258673469935550003",
            "start_time": "2025-03-05T19:15:46.847653",
            "duration_seconds": 121,
            "direction": "out",
            "from_number": "33612345678",
            "to_number": "33402917912",
            "answered": False,
            "recording_url": f"{CDN}/00000000-0000-4000-8000-000000000003-05-03-25-19h15-33612345678-33402917912.mp3",
        },
    ],
    "raw_sections": {"Notes": "texte libre"},
    "nouvelle_section": {"introduced": "later"},
}

_SALES: dict[str, Any] = {
    "fiches": [
        {
            "id": FICHE_ID,
            "cle": "0123456789abcdef0123456789abcdef",
            "nom": "DURAND",
            "prenom": "Éric",
            "telephone": "0612345678",
            "telephone_2": None,
            "email": "client0001@example.org",
            "statut": "Vente",
            "date_insertion": "03/03/2025 00:30",
            "date_modification": "04/03/2025 10:26",
            "recordings": [
                {
                    "call_id": "12258673469935550001",
                    "start_time": "2025-03-03T08:45:05.454463+00:00",
                    "duration_seconds": 521,
                    "direction": "out",
                    "from_number": "33612345678",
                    "to_number": "33402917912",
                    "answered": True,
                    "recording_url": None,
                }
            ],
        },
        {
            "id": "2000002",
            "cle": None,
            "nom": "GARCIA",
            "prenom": "Hugo",
            "telephone": "0712345678",
            "telephone_2": "0145678901",
            "email": "client0002@example.org",
            "statut": "Vente",
            "date_insertion": "03/03/2025 14:02",
            "date_modification": None,
            "recordings": [],
        },
    ],
    "total": 2,
}


def details_payload() -> dict[str, Any]:
    """A fresh details payload for fiche `FICHE_ID` (callers may mutate it)."""
    return copy.deepcopy(_DETAILS)


def sales_payload() -> dict[str, Any]:
    """A fresh sales list of two fiches, the first being `FICHE_ID` (a call without URL yet)."""
    return copy.deepcopy(_SALES)


def shared_fixture(name: str) -> dict[str, Any]:
    """A real anonymised payload from the shared fixtures; skips the test when they are absent."""
    path = SHARED_FIXTURES / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def sorted_calls(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with calls ordered by id: the round trip gives them back by start time."""
    return {**payload, "recordings": sorted(payload.get("recordings") or [], key=lambda call: call["call_id"])}


def _keys(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {f"{path}.{k}" for k in value} | {p for k, v in value.items() for p in _keys(v, f"{path}.{k}")}
    if isinstance(value, list):
        return {p for item in value for p in _keys(item, f"{path}[]")}
    return set()


def test_hand_written_payloads_parse() -> None:
    details = parse_fiche_details(details_payload())
    assert details.information is not None
    assert details.information.fiche_id == FICHE_ID
    assert len(parse_sales_page(sales_payload()).fiches or []) == 2


def test_hand_written_details_cover_the_real_payload_shape() -> None:
    real = shared_fixture("fiche-by-id.example.json")
    ours = details_payload()
    assert set(real) <= set(ours)
    # Inside the normalised sections every real key is exercised, but for a few product URLs and
    # the contents of free-form maps (questions, bank accounts). Ours adds unknown keys on purpose.
    normalised = (".information", ".prospect", ".commentaires", ".elements_souscription", ".recordings")
    missing = {key for key in _keys(real) - _keys(ours) if key.startswith(normalised)}
    free_form = (".questions_conseil.", ".questions_complementaires.", ".compte_prelevement.", ".compte_virement.")
    assert all(key.endswith("_url") or any(m in key for m in free_form) for key in missing), sorted(missing)


def test_hand_written_sales_list_covers_the_real_payload_shape() -> None:
    assert _keys(shared_fixture("sales-with-calls.example.json")) <= _keys(sales_payload())
