"""The scope campaign writes need (reads need `clients:read`, like every client read)."""

from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import require
from app.auth.service import Principal

CampaignsWriter = Annotated[Principal, Depends(require("campaigns:write"))]
