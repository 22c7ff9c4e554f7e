"""The catalogue's exchange format (`callaudit.products/1`), read, validated, imported and exported.

```
{"format": "callaudit.products/1",
 "groupes": [{"code", "libelle",
   "gammes": [{"code", "libelle", "documents": {type: url}, "guarantee_tables": [TABLE],
     "formules": [{"code", "libelle", "libelle_alternatif", <the 14 coverage fields>, "garanties_html",
                   "documents": {type: url}, "guarantee_tables": [TABLE]}]}]}]}
TABLE = {"title", "intro_text": [str], "formule_indicator", "notes_and_legal",
         "categories": [{"name", "section_index", "items": [{"name", "value"}]}]}
```

Field names are the catalogue's columns (reference §2.9); lengths are the original's column sizes.
Import is keyed by business codes (insurer code; range code within its insurer; plan code within its
range): an existing row is updated in place, a new one created, rows absent from the document are left
alone, so importing the same document twice changes nothing the second time. A range's or plan's
`documents` and `guarantee_tables`, when given, replace what it had. Every problem is reported with its
path (`groupes[0].gammes[1].formules[2].libelle`) and nothing is written unless the whole document is valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from domain.errors import FieldIssue, InvalidError
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
    GuaranteeCategory,
    GuaranteeItem,
    GuaranteeTable,
    ProductDocument,
    ProductFormule,
    ProductGamme,
    ProductGroupe,
)

FORMAT = "callaudit.products/1"

Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _text(max_length: int, *, required: bool = True) -> Any:
    return Annotated[str, StringConstraints(min_length=1 if required else 0, max_length=max_length)]


Code = Annotated[str, StringConstraints(min_length=1, max_length=GROUPE_CODE_MAX, pattern=r"^[A-Za-z0-9_-]+$")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX, pattern=r"^https?://\S+$")]
DocType = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
Coverage = Annotated[str, StringConstraints(max_length=COVERAGE_MAX)] | None
LongText = Annotated[str, StringConstraints(max_length=20_000)]


class ItemDoc(BaseModel):
    model_config = Strict
    name: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    value: Annotated[str, StringConstraints(max_length=2_000)]


class CategoryDoc(BaseModel):
    model_config = Strict
    name: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    section_index: int = Field(0, ge=0, le=1_000)
    items: list[ItemDoc] = Field(default_factory=list, max_length=500)


class TableDoc(BaseModel):
    model_config = Strict
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    intro_text: list[LongText] = Field(default_factory=list, max_length=100)
    formule_indicator: Annotated[str, StringConstraints(max_length=500)] | None = None
    notes_and_legal: LongText | None = None
    categories: list[CategoryDoc] = Field(default_factory=list, max_length=200)


class FormuleDoc(BaseModel):
    model_config = Strict
    code: Annotated[str, StringConstraints(min_length=1, max_length=FORMULE_CODE_MAX, pattern=r"^[A-Za-z0-9_-]+$")]
    libelle: Annotated[str, StringConstraints(min_length=1, max_length=FORMULE_LIBELLE_MAX)]
    libelle_alternatif: Annotated[str, StringConstraints(max_length=FORMULE_ALT_MAX)] | None = None
    hospitalisation: Coverage = None
    hospi_non_optam: Coverage = None
    dentaire: Coverage = None
    optique: Coverage = None
    optique_vc: Coverage = None
    medecines: Coverage = None
    soins_non_optam: Coverage = None
    chambre_particuliere: Coverage = None
    medecine_douce: Coverage = None
    appareils_auditifs: Coverage = None
    maternite: Coverage = None
    cure_thermale: Coverage = None
    frais_dossier: Coverage = None
    delai_attente: Coverage = None
    garanties_html: Url
    documents: dict[DocType, Url] | None = None
    guarantee_tables: list[TableDoc] | None = Field(None, max_length=20)


class GammeDoc(BaseModel):
    model_config = Strict
    code: Annotated[str, StringConstraints(min_length=1, max_length=GAMME_CODE_MAX, pattern=r"^[A-Za-z0-9_-]+$")]
    libelle: Annotated[str, StringConstraints(min_length=1, max_length=GAMME_LIBELLE_MAX)]
    documents: dict[DocType, Url] | None = None
    guarantee_tables: list[TableDoc] | None = Field(None, max_length=20)
    formules: list[FormuleDoc] = Field(default_factory=list, max_length=500)


class GroupeDoc(BaseModel):
    model_config = Strict
    code: Code
    libelle: Annotated[str, StringConstraints(min_length=1, max_length=GROUPE_LIBELLE_MAX)]
    gammes: list[GammeDoc] = Field(default_factory=list, max_length=500)


class CatalogueDoc(BaseModel):
    model_config = Strict
    format: Literal["callaudit.products/1"] = "callaudit.products/1"
    groupes: list[GroupeDoc] = Field(max_length=500)


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _duplicates(codes: list[str], where: str, what: str) -> list[FieldIssue]:
    seen = Counter(code.casefold() for code in codes)
    return [
        FieldIssue(f"{where}[{i}].code", f"{what} code {code!r} appears more than once")
        for i, code in enumerate(codes)
        if seen[code.casefold()] > 1
    ]


def read_catalogue(document: Any) -> CatalogueDoc:
    """The validated document, or `InvalidError` listing every offending field by its path."""
    if not isinstance(document, dict):
        raise InvalidError("A catalogue document is a JSON object", issues=[FieldIssue("", "must be an object")])
    try:
        catalogue = CatalogueDoc.model_validate(document)
    except ValidationError as exc:
        issues = [FieldIssue(_path(tuple(e["loc"])), str(e["msg"])) for e in exc.errors()]
        raise InvalidError(f"Invalid catalogue: {issues[0].field}: {issues[0].message}", issues=issues) from None
    issues = _duplicates([g.code for g in catalogue.groupes], "groupes", "insurer")
    for gi, groupe in enumerate(catalogue.groupes):
        issues += _duplicates([g.code for g in groupe.gammes], f"groupes[{gi}].gammes", "range")
        for ri, gamme in enumerate(groupe.gammes):
            issues += _duplicates([f.code for f in gamme.formules], f"groupes[{gi}].gammes[{ri}].formules", "plan")
    if issues:
        raise InvalidError(f"Invalid catalogue: {issues[0].field}: {issues[0].message}", issues=issues)
    return catalogue


# --- export ---------------------------------------------------------------------------------------


def table_json(table: GuaranteeTable) -> dict[str, Any]:
    return {
        "title": table.title,
        "intro_text": list(table.intro_text),
        "formule_indicator": table.formule_indicator,
        "notes_and_legal": table.notes_and_legal,
        "categories": [
            {
                "name": category.category_name,
                "section_index": category.section_index,
                "items": [{"name": item.guarantee_name, "value": item.guarantee_value} for item in category.items],
            }
            for category in table.categories
        ],
    }


def _documents_json(documents: list[ProductDocument]) -> dict[str, str]:
    return {d.document_type: d.url for d in documents}


def formule_json(formule: ProductFormule) -> dict[str, Any]:
    return {
        "code": formule.code,
        "libelle": formule.libelle,
        "libelle_alternatif": formule.libelle_alternatif,
        **formule.coverage(),
        "garanties_html": formule.garanties_html,
        "documents": _documents_json(formule.documents),
        "guarantee_tables": [table_json(t) for t in formule.guarantee_tables],
    }


def gamme_own_json(gamme: ProductGamme) -> dict[str, Any]:
    return {
        "code": gamme.code,
        "libelle": gamme.libelle,
        "documents": _documents_json(gamme.documents),
        "guarantee_tables": [table_json(t) for t in gamme.guarantee_tables],
    }


def _catalogue_query() -> Any:
    return (
        select(ProductGroupe)
        .order_by(ProductGroupe.code)
        .options(
            selectinload(ProductGroupe.gammes).selectinload(ProductGamme.documents),
            selectinload(ProductGroupe.gammes)
            .selectinload(ProductGamme.guarantee_tables)
            .selectinload(GuaranteeTable.categories)
            .selectinload(GuaranteeCategory.items),
            selectinload(ProductGroupe.gammes)
            .selectinload(ProductGamme.formules)
            .selectinload(ProductFormule.documents),
            selectinload(ProductGroupe.gammes)
            .selectinload(ProductGamme.formules)
            .selectinload(ProductFormule.guarantee_tables)
            .selectinload(GuaranteeTable.categories)
            .selectinload(GuaranteeCategory.items),
        )
    )


def export_catalogue(session: Session) -> dict[str, Any]:
    """The whole catalogue as a document `import_catalogue` takes back unchanged."""
    return {
        "format": FORMAT,
        "groupes": [
            {
                "code": groupe.code,
                "libelle": groupe.libelle,
                "gammes": [
                    {**gamme_own_json(gamme), "formules": [formule_json(f) for f in gamme.formules]}
                    for gamme in groupe.gammes
                ],
            }
            for groupe in session.scalars(_catalogue_query()).unique()
        ],
    }


# --- import ---------------------------------------------------------------------------------------


@dataclass
class ImportCounts:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def count(self, level: str, outcome: Literal["created", "updated", "unchanged"]) -> None:
        getattr(self, outcome)[level] += 1

    def as_json(self) -> dict[str, dict[str, int]]:
        levels = ("groupes", "gammes", "formules")
        return {
            outcome: {level: getattr(self, outcome)[level] for level in levels}
            for outcome in ("created", "updated", "unchanged")
        }

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) + sum(self.updated.values()))


def _tables(
    docs: list[TableDoc], *, gamme_id: int | None = None, formule_id: int | None = None
) -> list[GuaranteeTable]:
    return [
        GuaranteeTable(
            gamme_id=gamme_id,
            formule_id=formule_id,
            title=doc.title,
            intro_text=list(doc.intro_text),
            formule_indicator=doc.formule_indicator,
            notes_and_legal=doc.notes_and_legal,
            categories=[
                GuaranteeCategory(
                    section_index=category.section_index,
                    category_name=category.name,
                    display_order=ci,
                    items=[
                        GuaranteeItem(guarantee_name=item.name, guarantee_value=item.value, display_order=ii)
                        for ii, item in enumerate(category.items)
                    ],
                )
                for ci, category in enumerate(doc.categories)
            ],
        )
        for doc in docs
    ]


def _documents(
    docs: dict[str, str], *, gamme_id: int | None = None, formule_id: int | None = None
) -> list[ProductDocument]:
    return [ProductDocument(gamme_id=gamme_id, formule_id=formule_id, document_type=t, url=u) for t, u in docs.items()]


def _replace_extras(
    session: Session, owner: ProductGamme | ProductFormule, doc: GammeDoc | FormuleDoc, **key: int
) -> None:
    """The owner's documents and tables become the document's (the old rows are deleted first: one
    document per type is a unique index, and the unit of work would insert before deleting)."""
    if doc.documents is not None:
        owner.documents.clear()
        session.flush()
        owner.documents = _documents(doc.documents, **key)
    if doc.guarantee_tables is not None:
        owner.guarantee_tables.clear()
        session.flush()
        owner.guarantee_tables = _tables(doc.guarantee_tables, **key)
    session.flush()


def _apply_gamme_extras(session: Session, gamme: ProductGamme, doc: GammeDoc) -> None:
    _replace_extras(session, gamme, doc, gamme_id=gamme.id)


def _formule_columns(doc: FormuleDoc) -> dict[str, Any]:
    return doc.model_dump(exclude={"documents", "guarantee_tables"})


def _apply_formule(session: Session, formule: ProductFormule, doc: FormuleDoc) -> None:
    for name, value in _formule_columns(doc).items():
        setattr(formule, name, value)
    _replace_extras(session, formule, doc, formule_id=formule.id)


def _differs(current: dict[str, Any], doc: BaseModel) -> bool:
    """Whether importing `doc` would change a row currently exported as `current` (absent extras keep theirs)."""
    wanted = doc.model_dump(exclude_none=False)
    for key, value in wanted.items():
        if key in ("gammes", "formules"):
            continue
        if key in ("documents", "guarantee_tables") and value is None:
            continue
        if current.get(key) != value:
            return True
    return False


def import_catalogue(session: Session, document: Any) -> ImportCounts:
    """Validate `document` whole, then upsert it by business codes; counts per level and outcome."""
    catalogue = read_catalogue(document)
    existing = {g.code: g for g in session.scalars(_catalogue_query()).unique()}
    counts = ImportCounts()
    for groupe_doc in catalogue.groupes:
        groupe = existing.get(groupe_doc.code)
        if groupe is None:
            groupe = ProductGroupe(code=groupe_doc.code, libelle=groupe_doc.libelle)
            session.add(groupe)
            session.flush()
            counts.count("groupes", "created")
        elif groupe.libelle != groupe_doc.libelle:
            groupe.libelle = groupe_doc.libelle
            counts.count("groupes", "updated")
        else:
            counts.count("groupes", "unchanged")
        gammes = {g.code: g for g in groupe.gammes}
        for gamme_doc in groupe_doc.gammes:
            gamme = gammes.get(gamme_doc.code)
            if gamme is None:
                gamme = ProductGamme(groupe_id=groupe.id, code=gamme_doc.code, libelle=gamme_doc.libelle)
                session.add(gamme)
                session.flush()
                _apply_gamme_extras(session, gamme, gamme_doc)
                counts.count("gammes", "created")
            elif _differs(gamme_own_json(gamme), gamme_doc):
                gamme.libelle = gamme_doc.libelle
                _apply_gamme_extras(session, gamme, gamme_doc)
                counts.count("gammes", "updated")
            else:
                counts.count("gammes", "unchanged")
            formules = {f.code: f for f in gamme.formules}
            for formule_doc in gamme_doc.formules:
                formule = formules.get(formule_doc.code)
                if formule is None:
                    formule = ProductFormule(gamme_id=gamme.id, **_formule_columns(formule_doc))
                    session.add(formule)
                    session.flush()
                    _replace_extras(session, formule, formule_doc, formule_id=formule.id)
                    counts.count("formules", "created")
                elif _differs(formule_json(formule), formule_doc):
                    _apply_formule(session, formule, formule_doc)
                    counts.count("formules", "updated")
                else:
                    counts.count("formules", "unchanged")
    return counts
