"""Shared API pieces: pagination parameters and the page envelope."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Connection, Select, func, select

T = TypeVar("T")


class Paging(BaseModel):
    """limit/offset of a list request."""

    limit: int
    offset: int


def paging(limit: int = Query(default=50, ge=1, le=1000), offset: int = Query(default=0, ge=0)) -> Paging:
    """Pagination query parameters."""
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]


class Page(BaseModel, Generic[T]):
    """A page of a list and the total number of matches."""

    items: list[T]
    total: int
    limit: int
    offset: int


def fetch_page(connection: Connection, query: Select, page: Paging) -> tuple[list, int]:
    """Rows of one page and the total count of the query."""
    total = connection.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = connection.execute(query.limit(page.limit).offset(page.offset)).all()
    return list(rows), int(total)
