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
from domain.models.automation import (
    AutomationLog,
    AutomationNotification,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
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
from domain.models.outbox import (
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryStatus,
    OutboxDelivery,
    OutboxEvent,
    WebhookSubscription,
)
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
    "AutomationLog",
    "AutomationNotification",
    "AutomationRun",
    "AutomationRunFicheResult",
    "AutomationSchedule",
    "Base",
    "DayCoverageStatus",
    "DeliveryAttempt",
    "DeliveryChannel",
    "DeliveryStatus",
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
    "OutboxDelivery",
    "OutboxEvent",
    "Permission",
    "Recording",
    "RefreshToken",
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
    "WebhookSubscription",
]
