"""An audit's link to the catalogue: matched when the audit starts, its product checks stored when it ends.

Only audits whose scorecard has `verifyProductInfo` steps are linked. The row keeps the strategy and
scores (no match included: `strategy` `none`), what the fiche said was sold, the facts the auditor was
given and, per product step, the claims checked against them, so the audit detail can show them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from domain.models.products import AuditProductLink
from domain.products.catalogue import link_fiche
from domain.products.facts import ProductFacts


def link_audit(session: Session, fiche_id: str, audit_id: int) -> ProductFacts | None:
    """Match the fiche's sold product, record the outcome on the audit; the facts when a plan matched."""
    product, match, formule = link_fiche(session, fiche_id)
    facts = (
        ProductFacts.from_catalogue(formule, match, product.sold, product.details, product.client_needs)
        if formule is not None
        else None
    )
    link = session.get(AuditProductLink, audit_id) or AuditProductLink(audit_id=audit_id)
    link.strategy = match.strategy
    link.formule_id = match.formule_id
    link.sold = product.sold.as_json()
    link.scores = match.as_json()
    link.facts = {"facts": facts.as_json() if facts else None, "steps": {}}
    session.add(link)
    session.flush()
    return facts


def audit_facts(session: Session, audit_id: int) -> ProductFacts | None:
    """The facts the audit's product steps were given (a rerun is checked against the same), if any."""
    link = session.get(AuditProductLink, audit_id)
    stored = (link.facts or {}).get("facts") if link is not None else None
    return ProductFacts.from_json(stored) if stored else None


def record_checks(session: Session, audit_id: int, checks: dict[int, dict[str, Any]]) -> None:
    """Store the product checks of these steps (a rerun replaces its step's), keeping the others'."""
    link = session.get(AuditProductLink, audit_id)
    if link is not None:
        stored = link.facts or {}
        steps = {**stored.get("steps", {}), **{str(position): check for position, check in checks.items()}}
        link.facts = {**stored, "steps": dict(sorted(steps.items(), key=lambda item: int(item[0])))}
        session.flush()


def product_view(session: Session, audit_id: int) -> dict[str, Any] | None:
    """What the audit detail shows: the match, and per product step the catalogue facts used and the checks."""
    return product_of(session.get(AuditProductLink, audit_id))


class ProductLinkValues(NamedTuple):
    """The columns of an `AuditProductLink` that `product_of` reads, as a statement of columns returns them."""

    strategy: str
    scores: dict[str, Any]
    sold: dict[str, Any]
    facts: dict[str, Any] | None


def product_of(link: AuditProductLink | ProductLinkValues | None) -> dict[str, Any] | None:
    """`product_view` of a link already read (the audit detail reads its columns with the audit's row)."""
    if link is None:
        return None
    stored = link.facts or {}
    facts = stored.get("facts")
    used = {"plan": facts["plan"], "coverage": facts["coverage"], "tables": facts["tables"]} if facts else None
    return {
        "strategy": link.strategy,
        "match": link.scores,
        "sold": link.sold,
        "steps": [
            {"position": int(position), "facts_used": used, **check}
            for position, check in sorted(stored.get("steps", {}).items(), key=lambda item: int(item[0]))
        ],
    }
