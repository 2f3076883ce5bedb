"""Every domain's models, imported in one place: the one import Alembic needs."""
from reviewflow.api.models import IdempotencyKey
from reviewflow.articles.models import Article, ArticleState, Revision
from reviewflow.audit.models import AuditEvent, AuditHead, AuditVerification
from reviewflow.auth.models import (
    ApiToken,
    Invitation,
    LoginThrottle,
    PasswordReset,
    ReviewerProfile,
    Role,
    User,
    UserRole,
    UserSession,
)
from reviewflow.auth.throttle import LoginCounter
from reviewflow.auth.twofactor import RecoveryCode, TwoFactor
from reviewflow.notifications.models import Notification, NotificationSettings, OutboxEmail
from reviewflow.public.models import FinishedPage, PageStamp
from reviewflow.publishing.models import PublicState, PublishedReview, PublishedVersion
from reviewflow.reviews.models import Annotation, AnnotationReply, AssignmentStatus, Decision, ReviewAssignment
from reviewflow.site.models import SiteSetting
from reviewflow.sources.models import RevisionSource, SourceCheck, Verdict
from reviewflow.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Annotation",
    "AnnotationReply",
    "ApiToken",
    "Article",
    "ArticleState",
    "AssignmentStatus",
    "AuditEvent",
    "AuditHead",
    "AuditVerification",
    "Decision",
    "FinishedPage",
    "IdempotencyKey",
    "Invitation",
    "LoginCounter",
    "LoginThrottle",
    "Notification",
    "NotificationSettings",
    "OutboxEmail",
    "PageStamp",
    "PasswordReset",
    "PublicState",
    "PublishedReview",
    "PublishedVersion",
    "RecoveryCode",
    "ReviewAssignment",
    "ReviewerProfile",
    "Revision",
    "RevisionSource",
    "Role",
    "SiteSetting",
    "SourceCheck",
    "TwoFactor",
    "User",
    "UserRole",
    "UserSession",
    "Verdict",
    "WebhookDelivery",
    "WebhookEndpoint",
]
