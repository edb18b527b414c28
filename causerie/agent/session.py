"""One conversation: an ``AgentSession`` with every turn setting pinned, wired to custom I/O."""

from __future__ import annotations

import sys

from livekit.agents import NOT_GIVEN, APIConnectOptions, TurnHandlingOptions
from livekit.agents.voice import AgentSession
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnDetectionMode

from ..config.loader import LoadedConfig
from ..config.spec import TurnSpec
from ..plugins.manager import PluginHost
from ..plugins.stores import PluginStores
from ..userdata import SessionData
from .faults import Faults
from .pipeline import Pipeline
from .voice_agent import AgentTools, CauserieAgent


def turn_handling(turn: TurnSpec, pipeline: Pipeline) -> TurnHandlingOptions:
    """livekit's defaults assume LiveKit Cloud (cloud turn and interruption models, 0.5 s
    endpointing); offline they cost seconds. Every field is set explicitly."""
    detection: TurnDetectionMode | None = (
        pipeline.turn_detector
        if turn.detection != "vad" and pipeline.turn_detector is not None
        else "vad"
    )
    if pipeline.vad is None:  # a text conversation (chat, scenarios): no audio to end turns
        detection = "manual"
    return {
        "turn_detection": detection,
        "endpointing": {
            "mode": "fixed",
            "min_delay": turn.min_endpointing_delay,
            "max_delay": turn.max_endpointing_delay,
        },
        "interruption": {
            "enabled": turn.interruptions,
            "mode": "vad",
            "min_duration": turn.min_interruption_duration,
            "min_words": 0,
            "discard_audio_if_uninterruptible": True,
            "resume_false_interruption": False,
            "false_interruption_timeout": None,
        },
        "preemptive_generation": {"enabled": True, "preemptive_tts": False},
    }


def build_session(
    loaded: LoadedConfig, pipeline: Pipeline, userdata: SessionData | None = None
) -> AgentSession[SessionData]:
    spec = loaded.spec
    data = userdata or SessionData(language=spec.base_language)
    # Errors are handled in CauserieAgent's nodes; the session must not close on them,
    # and offline providers gain nothing from retries.
    conn = SessionConnectOptions(
        stt_conn_options=APIConnectOptions(max_retry=1, retry_interval=0.1, timeout=10.0),
        llm_conn_options=APIConnectOptions(max_retry=0, timeout=spec.turn.max_response_time),
        # A TTS chain's adapter times each attempt with these options: the chain's timeout.
        tts_conn_options=APIConnectOptions(
            max_retry=1,
            retry_interval=0.1,
            timeout=spec.fallback.timeout if spec.tts.fallbacks else 10.0,
        ),
        # livekit relays a shared provider's errors to every session using it, and would
        # close a listening session after a few of other users' failures: no limit here.
        max_unrecoverable_errors=sys.maxsize,
    )
    # The one place a session is constructed (causerie.runtime.Conversation calls this).
    session: AgentSession[SessionData] = AgentSession(
        userdata=data,
        # A stage a runtime did not build (text chat: no speech) is not given.
        stt=NOT_GIVEN if pipeline.stt is None else pipeline.stt,
        llm=NOT_GIVEN if pipeline.llm is None else pipeline.llm,
        tts=NOT_GIVEN if pipeline.tts is None else pipeline.tts,
        vad=pipeline.vad,
        turn_handling=turn_handling(spec.turn, pipeline),
        max_tool_steps=spec.turn.max_tool_steps,
        aec_warmup_duration=None,  # no echo path here; 3 s default drops the user's words
        user_away_timeout=None,
        # livekit waits up to 2 s on close for a final transcript that a manual-flush STT with
        # nothing pending never sends; the peer is gone, 0.3 s still keeps an ending utterance.
        session_close_transcript_timeout=0.3,
        conn_options=conn,
    )
    return session


def build_agent(
    loaded: LoadedConfig,
    faults: Faults,
    tools: AgentTools | None = None,
    plugins: PluginHost | None = None,
    *,
    plugin_stores: PluginStores | None = None,
) -> CauserieAgent:
    """The agent ``loaded`` defines. ``tools``/``plugins`` default to what agent.yaml enables
    (``tools:``, ``plugins:``); pass ``[]`` for no tools. A bad catalogue, tool or plugin name
    raises :class:`~causerie.errors.ConfigError` here, before any session starts.
    ``plugin_stores``: the worker's, shared by its sessions (default: the agent's own)."""
    spec = loaded.spec
    if tools is None:
        from ..tools import build_tools

        tools = list(build_tools(loaded))
    if plugins is None:
        from ..plugins import load_plugins

        plugins = load_plugins(loaded, stores=plugin_stores)
    return CauserieAgent(
        instructions=loaded.instructions,
        language=spec.base_language,
        faults=faults,
        max_response_time=spec.turn.max_response_time,
        greeting=spec.greeting or None,
        tools=tools,
        plugins=plugins,
    )
