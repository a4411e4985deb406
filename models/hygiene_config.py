"""The ``crm.hygiene`` section of app.yaml: which data-hygiene rules run, with their parameters.

Each entry names its ``rule`` kind; unknown kinds, unknown parameters and impossible values
are refused with the entry's position and the parameter's name, so a typo never passes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EntityType = Literal["contact", "deal"]
DealField = Literal["contact", "amount", "close_date", "owner"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True

    def parameters(self) -> dict[str, object]:
        """What ``/crm rules`` shows: every setting except the kind and the switch."""
        return self.model_dump(exclude={"rule", "enabled"}, mode="json")


def _negotiation_needs_contact() -> dict[str, tuple[DealField, ...]]:
    return {"Negotiation": ("contact",)}


class RequiredFieldsRule(_Rule):
    """Fields an open deal must have once it reaches a stage (stage names match any case)."""

    rule: Literal["required_fields"]
    stages: dict[str, tuple[DealField, ...]] = Field(default_factory=_negotiation_needs_contact)

    @field_validator("stages")
    @classmethod
    def _named_stages(cls, stages: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        if any(not name.strip() for name in stages):
            raise ValueError("stage names must not be empty")
        return stages


class CloseDatePastRule(_Rule):
    """An open deal whose expected close date has gone by (``grace_days`` after it)."""

    rule: Literal["close_date_past"]
    grace_days: int = Field(default=0, ge=0, le=365)


class NoActivityRule(_Rule):
    """No activity for ``days``: on an open deal's contacts, or on an owned contact."""

    rule: Literal["no_activity"]
    days: int = Field(default=21, ge=1, le=3650)
    applies_to: tuple[EntityType, ...] = ("deal",)


class ContactDetailsRule(_Rule):
    """A contact's email and phone: ``required`` ones must exist; any present must be valid."""

    rule: Literal["contact_details"]
    required: tuple[Literal["email", "phone"], ...] = ("email",)


class DuplicateRule(_Rule):
    """An open merge proposal, or two contacts of the same name at the same account."""

    rule: Literal["duplicate"]
    same_name_at_account: bool = True


class MissingOwnerRule(_Rule):
    """A record nobody owns: nobody will follow it up.

    Contacts are left out by default: inbound leads often arrive unowned and are routed
    by their hot-lead nudge; add ``contact`` to flag them too.
    """

    rule: Literal["missing_owner"]
    applies_to: tuple[EntityType, ...] = ("deal",)


class AmountOutlierRule(_Rule):
    """An open deal's amount far from the workspace's usual amounts.

    Amounts are compared on a log scale (deal sizes are multiplicative) by their robust
    z-score, 0.6745 * (x - median) / MAD; it fires above ``threshold`` once at least
    ``min_sample`` deals have an amount. A zero or negative amount always fires.
    """

    rule: Literal["amount_outlier"]
    threshold: float = Field(default=3.5, gt=0, le=100)
    min_sample: int = Field(default=20, ge=5)


HygieneRule = Annotated[
    RequiredFieldsRule
    | CloseDatePastRule
    | NoActivityRule
    | ContactDetailsRule
    | DuplicateRule
    | MissingOwnerRule
    | AmountOutlierRule,
    Field(discriminator="rule"),
]


def _default_rules() -> tuple[HygieneRule, ...]:
    return (
        RequiredFieldsRule(rule="required_fields"),
        CloseDatePastRule(rule="close_date_past"),
        NoActivityRule(rule="no_activity"),
        ContactDetailsRule(rule="contact_details"),
        DuplicateRule(rule="duplicate"),
        MissingOwnerRule(rule="missing_owner"),
        AmountOutlierRule(rule="amount_outlier"),
    )


class HygieneConfig(BaseModel):
    """Every hygiene rule; at most one entry per kind, so there is no doubt which one counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[HygieneRule, ...] = Field(default_factory=_default_rules)

    @model_validator(mode="after")
    def _one_entry_per_kind(self) -> HygieneConfig:
        kinds = [entry.rule for entry in self.rules]
        repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if repeated:
            raise ValueError(f"hygiene rules listed twice: {', '.join(repeated)}")
        return self

    def active(self) -> tuple[HygieneRule, ...]:
        """The enabled rules, in the order written."""
        return tuple(entry for entry in self.rules if entry.enabled)
