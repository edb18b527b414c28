"""A gateway served by uvicorn on a free loopback port, in the test's own event loop, so real
HTTP clients (httpx, openai, livekit's plugin) talk to it and its tasks can be counted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from causerie.agent.pipeline import Pipeline
from causerie.config.loader import LoadedConfig
from causerie.gateway import GatewaySettings, create_gateway_app
from causerie.providers.registry import Registry

KEY = "test-key-0123456789"

# An agent whose engines are all the gateway, through the openai provider (docs/GATEWAY.md).
AGENT_YAML = """\
name: Causerie
language: en
instructions: Answer briefly.
stt: {{provider: openai, model: pocketsphinx, base_url: "{base}"}}
llm: {{provider: openai, model: scripted, base_url: "{base}"}}
tts:
  provider: openai
  model: espeak
  voice: "{voice}"
  base_url: "{base}"
  options: {{response_format: pcm}}
vad:
  provider: silero
  options: {{min_silence_duration: 0.2}}
metrics: {{enabled: false}}
"""


@dataclass
class Running:
    app: FastAPI
    base: str
    """``http://127.0.0.1:PORT`` (clients add ``/v1``)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    def in_flight(self) -> int:
        return int(self.app.state.limiter.active("key-0"))


@asynccontextmanager
async def running_gateway(
    pipeline: Pipeline, loaded: LoadedConfig, registry: Registry, **settings: Any
) -> AsyncIterator[Running]:
    conf = GatewaySettings(**{"api_keys": [KEY], **settings})
    app = create_gateway_app(conf, loaded=loaded, registry=registry, pipeline=pipeline)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="test-gateway")
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield Running(app=app, base=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
        sock.close()
