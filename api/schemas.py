"""Shapes shared by every router: the success envelope and pagination."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 200


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
