"""``causerie chat``: the same agent as a text conversation on stdin/stdout."""

from __future__ import annotations

import asyncio
import sys

import click

from .main import CliState, parse_sets, set_option


@click.command("chat")
@set_option
@click.pass_obj
def chat(state: CliState, sets: tuple[str, ...]) -> None:
    """Chat with the agent in text. One line per message; Ctrl-D or 'quit' ends."""
    loaded, registry = state.load(parse_sets(sets))
    asyncio.run(_chat(loaded, registry, interactive=sys.stdin.isatty()))


async def _chat(loaded, registry, interactive: bool) -> None:  # type: ignore[no-untyped-def]
    from livekit.agents.voice import AgentSession
    from livekit.agents.voice.run_result import RunResult

    from ..agent.faults import Faults
    from ..agent.session import build_agent
    from ..config.spec import ProviderSpec
    from ..providers.registry import BuildContext

    spec = loaded.spec
    llm_spec: ProviderSpec = spec.llm
    if llm_spec.provider == "scripted" and "agent_name" not in llm_spec.options:
        llm_spec = llm_spec.model_copy(
            update={"options": {**llm_spec.options, "agent_name": spec.name}}
        )
    llm = registry.build(
        "llm",
        llm_spec,
        BuildContext(language=spec.language, env=loaded.env, base_dir=loaded.base_dir),
    )
    session: AgentSession = AgentSession(llm=llm, max_tool_steps=spec.turn.max_tool_steps)
    agent = build_agent(loaded, Faults())
    agent.greeting = None  # said below, in text
    await session.start(agent)
    try:
        if spec.greeting:
            click.echo(f"agent: {spec.greeting}")
        while True:
            if interactive:
                click.echo("you: ", nl=False)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in ("quit", "exit", "/quit"):
                break
            result: RunResult[None] = await session.run(user_input=text)
            for ev in result.events:
                if ev.type == "message" and ev.item.role == "assistant":
                    click.echo(f"agent: {ev.item.text_content}")
    finally:
        await session.aclose()


def register(cli: click.Group) -> None:
    cli.add_command(chat)
