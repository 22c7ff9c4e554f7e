"""Shareable read-only links to one audit report, for people without an account."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, IdMixin, TimestampMixin


class ReportShareLink(IdMixin, TimestampMixin, Base):
    """A link to one audit's report: only the SHA-256 of its token is stored, so a database leak
    opens no report; it stops working at `expires_at` or once revoked."""

    __tablename__ = "report_share_links"

    audit_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audits.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
