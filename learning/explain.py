"""Turn the model's real contributions into plain-language reasons and one next action.

>>> from learning.pipeline import build_model
>>> model = build_model()
>>> features = {"pricing_visits_7d": 3.0, "unanswered_streak": 2.0}
>>> reasons = explain(model, features, limit=3)
>>> [r.text for r in reasons.supporting]
['visited the pricing page 3× in 7 days']
>>> [r.text for r in reasons.opposing]
['no reply to our last 2 emails']
"""

from __future__ import annotations

from dataclasses import dataclass

from learning.features import FEATURES, FeatureInfo, Features, evidence
from learning.pipeline import LeadModel, Vector

MIN_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Reason:
    """One feature's effect on the score, with the sentence that states its evidence."""

    feature: str
    text: str
    effect: float

    def as_dict(self) -> dict[str, str | float]:
        """JSON-ready form."""
        return {"feature": self.feature, "text": self.text, "effect": round(self.effect, 4)}


@dataclass(frozen=True, slots=True)
class Reasons:
    """Top reasons for and against a score."""

    supporting: tuple[Reason, ...]
    opposing: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Action:
    """Something a rep can do, as the change it makes to the lead's features."""

    label: str
    changes: tuple[tuple[str, float], ...]
    sets: tuple[tuple[str, float], ...] = (("recency", 1.0),)
    needs: str | None = None

    def applies(self, features: Features) -> bool:
        """Whether the action makes sense for this lead (a reply needs an email sent)."""
        return self.needs is None or bool(features.get(self.needs))

    def touches(self) -> list[str]:
        """The features the action changes."""
        return [name for name, _value in (*self.changes, *self.sets)]


ACTIONS = (
    Action("book a meeting", (("meetings_upcoming", 1.0),)),
    Action("call them", (("calls_30d", 1.0), ("talk_min_30d", 15.0))),
    Action(
        "get a reply to your last email",
        (("emails_in_7d", 1.0), ("emails_in_30d", 1.0), ("emails_in_90d", 1.0)),
        (("recency", 1.0), ("unanswered_streak", 0.0)),
        "emails_out_90d",
    ),
)


def explain(
    model: LeadModel, features: Features, *, limit: int, vector: Vector | None = None
) -> Reasons:
    """The ``limit`` strongest contributions each way, each with its evidence."""
    shares = model.contributions(features, vector)
    ranked = sorted(shares.items(), key=lambda item: abs(item[1]), reverse=True)
    reasons: list[Reason] = []
    cited: set[str] = set()
    for name, share in ranked:
        key = FeatureInfo.family(name)
        if abs(share) < MIN_SHARE or name not in FEATURES or key in cited:
            continue
        cited.add(key)
        reasons.append(Reason(name, evidence(name, features), share))
    return Reasons(
        supporting=tuple(r for r in reasons if r.effect > 0)[:limit],
        opposing=tuple(r for r in reasons if r.effect < 0)[:limit],
    )


def _apply(action: Action, features: Features) -> Features:
    changed = dict(features)
    for name, delta in action.changes:
        current = changed.get(name, 0.0)
        changed[name] = (float(current) if not isinstance(current, str) else 0.0) + delta
    changed.update(action.sets)
    return changed


def best_action(
    model: LeadModel, features: Features, vector: Vector | None = None
) -> tuple[str, int] | None:
    """The action that would raise the score most, with its estimated effect in points.

    Only the features an action changes are encoded again (``vector``: the lead's, if the
    caller has it); each encoded feature depends on its own value alone.
    """
    vector = vector if vector is not None else model.encode(features)
    base = round(model.probability_of(vector) * 100)
    effects = []
    for action in ACTIONS:
        if action.applies(features):
            changed = _apply(action, features)
            touched = {name: changed[name] for name in action.touches()}
            after = vector | model.encode(touched)
            effects.append((action.label, round(model.probability_of(after) * 100) - base))
    if not effects:
        return None
    label, gain = max(effects, key=lambda item: item[1])
    return (label, gain) if gain >= 1 else None
