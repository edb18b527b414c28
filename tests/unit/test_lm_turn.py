"""turn.detection: lm — the end of a turn judged by pocketsphinx's shipped English n-gram model."""

from __future__ import annotations

import pytest
from livekit.agents.llm import ChatContext

from causerie.agent.lm_turn import LmTurnDetector
from causerie.agent.pipeline import Pipeline, build_turn_detector
from causerie.agent.session import turn_handling
from causerie.config.loader import load_config
from causerie.config.spec import AgentSpec, TurnSpec
from causerie.errors import ConfigError

THRESHOLD = TurnSpec().lm_threshold


@pytest.fixture(scope="module")
def detector() -> LmTurnDetector:
    return LmTurnDetector.load(THRESHOLD)


@pytest.mark.parametrize(
    "unfinished", ["I would like", "can you tell me", "show me", "I think", "how much"]
)
def test_a_sentence_that_stops_midway_is_unlikely_to_end(
    detector: LmTurnDetector, unfinished: str
) -> None:
    assert detector.end_probability(unfinished) < THRESHOLD


@pytest.mark.parametrize(
    "finished",
    [
        "I would like two jars of acacia honey",
        "tell me about the cheese from the mountains",
        "what is the price of the red wine",
        "tell me what you can do",
        "no thanks",
        "I will take the comté",  # a word the model lacks at the end: not held back
    ],
)
def test_a_finished_sentence_is_likely_to_end(detector: LmTurnDetector, finished: str) -> None:
    assert detector.end_probability(finished) > THRESHOLD


def test_nothing_heard_is_not_waited_for(detector: LmTurnDetector) -> None:
    assert detector.end_probability("") == 1.0
    assert detector.end_probability("  ... ") == 1.0


async def test_reads_the_last_user_message(detector: LmTurnDetector) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(role="user", content="two jars of acacia honey")
    ctx.add_message(role="assistant", content="Anything else?")
    ctx.add_message(role="user", content="I would like")
    assert await detector.predict_end_of_turn(ctx) == detector.end_probability("I would like")
    assert await detector.predict_end_of_turn(ChatContext.empty()) == 1.0
    assert await detector.unlikely_threshold("en") == THRESHOLD
    assert await detector.supports_language("en-US") and await detector.supports_language(None)
    assert not await detector.supports_language("fr")


def test_the_session_uses_it_for_detection_lm(detector: LmTurnDetector) -> None:
    turn = TurnSpec(detection="lm", max_endpointing_delay=0.6)
    built = build_turn_detector(turn)
    assert isinstance(built, LmTurnDetector)
    pipeline = Pipeline(stt=None, llm=None, tts=None, vad=object(), turn_detector=built)  # type: ignore[arg-type]
    options = turn_handling(turn, pipeline)
    assert options["turn_detection"] is built
    assert options["endpointing"]["max_delay"] == 0.6
    assert build_turn_detector(TurnSpec()) is None  # vad: no model loaded


def test_config_names_the_field_and_the_choices() -> None:
    def load(**overrides: object) -> AgentSpec:
        return load_config(None, environ={}, dotenv=None, overrides=overrides).spec

    assert load(**{"turn.detection": "lm"}).turn.detection == "lm"
    with pytest.raises(ConfigError, match=r"turn.lm_threshold"):
        load(**{"turn.detection": "lm", "turn.lm_threshold": 1.5})
    with pytest.raises(ConfigError, match=r"turn.detection.*'vad', 'lm' or 'turn_model'"):
        load(**{"turn.detection": "words"})
