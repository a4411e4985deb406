"""Features: pure functions of a lead's timeline at a moment in time.

Every feature has a label a person understands and a way to state its evidence, so a
reason can quote what the model actually used. Features hold numbers and categories only.

>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2026, 1, 31, tzinfo=UTC)
>>> visits = tuple(Touch("web", now - timedelta(days=d), page="pricing") for d in (1, 2, 3))
>>> features = compute_features(LeadTimeline(touches=visits, seniority="vp"), now)
>>> features["pricing_visits_7d"], features["seniority"]
(3.0, 'vp')
>>> evidence("pricing_visits_7d", features)
'visited the pricing page 3× in 7 days'
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from learning.timeline import LeadTimeline, Touch

Features = dict[str, float | str]
WINDOWS = (7, 30, 90)
REPLY_WINDOW = timedelta(days=14)
ANSWER_GRACE = timedelta(days=2)
RECENCY_DAYS = 7.0
UPCOMING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """How to speak of a feature: its label and the sentence that states its evidence."""

    label: str
    evidence: Callable[[float | str, Features], str]

    @staticmethod
    def family(name: str) -> str:
        """Windows of one measure form a family; a reason cites only its strongest member.

        >>> FeatureInfo.family("emails_out_30d"), FeatureInfo.family("seniority")
        ('emails_out', 'seniority')
        """
        stem, _, window = name.rpartition("_")
        return stem if stem and window.endswith("d") and window[:-1].isdigit() else name


def _count(
    touches: Iterable[Touch], now: datetime, days: int, test: Callable[[Touch], bool]
) -> float:
    start = now - timedelta(days=days)
    return float(sum(1 for t in touches if start < t.at <= now and test(t)))


def _sum(touches: Iterable[Touch], now: datetime, days: int, kind: str, attr: str) -> float:
    start = now - timedelta(days=days)
    return float(sum(getattr(t, attr) for t in touches if t.kind == kind and start < t.at <= now))


def _is_email(direction: str) -> Callable[[Touch], bool]:
    return lambda t: t.kind == "email" and t.direction == direction


def _is_marketing(event: str) -> Callable[[Touch], bool]:
    """Marketing touches of one event: download, open, click, webinar or form (a form fill).

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 31, tzinfo=UTC)
    >>> seen = tuple(Touch("marketing", now - timedelta(days=d), event=e)
    ...              for d, e in ((3, "webinar"), (20, "form"), (60, "form"), (95, "form")))
    >>> features = compute_features(LeadTimeline(touches=seen), now)
    >>> features["webinars_90d"], features["form_fills_90d"]
    (1.0, 2.0)
    >>> evidence("webinars_90d", features), evidence("form_fills_90d", features)
    ('attended 1 webinar in 90 days', 'filled in 2 forms in 90 days')
    """
    return lambda t: t.kind == "marketing" and t.event == event


def _known(t: Touch, now: datetime) -> bool:
    """Whether a touch counts at ``now``: cancelled meetings never, booked ones once booked."""
    return not t.cancelled and (t.booked_at is None or t.booked_at <= now)


def _upcoming(touches: Iterable[Touch], now: datetime) -> float:
    """Meetings booked by ``now`` that start within the next 30 days.

    >>> from datetime import UTC
    >>> now, day = datetime(2026, 1, 31, tzinfo=UTC), timedelta(days=1)
    >>> booked = Touch("meeting", now + 3 * day, booked_at=now - day)
    >>> later = Touch("meeting", now + 3 * day, booked_at=now + day)
    >>> dropped = Touch("meeting", now + 3 * day, cancelled=True, booked_at=now - day)
    >>> _upcoming([booked, later, dropped, Touch("meeting", now + 40 * day)], now)
    1.0
    """
    booked = [t for t in touches if t.kind == "meeting" and t.booked_at and _known(t, now)]
    return _count(booked, now + UPCOMING, UPCOMING.days, lambda _t: True)


def _is_pricing(t: Touch) -> bool:
    return t.kind == "web" and t.page == "pricing"


def _answer(emails: list[Touch], index: int) -> Touch | None:
    """The inbound email that answered ``emails[index]``: before our next one, within the window."""
    sent = emails[index]
    for later in emails[index + 1 :]:
        if later.direction == "outbound" or later.at - sent.at > REPLY_WINDOW:
            return None
        if later.direction == "inbound":
            return later
    return None


def _reply_stats(emails: list[Touch], now: datetime) -> tuple[float | None, float | None, int]:
    """Reply rate and median latency (hours) over 90 days, and the unanswered streak.

    An email is answered by an inbound one that comes before our next email; one still
    unanswered counts only once it has had ``ANSWER_GRACE`` to be answered.
    """
    start = now - timedelta(days=90)
    answered, latencies, judged = 0, [], 0
    for index, sent in enumerate(emails):
        if sent.direction != "outbound" or sent.at <= start:
            continue
        reply = _answer(emails, index)
        if reply is None and now - sent.at < ANSWER_GRACE:
            continue
        judged += 1
        if reply is not None:
            answered += 1
            latencies.append((reply.at - sent.at).total_seconds() / 3600)
    streak = 0
    for touch in reversed(emails):
        if touch.direction == "inbound":
            break
        if touch.direction == "outbound" and now - touch.at >= ANSWER_GRACE:
            streak += 1
    rate = answered / judged if judged else None
    latency = statistics.median(latencies) if latencies else None
    return rate, latency, streak


def _company_size(employees: int | None) -> str:
    if employees is None:
        return "unknown"
    for limit, band in ((50, "small"), (500, "mid"), (5000, "large")):
        if employees < limit:
            return band
    return "enterprise"


def compute_features(timeline: LeadTimeline, now: datetime) -> Features:
    """The feature dict of a lead as it stood at ``now`` (later touches are ignored)."""
    touches = [t for t in timeline.touches if t.at <= now and _known(t, now)]
    emails = [t for t in touches if t.kind == "email"]
    features: Features = {}
    for days in WINDOWS:
        features[f"emails_in_{days}d"] = _count(emails, now, days, _is_email("inbound"))
        features[f"emails_out_{days}d"] = _count(emails, now, days, _is_email("outbound"))
    rate, latency, streak = _reply_stats(emails, now)
    if rate is not None:
        features["reply_rate_90d"] = rate
    if latency is not None:
        features["reply_speed"] = 24 / (24 + latency)
    features["unanswered_streak"] = float(streak)
    meetings = [t for t in touches if t.kind == "meeting"]
    features["meetings_30d"] = _count(meetings, now, 30, lambda _t: True)
    features["meetings_90d"] = _count(meetings, now, 90, lambda _t: True)
    features["meetings_upcoming"] = _upcoming(timeline.touches, now)
    features["calls_30d"] = _count(touches, now, 30, lambda t: t.kind == "call")
    features["talk_min_30d"] = _sum(touches, now, 30, "call", "duration_s") / 60
    features["pricing_visits_7d"] = _count(touches, now, 7, _is_pricing)
    features["pricing_visits_30d"] = _count(touches, now, 30, _is_pricing)
    features["web_visits_30d"] = _count(touches, now, 30, lambda t: t.kind == "web")
    features["dwell_min_30d"] = _sum(touches, now, 30, "web", "dwell_s") / 60
    for event, days in (("download", 90), ("open", 30), ("click", 30), ("webinar", 90)):
        features[f"{event}s_{days}d"] = _count(touches, now, days, _is_marketing(event))
    features["form_fills_90d"] = _count(touches, now, 90, _is_marketing("form"))
    if touches:
        days_since = (now - max(t.at for t in touches)).total_seconds() / 86400
        features["recency"] = RECENCY_DAYS / (RECENCY_DAYS + days_since)
    features["seniority"] = timeline.seniority
    changed = timeline.title_changed_at
    features["title_changed_90d"] = float(
        changed is not None and now - timedelta(days=90) < changed <= now
    )
    features["industry"] = timeline.industry or "unknown"
    features["company_size"] = _company_size(timeline.employees)
    features["lead_source"] = timeline.lead_source or "unknown"
    features["deal_stage"] = timeline.deal_stage or "none"
    if timeline.deal_created_at is not None and timeline.deal_created_at <= now:
        features["deal_age_days"] = (now - timeline.deal_created_at).total_seconds() / 86400
    features["open_issues"] = float(timeline.open_issues)
    return features


def _n(value: float | str) -> int:
    return round(float(value))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _hours(speed: float) -> str:
    hours = max(1, round(24 / speed - 24))
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def _last_touch(recency: float) -> str:
    days = round(RECENCY_DAYS / recency - RECENCY_DAYS) if recency > 0 else 0
    return "in touch today" if days == 0 else f"last touch {_plural(days, 'day')} ago"


def _unanswered(count: int) -> str:
    return "no reply to our last email" if count == 1 else f"no reply to our last {count} emails"


SENIORITY_WORDS = {
    "c_level": "C-level title",
    "vp": "VP-level title",
    "director": "director-level title",
    "manager": "manager-level title",
    "individual": "individual-contributor title",
}


def _category(name: str) -> Callable[[float | str, Features], str]:
    return lambda value, _f: f"{name}: {str(value).replace('_', ' ')}"


def _windowed(days: int, phrase: Callable[[int], str]) -> Callable[[float | str, Features], str]:
    return lambda value, _f: f"{phrase(_n(value))} in {days} days"


FEATURES: dict[str, FeatureInfo] = {
    **{
        f"emails_in_{d}d": FeatureInfo(
            f"emails received ({d}d)", _windowed(d, lambda n: f"wrote {_plural(n, 'email')}")
        )
        for d in WINDOWS
    },
    **{
        f"emails_out_{d}d": FeatureInfo(
            f"emails sent ({d}d)", _windowed(d, lambda n: f"was sent {_plural(n, 'email')}")
        )
        for d in WINDOWS
    },
    "reply_rate_90d": FeatureInfo(
        "reply rate (90d)",
        lambda v, _f: f"replied to {round(float(v) * 100)}% of our emails in 90 days",
    ),
    "reply_speed": FeatureInfo(
        "reply speed",
        lambda v, _f: f"replies within {_hours(float(v))} (median, 90 days)",
    ),
    "unanswered_streak": FeatureInfo("unanswered emails", lambda v, _f: _unanswered(_n(v))),
    "meetings_30d": FeatureInfo(
        "meetings (30d)", _windowed(30, lambda n: f"{_plural(n, 'meeting')} booked or held")
    ),
    "meetings_90d": FeatureInfo(
        "meetings (90d)", _windowed(90, lambda n: f"{_plural(n, 'meeting')} booked or held")
    ),
    "meetings_upcoming": FeatureInfo(
        "meetings booked ahead",
        lambda v, _f: f"has {_plural(_n(v), 'meeting')} booked in the next 30 days",
    ),
    "calls_30d": FeatureInfo("calls (30d)", _windowed(30, lambda n: _plural(n, "call"))),
    "talk_min_30d": FeatureInfo(
        "talk time (30d)", _windowed(30, lambda n: f"{n} minutes on the phone")
    ),
    "pricing_visits_7d": FeatureInfo(
        "pricing-page visits (7d)", _windowed(7, lambda n: f"visited the pricing page {n}×")
    ),
    "pricing_visits_30d": FeatureInfo(
        "pricing-page visits (30d)", _windowed(30, lambda n: f"visited the pricing page {n}×")
    ),
    "web_visits_30d": FeatureInfo(
        "site visits (30d)", _windowed(30, lambda n: f"viewed {_plural(n, 'page')} of our site")
    ),
    "dwell_min_30d": FeatureInfo(
        "time on site (30d)", _windowed(30, lambda n: f"spent {n} minutes on our site")
    ),
    "downloads_90d": FeatureInfo(
        "content downloads (90d)", _windowed(90, lambda n: f"downloaded {_plural(n, 'asset')}")
    ),
    "opens_30d": FeatureInfo(
        "email opens (30d)", _windowed(30, lambda n: f"opened our emails {n}×")
    ),
    "clicks_30d": FeatureInfo(
        "email clicks (30d)", _windowed(30, lambda n: f"clicked links in our emails {n}×")
    ),
    "webinars_90d": FeatureInfo(
        "webinars attended (90d)", _windowed(90, lambda n: f"attended {_plural(n, 'webinar')}")
    ),
    "form_fills_90d": FeatureInfo(
        "form fills (90d)", _windowed(90, lambda n: f"filled in {_plural(n, 'form')}")
    ),
    "recency": FeatureInfo("recency of last touch", lambda v, _f: _last_touch(float(v))),
    "seniority": FeatureInfo("seniority", lambda v, _f: SENIORITY_WORDS.get(str(v), str(v))),
    "title_changed_90d": FeatureInfo(
        "new job title", lambda _v, _f: "changed job title in the last 90 days"
    ),
    "industry": FeatureInfo("industry", _category("industry")),
    "company_size": FeatureInfo("company size", _category("company size")),
    "lead_source": FeatureInfo("lead source", _category("lead source")),
    "deal_stage": FeatureInfo("deal stage", _category("deal stage")),
    "deal_age_days": FeatureInfo(
        "deal age", lambda v, _f: f"deal open for {_plural(_n(v), 'day')}"
    ),
    "open_issues": FeatureInfo(
        "open data problems", lambda v, _f: f"{_plural(_n(v), 'open data problem')}"
    ),
}


def evidence(name: str, features: Features) -> str:
    """The sentence that states a feature's evidence, from its value."""
    return FEATURES[name].evidence(features[name], features)
