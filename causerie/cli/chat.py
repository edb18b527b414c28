"""``causerie chat``: the same agent as a text conversation on stdin/stdout."""

from __future__ import annotations

import asyncio
import sys

import click

from .common import CliState, parse_sets, set_option


@click.command("chat")
@set_option
@click.pass_obj
def chat(state: CliState, sets: tuple[str, ...]) -> None:
    """Chat with the agent in text. One line per message; Ctrl-D or 'quit' ends."""
    loaded, registry = state.load(parse_sets(sets))
    asyncio.run(_chat(loaded, registry, interactive=sys.stdin.isatty()))


async def _chat(loaded, registry, interactive: bool) -> None:
    from livekit.agents.voice.run_result import RunResult

    from ..runtime import Conversation, Runtime

    spec = loaded.spec
    runtime = await Runtime.build(loaded, registry, stages=("llm",))  # text: no speech models
    conversation = Conversation(runtime, transport="cli", greeting=False)  # said below, in text
    session = conversation.session
    await conversation.start()
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
        await conversation.aclose()
        await runtime.aclose()


def register(cli: click.Group) -> None:
    cli.add_command(chat)
