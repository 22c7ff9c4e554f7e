"""Normalised sections of a fiche's CRM details: only what the product queries gets columns.

Everything else of the details payload stays on `fiches.raw_data` (the "reduced payload"), so a
fiche can be given back exactly as the gateway sent it (`domain.crm.store.reconstruct_payload`).
Sections hang off `fiches.fiche_id` and go with it (ON DELETE CASCADE). Scope and list filters
(groupe, attribution user) run on the denormalised, indexed columns of `fiches`; the sections are
read by fiche, except the sold product, which product matching and dashboards filter on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base


def _fiche_fk(*, primary_key: bool = True) -> Mapped[str]:
    return mapped_column(
        String(64),
        ForeignKey("fiches.fiche_id", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=primary_key,
    )


class FicheInformation(Base):
    """`information` (1:1): ownership, origin and status flags of the fiche in the CRM."""

    __tablename__ = "fiche_information"

    fiche_id: Mapped[str] = _fiche_fk()
    cle: Mapped[str | None] = mapped_column(String(128))
    date_insertion: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    groupe: Mapped[str | None] = mapped_column(String(255))
    agence_id: Mapped[str | None] = mapped_column(String(64))
    agence_nom: Mapped[str | None] = mapped_column(String(255))
    attribution_user_id: Mapped[str | None] = mapped_column(String(64))
    attribution_user_nom: Mapped[str | None] = mapped_column(String(255))
    provenance_id: Mapped[str | None] = mapped_column(String(64))
    provenance_nom: Mapped[str | None] = mapped_column(String(255))
    refus_demarchage: Mapped[bool | None] = mapped_column(Boolean)
    exception_demarchage: Mapped[bool | None] = mapped_column(Boolean)
    corbeille: Mapped[bool | None] = mapped_column(Boolean)
    archive: Mapped[bool | None] = mapped_column(Boolean)
    modules: Mapped[list[str] | None] = mapped_column(ARRAY(Text))


class FicheProspect(Base):
    """`prospect` (1:1): the customer, as product verification and reports need them."""

    __tablename__ = "fiche_prospects"

    fiche_id: Mapped[str] = _fiche_fk()
    prospect_id: Mapped[str | None] = mapped_column(String(64))
    civilite: Mapped[int | None] = mapped_column(Integer)
    civilite_text: Mapped[str | None] = mapped_column(String(64))
    nom: Mapped[str | None] = mapped_column(Text)
    prenom: Mapped[str | None] = mapped_column(Text)
    date_naissance: Mapped[dt.date | None] = mapped_column(Date)
    regime: Mapped[str | None] = mapped_column(String(64))
    regime_text: Mapped[str | None] = mapped_column(Text)
    telephone: Mapped[str | None] = mapped_column(String(64))
    mobile: Mapped[str | None] = mapped_column(String(64))
    telephone_2: Mapped[str | None] = mapped_column(String(64))
    mail: Mapped[str | None] = mapped_column(String(320))
    mail_2: Mapped[str | None] = mapped_column(String(320))
    adresse: Mapped[str | None] = mapped_column(Text)
    code_postal: Mapped[str | None] = mapped_column(String(16))
    ville: Mapped[str | None] = mapped_column(Text)
    situation_familiale: Mapped[int | None] = mapped_column(Integer)
    situation_familiale_text: Mapped[str | None] = mapped_column(Text)
    profession: Mapped[str | None] = mapped_column(Text)
    csp: Mapped[int | None] = mapped_column(Integer)
    csp_text: Mapped[str | None] = mapped_column(Text)


class FicheSubscription(Base):
    """`elements_souscription` (1:1): the contract, the product sold, payment, the previous contract
    and the duty-of-advice answers (`questions_conseil`, used by product verification)."""

    __tablename__ = "fiche_subscriptions"
    __table_args__ = (Index(None, "produit_groupe_nom", "produit_gamme_nom", "produit_formule_nom"),)

    fiche_id: Mapped[str] = _fiche_fk()
    souscription_id: Mapped[str | None] = mapped_column(String(64))
    date_souscription: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    date_signature: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    date_validation: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    num_contrat: Mapped[str | None] = mapped_column(String(64))
    annulation_contrat: Mapped[bool | None] = mapped_column(Boolean)
    type_vente: Mapped[str | None] = mapped_column(String(64))
    produit_formule: Mapped[str | None] = mapped_column(Text)
    produit_groupe_nom: Mapped[str | None] = mapped_column(String(255))
    produit_gamme_nom: Mapped[str | None] = mapped_column(String(255))
    produit_formule_nom: Mapped[str | None] = mapped_column(String(255))
    # Kept verbatim (the gateway sends "23.64" but also "" and free text); cast when aggregating.
    produit_cotisation: Mapped[str | None] = mapped_column(String(64))
    produit_type_contrat: Mapped[str | None] = mapped_column(String(64))
    paiement_mode: Mapped[str | None] = mapped_column(String(64))
    paiement_periodicite: Mapped[str | None] = mapped_column(String(64))
    ancien_deja_assure: Mapped[bool | None] = mapped_column(Boolean)
    ancien_assureur: Mapped[str | None] = mapped_column(Text)
    ancien_formule: Mapped[str | None] = mapped_column(Text)
    ancien_cotisation: Mapped[str | None] = mapped_column(String(64))
    questions_conseil: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    questions_complementaires: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)


class FicheComment(Base):
    """`commentaires` (1:N), in the gateway's order (`position`); replaced wholesale on each write."""

    __tablename__ = "fiche_comments"

    fiche_id: Mapped[str] = _fiche_fk()
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    commentaire_id: Mapped[str | None] = mapped_column(String(64))
    date: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    utilisateur: Mapped[str | None] = mapped_column(Text)
    texte: Mapped[str | None] = mapped_column(Text)


class FicheTag(Base):
    """`information.etiquettes` (1:N), in the gateway's order; replaced wholesale on each write."""

    __tablename__ = "fiche_tags"

    fiche_id: Mapped[str] = _fiche_fk()
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    nom: Mapped[str | None] = mapped_column(Text)
    date: Mapped[dt.date | None] = mapped_column(Date)
    style: Mapped[str | None] = mapped_column(Text)
