"""The demo catalogue: the simulator's (fictional) products as a `callaudit.products/1` document.

Built from `products.FORMULAS`, the same data the simulator sells and its agents quote, so a demo
audit can check what an agent said against the plan without any network. `callaudit seed` imports it
when the simulator is the gateway; importing is idempotent, so every start may do it.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy.orm import Session

from callaudit.demo_crm.products import CRM_HOST, FORMULAS, Formula
from domain.products.io import import_catalogue

GROUPE_CODES = {"MUTALYS": "MU", "AXEO SANTE": "AX", "PREVALIA": "PR", "HELIOS MUTUELLE": "HE"}
LEGAL_NOTES = (
    "Contrat responsable et solidaire. Délai de rétractation de 14 jours à compter de la signature. "
    "Les remboursements s'entendent dans la limite des frais réels, sécurité sociale incluse."
)


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def gamme_code(formula: Formula) -> str:
    return _ascii(formula.gamme).upper().replace(" ", "")[:3]


def formule_code(formula: Formula) -> str:
    return _ascii(formula.nom).upper()[:4]


def _table(formula: Formula) -> dict[str, Any]:
    return {
        "title": f"Tableau de garanties {formula.gamme} {formula.nom}",
        "intro_text": ["Remboursements sécurité sociale incluse, en pourcentage de la base de remboursement."],
        "formule_indicator": formula.nom,
        "notes_and_legal": LEGAL_NOTES,
        "categories": [
            {"name": name, "section_index": 0, "items": [{"name": name, "value": value}]}
            for name, value in formula.guarantees().items()
        ]
        + [
            {
                "name": "Délais d'attente",
                "section_index": 1,
                "items": [{"name": "Délai d'attente", "value": formula.waiting_period}],
            }
        ],
    }


def _formule(formula: Formula) -> dict[str, Any]:
    code = formule_code(formula)
    base = f"{CRM_HOST}/produits/{GROUPE_CODES[formula.groupe]}/{gamme_code(formula)}/{code}"
    return {
        "code": code,
        "libelle": formula.nom,
        "libelle_alternatif": None,
        "hospitalisation": f"{formula.hospitalisation_pct} %",
        "hospi_non_optam": f"{max(100, formula.hospitalisation_pct - 20)} %",
        "dentaire": f"{formula.dentaire_pct} %",
        "optique": f"{formula.optique_eur} €/an",
        "optique_vc": None,
        "medecines": f"{formula.soins_courants_pct} %",
        "soins_non_optam": f"{max(100, formula.soins_courants_pct - 20)} %",
        "chambre_particuliere": f"{20 * formula.level} €/jour",
        "medecine_douce": None if formula.level == 1 else f"{25 * formula.level} €/an",
        "appareils_auditifs": "100 % Santé",
        "maternite": None,
        "cure_thermale": None,
        "frais_dossier": None,
        "delai_attente": formula.waiting_period,
        "garanties_html": f"{base}/garanties.html",
        "documents": {"dipa": f"{base}/dipa.pdf"},
        "guarantee_tables": [_table(formula)],
    }


def demo_catalogue() -> dict[str, Any]:
    groupes: dict[str, dict[str, Any]] = {}
    for formula in FORMULAS:
        groupe = groupes.setdefault(
            formula.groupe, {"code": GROUPE_CODES[formula.groupe], "libelle": formula.groupe, "gammes": []}
        )
        gammes = {g["code"]: g for g in groupe["gammes"]}
        code = gamme_code(formula)
        if code not in gammes:
            gamme = {
                "code": code,
                "libelle": formula.gamme,
                "documents": {"cg": f"{CRM_HOST}/produits/{GROUPE_CODES[formula.groupe]}/{code}/cg.pdf"},
                "guarantee_tables": [],
                "formules": [],
            }
            groupe["gammes"].append(gamme)
            gammes[code] = gamme
        gammes[code]["formules"].append(_formule(formula))
    return {"format": "callaudit.products/1", "groupes": list(groupes.values())}


def seed_demo_catalogue(session: Session) -> str:
    """Import the demo catalogue (idempotent); the line `callaudit seed` prints."""
    counts = import_catalogue(session, demo_catalogue())
    created = counts.created["formules"]
    return (
        f"demo catalogue: {len(FORMULAS)} plans ({created} created)"
        if created
        else (f"demo catalogue: {len(FORMULAS)} plans (present)")
    )
