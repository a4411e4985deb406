"""The domain: SQLModel tables (one module per aggregate) and the services that change them."""

from sqlmodel import SQLModel

from models.account import Account
from models.activity import Activity, ActivityParticipant, Quarantine, RawItem, SkippedItem
from models.audit import AuditAnchor, AuditEntry
from models.contact import Contact, ContactChange, ContactIdentity
from models.deal import Deal, DealContact, DealStageChange
from models.feedback import Feedback
from models.home import HomeState
from models.hygiene import HygieneIssue, MergeProposal, MergeRecord
from models.integration import ApiToken, WebhookDelivery, WebhookReceipt, WebhookSubscription
from models.jobs import JobRun, Lease
from models.learning import DriftEvent, LearningLogEntry, ModelSnapshot, ScoreSnapshot
from models.learning_control import LearningExclusion
from models.mailbox import MailboxCheckpoint
from models.nudge import Nudge, SlackEventReceipt
from models.privacy import ErasureKey, ErasureTombstone, SlackRetraction
from models.roles import RoleGrant, RoleGroupMember
from models.workspace import User, Workspace

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "Activity",
    "ActivityParticipant",
    "ApiToken",
    "AuditAnchor",
    "AuditEntry",
    "Contact",
    "ContactChange",
    "ContactIdentity",
    "Deal",
    "DealContact",
    "DealStageChange",
    "DriftEvent",
    "ErasureKey",
    "ErasureTombstone",
    "Feedback",
    "HomeState",
    "HygieneIssue",
    "JobRun",
    "LearningExclusion",
    "LearningLogEntry",
    "Lease",
    "MailboxCheckpoint",
    "MergeProposal",
    "MergeRecord",
    "ModelSnapshot",
    "Nudge",
    "Quarantine",
    "RawItem",
    "RoleGrant",
    "RoleGroupMember",
    "ScoreSnapshot",
    "SkippedItem",
    "SlackEventReceipt",
    "SlackRetraction",
    "User",
    "WebhookDelivery",
    "WebhookReceipt",
    "WebhookSubscription",
    "Workspace",
    "metadata",
]
