"""``make demo``: a sample company through the real pipeline, nudges shown as Slack would.

History (mail, meetings, calls, web visits, deal outcomes) is replayed in time order
through the same ingestion and learning paths as live capture; the outbox poster then
sends the nudges to a terminal transport, simulated reps react with emoji, and the
ranking is compared with the sample's hidden ground truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlmodel import col, select

from bot.config import AppConfig
from bot.flows import apply_feedback, capture, sweep
from bot.lease import learning_turn
from bot.outbox import OutboxPoster
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.sample_data import SampleData, SampleDeal, SampleEvent, generate
from bot.settings import Settings
from bot.terminal import TerminalTransport
from handlers.mail_capture import email_input
from handlers.web import page_category
from models.config import TeamMember
from models.contact import Contact, ContactIdentity
from models.db import unit_of_work
from models.deal import Deal
from models.nudge import Nudge
from models.services.accounts import upsert_account
from models.services.deals import close_deal, upsert_deal
from models.services.feedback import ReactionIn
from models.services.identity import resolve_contact
from models.services.inputs import ActivityIn, PersonIn
from models.services.stats import workspace_stats
from models.services.workspaces import user_by_email
from models.types import utcnow


def event_input(event: SampleEvent) -> ActivityIn:
    """A sample meeting, call or page view as the capture path takes it."""
    facts: dict[str, object] = {}
    if event.duration_s is not None:
        facts["duration_s"] = event.duration_s
    if event.url is not None:
        facts.update(url=event.url, page=page_category(event.url), dwell_s=event.dwell_s or 0)
    return ActivityIn(
        source=event.source,
        external_id=event.external_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        people=(PersonIn(email=event.contact_email),),
        direction=event.direction,
        subject=event.subject,
        facts=facts,
    )


def demo_config(config: AppConfig, sample: SampleData) -> AppConfig:
    """app.yaml's behaviour with the sample team and its domain."""
    team = tuple(
        TeamMember(slack_id=r.slack_user_id, email=r.email, name=r.name, tz=r.tz)
        for r in sample.reps
    )
    crm = config.crm.model_copy(
        update={"team": team, "internal_domains": frozenset({sample.internal_domain})}
    )
    return AppConfig(slack=config.slack, crm=crm)


async def _seed_accounts(runtime: Runtime, sample: SampleData) -> None:
    owners = {r.slack_user_id: r.email for r in sample.reps}
    async with unit_of_work(runtime.sessions) as session:
        for account in sample.accounts:
            owner = await user_by_email(
                session=session,
                workspace_id=runtime.workspace_id,
                email=owners[account.owner_slack_id],
            )
            await upsert_account(
                session=session,
                workspace_id=runtime.workspace_id,
                domain=account.domain,
                name=account.name,
                industry=account.industry,
                employees=account.employees,
                owner_id=owner.id if owner else None,
            )


async def _open_deal(runtime: Runtime, deal: SampleDeal, owner_email: str) -> None:
    async with unit_of_work(runtime.sessions) as session:
        contact = await resolve_contact(
            session=session,
            workspace_id=runtime.workspace_id,
            person=PersonIn(email=deal.contact_email),
            source="crm",
        )
        owner = await user_by_email(
            session=session, workspace_id=runtime.workspace_id, email=owner_email
        )
        stage = deal.stage if deal.outcome == "open" else "Negotiation"
        await upsert_deal(
            session=session,
            workspace_id=runtime.workspace_id,
            external_id=deal.external_id,
            name=deal.name,
            account_id=contact.account_id,
            contact_id=contact.id,
            owner_id=owner.id if owner else None,
            stage=stage,
            amount=float(deal.amount),
            created_at=deal.created_at,
            actor="demo",
        )


async def _close_deal(runtime: Runtime, deal: SampleDeal) -> int:
    async with learning_turn(runtime) as turn:
        session, pending = turn.session, turn.pending
        query = select(Deal).where(
            Deal.workspace_id == runtime.workspace_id, Deal.external_id == deal.external_id
        )
        row = (await session.exec(query)).one()
        assert deal.closed_at is not None
        return await close_deal(
            session=session,
            pending=pending,
            deal=row,
            outcome=deal.outcome,
            at=deal.closed_at,
            actor="demo",
            config=runtime.config.crm,
            salt=runtime.salt,
        )


@dataclass(frozen=True, slots=True)
class _Step:
    at: datetime
    order: int
    kind: str
    payload: object


def _timeline(sample: SampleData, config: AppConfig) -> list[_Step]:
    crm = config.crm
    steps: list[_Step] = []
    for raw in sample.emails:
        item = email_input(raw, internal_domains=crm.internal_domains, default_region="US")
        at = item.occurred_at if isinstance(item, ActivityIn) else sample.deals[0].created_at
        steps.append(_Step(at, 1, "capture", item))
    steps += [_Step(e.occurred_at, 1, "capture", event_input(e)) for e in sample.events]
    for deal in sample.deals:
        steps.append(_Step(deal.created_at, 0, "open", deal))
        if deal.closed_at is not None:
            steps.append(_Step(deal.closed_at, 2, "close", deal))
    return sorted(steps, key=lambda s: (s.at, s.order))


async def _replay_history(runtime: Runtime, sample: SampleData) -> int:
    owners = {r.slack_user_id: r.email for r in sample.reps}
    learned = 0
    for step in _timeline(sample, runtime.config):
        if step.kind == "capture":
            await capture(runtime, step.payload)  # type: ignore[arg-type]
        elif step.kind == "open":
            deal = step.payload
            assert isinstance(deal, SampleDeal)
            await _open_deal(runtime, deal, owners[deal.owner_slack_id])
        else:
            assert isinstance(step.payload, SampleDeal)
            learned += await _close_deal(runtime, step.payload)
    return learned


async def _react_like_reps(runtime: Runtime, sample: SampleData) -> int:
    """Each rep reacts to their hot-lead nudges as their hidden knowledge of the lead says."""
    async with unit_of_work(runtime.sessions) as session:
        sent = (
            await session.exec(
                select(Nudge, ContactIdentity.value)
                .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Nudge.contact_id))
                .where(
                    Nudge.cause == "hot_lead",
                    Nudge.state == "sent",
                    ContactIdentity.kind == "email",
                )
            )
        ).all()
    updates = 0
    for nudge, email in sent:
        truth = sample.truth.get(email)
        if truth is None or nudge.message_ts is None or nudge.channel_id is None:
            continue
        emoji = "fire" if truth >= 0.6 else "+1" if truth >= 0.45 else "ice_cube"
        reaction = ReactionIn(nudge.channel_id, nudge.message_ts, nudge.channel, emoji, False)
        if await apply_feedback(runtime, reaction, event_id=f"demo-{nudge.id}") is not None:
            updates += 1
    return updates


def ranking_auc(scores: dict[str, float], truth: dict[str, float]) -> float:
    """How often a contact who would buy (truth ≥ 0.5) outranks one who would not.

    >>> ranking_auc({"a": 90, "b": 10, "c": 50}, {"a": 0.9, "b": 0.1, "c": 0.2})
    1.0
    """
    positives = [scores[k] for k in scores if truth[k] >= 0.5]
    negatives = [scores[k] for k in scores if truth[k] < 0.5]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


async def _final_scores(runtime: Runtime) -> dict[str, float]:
    async with unit_of_work(runtime.sessions) as session:
        rows = (
            await session.exec(
                select(Contact.score, ContactIdentity.value)
                .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
                .where(ContactIdentity.kind == "email", col(Contact.score).is_not(None))
            )
        ).all()
    return {email: float(score or 0) for score, email in rows}


def _fresh_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def run_demo(settings: Settings, config: AppConfig, *, seed: int, database: Path) -> None:
    """Run the whole demo and print its one-line summary."""
    started = time.perf_counter()
    console = Console(width=100)
    now = utcnow().replace(microsecond=0)
    sample = generate(seed=seed, now=now)
    _fresh_database(database)
    demo_settings = settings.model_copy(update={"database_url": f"sqlite:///{database}"})
    runtime = await open_runtime(demo_settings, demo_config(config, sample), clock=lambda: now)
    try:
        await _seed_accounts(runtime, sample)
        outcomes = await _replay_history(runtime, sample)
        await sweep(runtime)
        poster = OutboxPoster(runtime.sessions, TerminalTransport(console), pace_s=0)
        while await poster.run_once(now=now):
            pass
        updates = await _react_like_reps(runtime, sample)
        while await poster.run_once(now=now):
            pass
        async with unit_of_work(runtime.sessions) as session:
            stats = await workspace_stats(session=session, workspace_id=runtime.workspace_id)
        auc = ranking_auc(await _final_scores(runtime), dict(sample.truth))
    finally:
        await close_runtime(runtime)
    nudges = stats["nudges"].get("sent", 0)
    console.print(
        f"[dim]{outcomes} outcome examples learned from won/lost deals; "
        f"took {time.perf_counter() - started:.1f} s[/dim]"
    )
    print(  # noqa: T201
        f"demo: {sum(stats['activities'].values())} activities, {stats['contacts']} contacts, "
        f"{nudges} nudges, {updates} feedback updates, ranking AUC {auc:.2f}"
    )
