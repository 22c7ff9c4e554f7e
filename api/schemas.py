"""Shapes shared by every router: the success envelope and pagination."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 200
#: Sales days outside this window are mistakes (and would be searched and stored as such).
EARLIEST_SALES_DAY, LATEST_SALES_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    # Lax mode would read `0` as 1970-01-01 and `1e9` as a day in 2001.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a date (YYYY-MM-DD)")
    return value


def _sales_window(value: dt.date) -> dt.date:
    if not EARLIEST_SALES_DAY <= value <= LATEST_SALES_DAY:
        raise ValueError(f"must be between {EARLIEST_SALES_DAY} and {LATEST_SALES_DAY}")
    return value


#: A calendar day written `YYYY-MM-DD`, nothing else.
IsoDay = Annotated[dt.date, BeforeValidator(_iso_day)]
#: A sales day: an `IsoDay` within the window the product accepts.
SalesDay = Annotated[IsoDay, AfterValidator(_sales_window)]


class Envelope(BaseModel, Generic[T]):
    """`{"success": true, "data": ...}`: the body of every successful response."""

    success: bool = True
    data: T


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    total_pages: int


class Page(BaseModel, Generic[T]):
    """`{"success": true, "data": [...], "pagination": {...}}`."""

    success: bool = True
    data: list[T]
    pagination: Pagination


class PageParams(BaseModel):
    page: int = Field(1, ge=1, le=100_000)
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def paginate(self, items: list[T], total: int) -> Page[T]:
        pages = (total + self.limit - 1) // self.limit
        return Page[T](
            data=items, pagination=Pagination(page=self.page, limit=self.limit, total=total, total_pages=pages)
        )


def page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageParams:
    return PageParams(page=page, limit=limit)


def ok(data: T) -> Envelope[T]:
    return Envelope[T](data=data)
