"""``GET /admin/me``: who the bearer token is, so the admin page can hide controls the role may not use."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from config_api.api.deps import ViewerDep

router = APIRouter(prefix="/admin", tags=["tokens"])


class MePublic(BaseModel):
    """The caller's name, role and integration scope (never the token)."""

    name: str = Field(description="`bootstrap-admin` for ADMIN_TOKEN, otherwise `token:<name>`.")
    role: str = Field(description="viewer, operator or admin.")
    integration_ids: list[str] | None = Field(description="The integrations the token may see; null for all.")


@router.get("/me", response_model=MePublic)
async def read_me(principal: ViewerDep) -> MePublic:
    """The calling token's name, role and integration scope."""
    ids = sorted(principal.integration_ids) if principal.integration_ids is not None else None
    return MePublic(name=principal.name, role=principal.role, integration_ids=ids)
