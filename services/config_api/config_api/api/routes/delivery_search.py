"""Delivery search across an integration (by event, object, delivery, webhook, outcome, type, time)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from config_api.api.deps import PoolDep, ViewerDep, integration_for
from config_api.api.routes.deliveries import NO_NUL, utc_window
from config_api.deliveries.logs import CursorError
from config_api.deliveries.schemas import DeliverySearchPage
from config_api.deliveries.search import SearchFilters, search_deliveries
from config_api.errors import InvalidInputError
from contracts.deliveries import Outcome

router = APIRouter(prefix="/admin/integration/{integration_id}", tags=["deliveries"])

Text = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]


@router.get(
    "/deliveries",
    response_model=DeliverySearchPage,
    responses={
        401: {"description": "Missing or unknown token."},
        404: {"description": "Unknown integration (or not in the token's scope)."},
        422: {"description": "A bad filter, time range, limit or cursor (the parameter is named)."},
    },
)
async def search(
    integration_id: Annotated[str, Path(max_length=200, pattern=NO_NUL, description="The integration's id.")],
    pool: PoolDep,
    principal: ViewerDep,
    event_id: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Source event id.")
    ] = None,
    object_id: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Object id, e.g. a FHIR resource id or a survey response id.",
        ),
    ] = None,
    delivery_id: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="The `webhook-id` a receiver saw.")
    ] = None,
    webhook_id: Text = None,
    outcome: Annotated[Outcome | None, Query(description="Outcome of the latest attempt.")] = None,
    event_type: Text = None,
    since: Annotated[
        datetime | None, Query(description="First attempt at or after (ISO time, UTC when no offset).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="First attempt before (ISO time, exclusive).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    """Deliveries of an integration, newest first, each with its latest attempt and its webhook's name.

    Answers "did this event (or this patient's appointment) reach every webhook?": filter by
    `event_id` or `object_id`. Viewers and above of the integration.
    """
    await integration_for(pool, principal, integration_id)
    start, end = utc_window(since, until)
    filters = SearchFilters(event_id, object_id, delivery_id, webhook_id, outcome, event_type, start, end)
    try:
        return await search_deliveries(pool, integration_id, filters, limit, cursor)
    except CursorError as exc:
        raise InvalidInputError(str(exc), loc=["query", "cursor"]) from None
