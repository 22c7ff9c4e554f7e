"""Wire shapes of `/api/products` (reference §4.11), camelCase like the original; lengths are its column sizes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from api.security import IdIn, IdStr, Str255
from domain.models.products import (
    COVERAGE_MAX,
    FORMULE_ALT_MAX,
    FORMULE_CODE_MAX,
    FORMULE_LIBELLE_MAX,
    GAMME_CODE_MAX,
    GAMME_LIBELLE_MAX,
    GROUPE_CODE_MAX,
    GROUPE_LIBELLE_MAX,
    URL_MAX,
)


def _check(max_length: int, *, min_length: int = 0, pattern: str | None = None) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern)


CODE = r"^[A-Za-z0-9_-]+$"
GroupeCode = Annotated[str, _check(GROUPE_CODE_MAX, min_length=1, pattern=CODE)]
GammeCode = Annotated[str, _check(GAMME_CODE_MAX, min_length=1, pattern=CODE)]
FormuleCode = Annotated[str, _check(FORMULE_CODE_MAX, min_length=1, pattern=CODE)]
# Labels are one-line text (`Str255`: no control character) within the original's column sizes.
GroupeLibelle = Annotated[Str255, Field(min_length=1, max_length=GROUPE_LIBELLE_MAX)]
GammeLibelle = Annotated[Str255, Field(min_length=1, max_length=GAMME_LIBELLE_MAX)]
FormuleLibelle = Annotated[Str255, Field(min_length=1, max_length=FORMULE_LIBELLE_MAX)]
FormuleAlt = Annotated[Str255, Field(max_length=FORMULE_ALT_MAX)]
Url = Annotated[str, _check(URL_MAX, min_length=1, pattern=r"^https?://\S+$")]
DocType = Annotated[str, _check(32, min_length=1, pattern=r"^[a-z][a-z0-9_]*$")]
Coverage = Annotated[Str255, Field(max_length=COVERAGE_MAX)]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class CamelIn(Camel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------


class GroupeIn(CamelIn):
    code: GroupeCode
    libelle: GroupeLibelle


class GroupePatch(CamelIn):
    code: GroupeCode | None = None
    libelle: GroupeLibelle | None = None


class GammeIn(CamelIn):
    groupe_id: IdIn
    code: GammeCode
    libelle: GammeLibelle
    documents: dict[DocType, Url] | None = Field(
        None, max_length=50, description="Document type (`cg`, `dipa`, `garanties`, `logo`...) -> URL"
    )


class GammePatch(CamelIn):
    code: GammeCode | None = None
    libelle: GammeLibelle | None = None
    documents: dict[DocType, Url] | None = Field(None, max_length=50, description="Replaces the range's documents")


class CoverageIn(CamelIn):
    libelle_alternatif: FormuleAlt | None = None
    hospitalisation: Coverage | None = None
    hospi_non_optam: Coverage | None = None
    dentaire: Coverage | None = None
    optique: Coverage | None = None
    optique_vc: Coverage | None = None
    medecines: Coverage | None = None
    soins_non_optam: Coverage | None = None
    chambre_particuliere: Coverage | None = None
    medecine_douce: Coverage | None = None
    appareils_auditifs: Coverage | None = None
    maternite: Coverage | None = None
    cure_thermale: Coverage | None = None
    frais_dossier: Coverage | None = None
    delai_attente: Coverage | None = None


class FormuleIn(CoverageIn):
    gamme_id: IdIn
    code: FormuleCode
    libelle: FormuleLibelle
    garanties_html: Url = Field(description="URL of the plan's guarantee table")


class FormulePatch(CoverageIn):
    code: FormuleCode | None = None
    libelle: FormuleLibelle | None = None
    garanties_html: Url | None = None


# --- responses ------------------------------------------------------------------------------------


class GroupeOut(Camel):
    id: IdStr
    code: str
    libelle: str
    created_at: dt.datetime
    updated_at: dt.datetime


class GammeOut(Camel):
    id: IdStr
    groupe_id: IdStr
    code: str
    libelle: str
    created_at: dt.datetime
    updated_at: dt.datetime


class FormuleOut(Camel):
    id: IdStr
    gamme_id: IdStr
    code: str
    libelle: str
    libelle_alternatif: str | None
    hospitalisation: str | None
    hospi_non_optam: str | None
    dentaire: str | None
    optique: str | None
    optique_vc: str | None
    medecines: str | None
    soins_non_optam: str | None
    chambre_particuliere: str | None
    medecine_douce: str | None
    appareils_auditifs: str | None
    maternite: str | None
    cure_thermale: str | None
    frais_dossier: str | None
    delai_attente: str | None
    garanties_html: str
    created_at: dt.datetime
    updated_at: dt.datetime


class DocumentOut(Camel):
    id: IdStr
    document_type: str
    url: str


class GuaranteeItemOut(Camel):
    guarantee_name: str
    guarantee_value: str
    display_order: int


class GuaranteeCategoryOut(Camel):
    section_index: int
    category_name: str
    display_order: int
    items: list[GuaranteeItemOut]


class GuaranteeTableOut(Camel):
    id: IdStr
    title: str | None
    intro_text: list[str]
    formule_indicator: str | None
    notes_and_legal: str | None
    categories: list[GuaranteeCategoryOut]


class GroupeDetail(GroupeOut):
    gammes: list[GammeOut]


class GammeDetail(GammeOut):
    groupe: GroupeOut
    formules: list[FormuleOut]
    garanties: list[GuaranteeTableOut]
    documents: list[DocumentOut]


class FormuleDetail(FormuleOut):
    gamme: GammeOut
    groupe: GroupeOut
    garanties: list[GuaranteeTableOut] = Field(description="The plan's guarantee tables, then its range's")
    documents: list[DocumentOut] = Field(description="The plan's documents, then its range's")


class StatsOut(Camel):
    groupes: int
    gammes: int
    formules: int
    garanties_parsed: int


class SearchOut(Camel):
    groupes: list[GroupeOut]
    gammes: list[GammeOut]
    formules: list[FormuleOut]


class MatchOut(Camel):
    strategy: str = Field(description="exact | fuzzy | none")
    scores: dict[str, float] = Field(description="Similarity (0-1) of the picked insurer, range and plan")
    picked: dict[str, str]
    reason: str | None = Field(description="Why nothing matched (strategy `none`)")


class SoldOut(Camel):
    groupe_nom: str | None
    gamme_nom: str | None
    formule_nom: str | None


class ProductLinkOut(Camel):
    fiche_id: str
    found: bool
    sold: SoldOut
    match: MatchOut
    formule: FormuleDetail | None
    sale: dict[str, Any] = Field(description="What was sold: the CRM's formula line, premium, contract")
    client_needs: Any = Field(description="The fiche's duty-of-advice answers (`questions_conseil`)")


class ProductDeletedOut(Camel):
    id: IdStr


class CatalogueImportOut(Camel):
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
