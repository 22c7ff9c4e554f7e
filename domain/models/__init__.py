"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic relies on it)."""

from domain.models.auth import (
    ApiToken,
    ApiTokenGrant,
    InviteToken,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
    Team,
    TeamMember,
    User,
    UserRole,
    UserStatus,
)
from domain.models.base import Base
from domain.models.crm import FicheComment, FicheInformation, FicheProspect, FicheSubscription, FicheTag
from domain.models.fiches import (
    DayCoverageStatus,
    Fiche,
    FicheFetchStatus,
    Recording,
    SalesDayCoverage,
    SalesDaySource,
)

__all__ = [
    "ApiToken",
    "ApiTokenGrant",
    "Base",
    "DayCoverageStatus",
    "Fiche",
    "FicheComment",
    "FicheFetchStatus",
    "FicheInformation",
    "FicheProspect",
    "FicheSubscription",
    "FicheTag",
    "InviteToken",
    "Permission",
    "Recording",
    "RefreshToken",
    "Role",
    "RolePermission",
    "SalesDayCoverage",
    "SalesDaySource",
    "Team",
    "TeamMember",
    "User",
    "UserRole",
    "UserStatus",
]
