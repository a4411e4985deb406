"""Model health for managers (C3.6): prequential accuracy, feedback counts, drift; `/crm model`."""

from __future__ import annotations

from bot.flows import apply_feedback
from bot.runtime import Runtime
from models.db import unit_of_work
from models.services.model_health import model_health
from tests.fakes.slack_api import FakeSlackApi
from tests.learning.test_drift import DAYS, PER_DAY, simulate
from tests.learning.test_replay import close, engaged_lead, react
from tests.slack_requests import crm_answer


async def health_of(runtime: Runtime) -> dict[str, object]:
    """The service's answer for the runtime's workspace."""
    async with unit_of_work(runtime.sessions) as session:
        return await model_health(
            session=session,
            workspace_id=runtime.workspace_id,
            min_outcomes=runtime.config.crm.scoring.min_outcomes,
        )


async def test_health_counts_outcomes_feedback_and_excludes_reversed(runtime: Runtime) -> None:
    """Two reactions (one taken back) and two closed deals through the real paths."""
    ana, bo = [await engaged_lead(runtime, name) for name in ("ana", "bo")]
    assert await apply_feedback(runtime, react(ana, "fire"), event_id="Ev1")
    assert await apply_feedback(runtime, react(bo, "ice_cube"), event_id="Ev2")
    assert await apply_feedback(runtime, react(bo, "-1"), event_id="Ev3")
    assert await apply_feedback(runtime, react(bo, "-1", removed=True), event_id="Ev4")
    assert await close(runtime, ana, "won") == 1
    assert await close(runtime, bo, "lost") == 1
    health = await health_of(runtime)
    assert health["model_version"] == runtime.scorer.version == 6
    assert health["outcomes"] == health["evaluated"] == 2
    assert health["low_confidence"] is True
    assert health["feedback"] == {"fire": 1, "ice_cube": 1}
    assert health["accuracy"] is not None
    assert health["auc"] in (0.0, 1.0)
    assert health["drift_count"] == 0
    assert health["drift"] == []
    assert health["last_update"] is not None


async def test_health_after_a_drifting_stream(runtime: Runtime) -> None:
    """Prequential figures over thousands of outcomes, a calibration table and the drift."""
    await simulate(runtime)
    health = await health_of(runtime)
    outcomes = DAYS * PER_DAY
    assert health["outcomes"] == health["evaluated"] == outcomes
    assert health["low_confidence"] is False
    auc, accuracy, loss = health["auc"], health["accuracy"], health["log_loss"]
    assert isinstance(auc, float)
    assert isinstance(accuracy, float)
    assert isinstance(loss, float)
    assert (auc > 0.75, accuracy > 0.65, 0.0 < loss < 0.7) == (True, True, True)
    table = health["calibration"]
    assert isinstance(table, list)
    assert len(table) == 5
    assert sum(row["count"] for row in table) == outcomes
    assert isinstance(health["drift_count"], int)
    assert health["drift_count"] >= 1
    latest = health["drift"]
    assert isinstance(latest, list)
    assert latest[0]["detail"]["changed"]


async def test_crm_model_answers_with_version_accuracy_and_drift(runtime: Runtime) -> None:
    """A signed `/crm model` answers privately with the health lines and the disclosure."""
    await simulate(runtime)
    async with FakeSlackApi() as fake:
        answer = await crm_answer(runtime, fake, "model")
        help_answer = await crm_answer(runtime, fake, "help")
    text = str(answer["text"])
    assert answer["response_type"] == "ephemeral"
    assert f"*Model* v{DAYS * PER_DAY}" in text
    assert f"*Outcomes* {DAYS * PER_DAY}" in text
    for line in ("*Accuracy* ", "*AUC* 0.", "*Drift* ", "industry=health"):
        assert line in text
    assert "*Calibration* " in text
    assert "Automated by Nudge" in str(answer["blocks"])
    assert "/crm model" in str(help_answer["text"])
