"""The catalogue facts a product-verification step is audited against (reference §7.9.2).

`ProductFacts` is plain data (stored with the audit as JSON, so the audit detail shows what the
auditor was given even after the catalogue changes) and renders the French prompt block the LLM
auditor reads. The block goes in the step part of the prompt, after the prefix every step shares,
so the shared prefix stays cacheable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from domain.models.products import COVERAGE_FIELDS, ProductFormule
from domain.products.io import formule_json, gamme_own_json
from domain.products.linking import ProductMatch, SoldProduct

COVERAGE_LABELS: dict[str, str] = {
    "hospitalisation": "Hospitalisation",
    "hospi_non_optam": "Hospitalisation (médecins non OPTAM)",
    "dentaire": "Dentaire",
    "optique": "Optique",
    "optique_vc": "Optique (lentilles)",
    "medecines": "Soins courants / consultations",
    "soins_non_optam": "Soins courants (médecins non OPTAM)",
    "chambre_particuliere": "Chambre particulière",
    "medecine_douce": "Médecine douce",
    "appareils_auditifs": "Appareils auditifs",
    "maternite": "Maternité",
    "cure_thermale": "Cure thermale",
    "frais_dossier": "Frais de dossier",
    "delai_attente": "Délai d'attente (carence)",
}
NOT_COVERED = "NON COUVERT / NON SPÉCIFIÉ"


@dataclass(frozen=True)
class ProductFacts:
    """What the catalogue says about the plan a fiche sold, and what the fiche says about the sale."""

    match: dict[str, Any]
    plan: dict[str, Any]
    coverage: dict[str, str | None]
    tables: list[dict[str, Any]]
    documents: dict[str, str]
    sold: dict[str, Any] = field(default_factory=dict)
    client_needs: Any = None

    @classmethod
    def from_catalogue(
        cls, formule: ProductFormule, match: ProductMatch, sold: SoldProduct, sale: dict[str, Any], needs: Any
    ) -> ProductFacts:
        """From a plan loaded with its range, insurer, tables and documents (`catalogue.load_formule`)."""
        gamme = formule.gamme
        groupe = {"code": gamme.groupe.code, "libelle": gamme.groupe.libelle}
        facts = cls.from_document(
            groupe, gamme_own_json(gamme), formule_json(formule), match=match, sold=sold, sale=sale, needs=needs
        )
        return dataclasses.replace(facts, plan={"formule_id": formule.id, **facts.plan})

    @classmethod
    def from_document(
        cls,
        groupe: dict[str, Any],
        gamme: dict[str, Any],
        formule: dict[str, Any],
        *,
        match: ProductMatch,
        sold: SoldProduct,
        sale: dict[str, Any],
        needs: Any,
    ) -> ProductFacts:
        """From the plan's entries in a `callaudit.products/1` document (what the catalogue exports)."""
        return cls(
            match=match.as_json(),
            plan={
                "groupe": groupe["libelle"],
                "gamme": gamme["libelle"],
                "formule": formule["libelle"],
                "libelle_alternatif": formule.get("libelle_alternatif"),
                "codes": f"{groupe['code']}/{gamme['code']}/{formule['code']}",
                "garanties_html": formule.get("garanties_html"),
            },
            coverage={name: formule.get(name) for name in COVERAGE_FIELDS},
            tables=[*formule.get("guarantee_tables", []), *gamme.get("guarantee_tables", [])],
            documents={**gamme.get("documents", {}), **formule.get("documents", {})},
            sold={**sold.as_json(), **sale},
            client_needs=needs,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProductFacts:
        return cls(**data)

    def as_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "plan": self.plan,
            "coverage": self.coverage,
            "tables": self.tables,
            "documents": self.documents,
            "sold": self.sold,
            "client_needs": self.client_needs,
        }

    @property
    def legal_notes(self) -> list[str]:
        return [t["notes_and_legal"] for t in self.tables if t.get("notes_and_legal")]

    def prompt_block(self) -> str:
        """The French block of §7.9.2: identification, coverage, tables, legal notes, sale, needs, rules."""
        plan = self.plan
        lines = [
            "=== FICHE PRODUIT DE RÉFÉRENCE (catalogue) ===",
            f"Assureur : {plan['groupe']} | Gamme : {plan['gamme']} | Formule : {plan['formule']}"
            + (f" ({plan['libelle_alternatif']})" if plan.get("libelle_alternatif") else ""),
            f"Rapprochement avec la fiche : {self.match.get('strategy')} (scores {self.match.get('scores')})",
            "",
            "RÉSUMÉ DES GARANTIES :",
            *(f"- {COVERAGE_LABELS[name]} : {self.coverage.get(name) or NOT_COVERED}" for name in COVERAGE_FIELDS),
        ]
        for table in self.tables:
            lines += ["", f"TABLEAU DE GARANTIES : {table.get('title') or ''}".rstrip()]
            lines += [f"  {text}" for text in table.get("intro_text", [])]
            if table.get("formule_indicator"):
                lines.append(f"  Colonne : {table['formule_indicator']}")
            for category in table.get("categories", []):
                lines.append(f"  [{category['name']}]")
                lines += [f"    - {item['name']} : {item['value']}" for item in category.get("items", [])]
            if table.get("notes_and_legal"):
                lines.append(f"  MENTIONS LÉGALES (à communiquer au client) : {table['notes_and_legal']}")
        if self.documents:
            lines += ["", "DOCUMENTS OFFICIELS :", *(f"- {kind} : {url}" for kind, url in self.documents.items())]
        sold = {k: v for k, v in self.sold.items() if v not in (None, "")}
        if sold:
            lines += ["", "CE QUI A ÉTÉ VENDU (fiche CRM) :", *(f"- {k} : {v}" for k, v in sold.items())]
        if isinstance(self.client_needs, dict) and self.client_needs:
            lines += ["", "BESOINS EXPRIMÉS PAR LE CLIENT (devoir de conseil) :"]
            lines += [f"- {question} : {answer}" for question, answer in self.client_needs.items()]
        lines += ["", _RULES]
        return "\n".join(lines)


_RULES = """\
VÉRIFICATION PRODUIT (règles strictes) :
- Comparez chaque montant, pourcentage, délai et condition annoncé par le conseiller aux valeurs
  ci-dessus. Une valeur annoncée qui contredit le tableau est une erreur : statut ABSENT ou PARTIEL pour
  le point concerné, étape NON_CONFORME, et le commentaire cite la catégorie, la valeur réelle et la
  valeur annoncée (« annoncé 200 %, tableau 150 % »).
- Vérifiez que la présentation couvre les garanties utiles aux besoins exprimés, et que les mentions
  légales, exclusions et délais ont été communiqués.
- Les citations restent des extraits EXACTS de la transcription : n'inventez ni garanties ni montants."""
