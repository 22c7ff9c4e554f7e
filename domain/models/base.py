"""Declarative base shared by every table, with a constraint naming convention Alembic can diff."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` (with `include_schemas=True`): the default schema and those the models
    use (`analytics`), so autogenerate and `alembic check` see every model table and nothing else."""
    if type_ != "schema":
        return True
    return name is None or name in {t.schema for t in Base.metadata.tables.values()}
