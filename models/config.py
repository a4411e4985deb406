"""The ``crm:`` section of app.yaml: how Nudge behaves for this team (no secrets here)."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.hygiene_config import HygieneConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamMember(_Section):
    """A person of the sales team as the admin declared them.

    ``phone`` (international form, kept as E.164) lets calls to or from it find the rep.
    """

    slack_id: str
    email: str
    name: str = ""
    role: str = "rep"
    manager: str | None = None
    tz: str = "UTC"
    phone: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, phone: str | None) -> str | None:
        if phone is None:
            return None
        try:
            number = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValueError(f"phone must be international, like +1 415 555 0100: {phone!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ("rep", "manager", "admin"):
            raise ValueError(f"role must be rep, manager or admin, not {role!r}")
        return role


class ScoringConfig(_Section):
    """Score bands and when a change is worth a nudge."""

    hot: int = Field(default=70, ge=1, le=100)
    warm: int = Field(default=40, ge=0, le=100)
    jump: int = Field(default=15, ge=1, le=100)
    min_outcomes: int = Field(default=20, ge=0)
    reasons: int = Field(default=3, ge=1, le=6)

    @model_validator(mode="after")
    def _ordered(self) -> ScoringConfig:
        if self.warm >= self.hot:
            raise ValueError("scoring.warm must be below scoring.hot")
        return self


class FeedbackConfig(_Section):
    """Which reactions mean right or wrong, and how much each teaches the model."""

    positive: dict[str, float] = Field(default_factory=lambda: {"+1": 0.5, "fire": 0.8})
    negative: dict[str, float] = Field(default_factory=lambda: {"-1": 0.5, "ice_cube": 0.8})
    button_weight: float = Field(default=0.5, gt=0, le=1)
    max_weight_per_user_hour: float = Field(default=10.0, gt=0)
    """Learning weight one person's feedback may add in an hour; the rest is kept, unlearned."""
    burst_per_hour: int = Field(default=20, ge=1)
    """Verdicts by one person in an hour that are flagged to admins as a burst."""
    one_sided_after: int = Field(default=10, ge=2)
    """Consecutive verdicts all one way (all right or all wrong) that are flagged to admins."""

    def label_for(self, emoji: str) -> tuple[bool, float] | None:
        """(label, weight) for a reaction name, or None when it is not feedback.

        Skin tones (``+1::skin-tone-3``) count as the base emoji.
        """
        base = emoji.split("::", 1)[0]
        if base in self.positive:
            return True, self.positive[base]
        if base in self.negative:
            return False, self.negative[base]
        return None


class NudgeConfig(_Section):
    """Where nudges go and how often.

    ``deliver_to: owner`` sends each nudge to its record owner's DM (to ``channel`` when
    the record has no owner); ``channel`` sends them all to ``channel``, where the owner's
    hourly cap and quiet hours still pace them.
    """

    deliver_to: Literal["owner", "channel"] = "owner"
    channel: str | None = None
    max_age_hours: int = Field(default=72, ge=1)
    renotify_days: int = Field(default=7, ge=1)
    per_rep_per_hour: int = Field(default=6, ge=1)
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    stale_days: int = Field(default=14, ge=1)
    check_every_minutes: int = Field(default=60, ge=5, le=1440)

    @model_validator(mode="after")
    def _channel_named(self) -> NudgeConfig:
        if self.deliver_to == "channel" and not self.channel:
            raise ValueError("nudges.deliver_to: channel needs nudges.channel")
        return self


class LearningConfig(_Section):
    """How strongly outcomes teach, and how often the model is saved."""

    outcome_weight: float = Field(default=1.0, gt=0)
    snapshot_every: int = Field(default=1, ge=1)


class DigestConfig(_Section):
    """The manager digest: what puts a deal at risk, and how late a missed digest still goes."""

    grace_hours: int = Field(default=6, ge=1, le=23)
    stale_days: int = Field(default=14, ge=1)
    closing_days: int = Field(default=7, ge=1)
    score_drop: int = Field(default=20, ge=1, le=100)
    drop_days: int = Field(default=7, ge=1)
    max_items: int = Field(default=10, ge=1, le=20)


class MailboxConfig(_Section):
    """One IMAP mailbox to listen to; its secret is read from the variable ``secret_env``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    ssl: bool = True
    user: str
    auth: str = Field(default="password", pattern=r"^(password|xoauth2)$")
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    folders: tuple[str, ...] = ("INBOX",)
    backfill_days: int = Field(default=30, ge=0, le=3650)


class CaptureConfig(_Section):
    """Limits and word lists used while capturing."""

    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    signals: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "next_steps": ("next step", "follow up", "send over", "schedule", "let's meet"),
            "pricing": ("price", "pricing", "quote", "discount", "budget", "cost"),
            "competitors": (),
            "objections": ("too expensive", "not a priority", "no budget", "already have"),
        }
    )


class CrmConfig(_Section):
    """Everything in ``crm:``."""

    workspace: str = "default"
    internal_domains: frozenset[str] = frozenset()
    default_region: str = "US"
    scoring: ScoringConfig = ScoringConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    nudges: NudgeConfig = NudgeConfig()
    learning: LearningConfig = LearningConfig()
    digest_time: time = time(8, 30)
    digest: DigestConfig = DigestConfig()
    team: tuple[TeamMember, ...] = ()
    mailboxes: tuple[MailboxConfig, ...] = ()
    capture: CaptureConfig = CaptureConfig()
    hygiene: HygieneConfig = HygieneConfig()
    roles: dict[str, str] = Field(default_factory=dict)
    """Slack user ids (U…, W…) or user-group ids (S…) mapped to rep, manager or admin."""
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {"audit": 2555, "raw_items": 365}
    )

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, str]) -> dict[str, str]:
        for subject, role in roles.items():
            if not re.fullmatch(r"[SUW][A-Z0-9]{2,30}", subject):
                raise ValueError(f"roles: {subject!r} is not a Slack user or user-group id")
            if role not in ("rep", "manager", "admin"):
                raise ValueError(f"roles: {subject} must be rep, manager or admin, not {role!r}")
        return roles

    @field_validator("internal_domains")
    @classmethod
    def _lower_domains(cls, domains: frozenset[str]) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in domains)
