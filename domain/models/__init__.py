"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic relies on it)."""

from domain.models.audits import Audit, AuditCitation, AuditControlPoint, AuditStatus, AuditStep
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
from domain.models.jobs import FicheFetchJob, FicheFetchJobStatus
from domain.models.reports import ReportShareLink
from domain.models.scorecards import Scorecard, ScorecardStep, ScorecardVersion
from domain.models.transcripts import (
    FicheTranscription,
    FicheTranscriptionStatus,
    Transcript,
    TranscriptChunk,
    TranscriptStatus,
)

__all__ = [
    "ApiToken",
    "ApiTokenGrant",
    "Audit",
    "AuditCitation",
    "AuditControlPoint",
    "AuditStatus",
    "AuditStep",
    "Base",
    "DayCoverageStatus",
    "Fiche",
    "FicheComment",
    "FicheFetchJob",
    "FicheFetchJobStatus",
    "FicheFetchStatus",
    "FicheInformation",
    "FicheProspect",
    "FicheSubscription",
    "FicheTag",
    "FicheTranscription",
    "FicheTranscriptionStatus",
    "InviteToken",
    "Permission",
    "Recording",
    "RefreshToken",
    "ReportShareLink",
    "Role",
    "RolePermission",
    "SalesDayCoverage",
    "SalesDaySource",
    "Scorecard",
    "ScorecardStep",
    "ScorecardVersion",
    "Team",
    "TeamMember",
    "Transcript",
    "TranscriptChunk",
    "TranscriptStatus",
    "User",
    "UserRole",
    "UserStatus",
]
