"""``causerie talk``: a WAV in, the agent's spoken replies out, with measured latency."""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import click

from .common import CliState, parse_sets, set_option, wav_input_option, wav_output_option


@click.command("talk")
@wav_input_option("WAV with the user's speech (any rate, mono or stereo).")
@wav_output_option
@click.option(
    "--fast",
    is_flag=True,
    help="Skip silent gaps once the agent has answered (speech stays real time).",
)
@set_option
@click.pass_obj
def talk(
    state: CliState, input_path: Path, output_path: Path, fast: bool, sets: tuple[str, ...]
) -> None:
    """Talk to the agent with a WAV file, as if through a microphone."""
    from ..audio.wav import read_wav, write_wav
    from ..transports.file import IN_RATE

    loaded, registry = state.load(parse_sets(sets))
    pcm = read_wav(input_path, IN_RATE)
    click.echo(f"input: {input_path} ({pcm.duration:.1f} s){' [fast]' if fast else ''}", err=True)
    result = asyncio.run(_run(loaded, registry, pcm, fast))
    assert result.output is not None
    write_wav(output_path, result.output)
    lat = result.latencies
    if not result.turns:
        click.echo("no speech was understood in the input: no turn", err=True)
    elif lat:
        med = statistics.median(lat) * 1000
        click.echo(
            f"{len(result.turns)} turn(s); voice-to-voice median {med:.0f} ms "
            f"(min {min(lat) * 1000:.0f}, max {max(lat) * 1000:.0f})",
            err=True,
        )
    click.echo(f"agent audio written to {output_path}", err=True)


async def _run(loaded, registry, pcm, fast):
    from ..runtime import Conversation, Runtime
    from ..transports.file import talk_conversation

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    runtime = await Runtime.build(loaded, registry, progress=progress)
    store = collector = None
    try:
        conversation = Conversation(runtime, transport="cli")
        if loaded.spec.metrics.enabled:
            store, collector = _recorder(loaded, runtime.pipeline, conversation)
        return await talk_conversation(
            conversation, pcm, fast=fast, printer=click.echo, collector=collector
        )
    finally:
        await runtime.aclose()
        if store is not None and collector is not None:
            await store.aclose(timeout=5.0)
            lost = f", {store.dropped} record(s) lost" if store.dropped else ""
            sid = collector.session_id
            click.echo(
                f"session {sid} recorded{lost} in {loaded.spec.metrics.store_url} "
                f"(causerie sessions show {sid})",
                err=True,
            )


def _recorder(loaded, pipeline, conversation):
    """The store and collector that record this run (metrics.enabled in the agent file)."""
    from ..metrics.collector import SessionCollector
    from ..store import BufferedStore, open_store

    m = loaded.spec.metrics
    store = BufferedStore(open_store(m.store_url, transcripts=m.transcripts))
    collector = SessionCollector(
        store,
        session_id=conversation.session_id,
        transport="cli",
        agent_name=loaded.spec.name,
        providers=pipeline.describe(),
    )
    conversation.faults.observers.append(collector.on_fault)
    return store, collector


def register(cli: click.Group) -> None:
    cli.add_command(talk)
