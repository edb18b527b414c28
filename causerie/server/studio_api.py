"""What the studio page needs beside the definitions: the page itself, the catalogue of
providers (ready / missing extra / missing key; never a key's value), tools and plugins,
and a voice preview (a sample sentence spoken by a chosen TTS and voice, as WAV)."""

from __future__ import annotations

import io
from pathlib import Path as FilePath
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field, SecretStr

from .api_docs import content, errors
from .security import AdminAuth

STUDIO_PAGE = FilePath(__file__).resolve().parent.parent / "web" / "studio" / "index.html"
SAMPLES = {
    "en": "Hello! This is how I will sound when I answer your customers.",
    "fr": "Bonjour ! Voici ma voix quand je réponds à vos clients.",
}


class ProviderEntry(BaseModel):
    name: str
    description: str
    status: str
    """ready | missing_extra | missing_key"""
    install: str | None = None
    """The pip command, when an extra is missing."""
    key_variable: str | None = None
    """The variable to set, when a key is missing (never its value)."""
    offline: bool
    models: list[str]
    voices: list[str]


class Toggle(BaseModel):
    name: str
    description: str


class Catalogue(BaseModel):
    providers: dict[str, list[ProviderEntry]]
    tools: list[Toggle]
    plugins: list[Toggle]


class Preview(BaseModel):
    provider: str = Field(min_length=1, max_length=64)
    voice: str | None = Field(default=None, max_length=120)
    model: str | None = Field(default=None, max_length=120)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    text: str | None = Field(default=None, max_length=300)


def catalogue(registry: Any, env: dict[str, str]) -> Catalogue:
    from ..plugins.manager import available_plugins
    from ..tools.registry import TOOL_GROUPS

    providers: dict[str, list[ProviderEntry]] = {k: [] for k in ("stt", "llm", "tts", "vad")}
    for info in registry.all():
        status = info.status(env)
        providers[info.kind].append(
            ProviderEntry(
                name=info.name,
                description=info.description,
                status=status,
                install=f"pip install 'causerie[{info.extra or info.name}]'"
                if status == "missing_extra"
                else None,
                key_variable=info.key_requirement() if status == "missing_key" else None,
                offline=info.offline,
                models=list(info.models),
                voices=list(info.voices),
            )
        )
    tools = [Toggle(name=g, description=", ".join(ts)) for g, ts in TOOL_GROUPS.items()]
    plugins = [Toggle(name=n, description=p.description()) for n, p in available_plugins().items()]
    return Catalogue(providers=providers, tools=tools, plugins=plugins)


async def speak(registry: Any, env: dict[str, str], base_dir: FilePath, p: Preview) -> bytes:
    """The sample sentence as a 16-bit mono WAV, spoken by a TTS built for this request."""
    import numpy as np
    import soundfile as sf

    from ..config.spec import ProviderSpec
    from ..providers.info import BuildContext

    spec = ProviderSpec(provider=p.provider, voice=p.voice or None, model=p.model or None)
    ctx = BuildContext(language=p.language, env=env, base_dir=base_dir)
    tts = registry.build("tts", spec, ctx)
    text = p.text or SAMPLES.get(p.language[:2], SAMPLES["en"])
    chunks: list[Any] = []
    rate = 16000
    try:
        async with tts.synthesize(text) as stream:
            async for ev in stream:
                rate = ev.frame.sample_rate
                pcm = np.frombuffer(ev.frame.data, dtype=np.int16)
                chunks.append(pcm.reshape(-1, ev.frame.num_channels)[:, 0])
    finally:
        close = getattr(tts, "aclose", None)
        if close is not None:
            await close()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def studio_router(admin_token: SecretStr | None) -> APIRouter:
    public = APIRouter()
    private = APIRouter(dependencies=[Depends(AdminAuth(admin_token))])

    @public.get("/studio", include_in_schema=False)
    async def studio_page() -> Response:
        return FileResponse(STUDIO_PAGE, headers={"Cache-Control": "no-cache"})

    @private.get("/api/providers", response_model=Catalogue, responses=errors(401))
    async def providers(request: Request) -> Catalogue:
        """Providers by kind with their status, models and voices; tools and plugins."""
        r = request.app.state.agents
        return catalogue(r.registry, r.get(None).loaded.env)

    @private.post(
        "/api/voice-preview",
        responses={200: content("audio/wav"), **errors(400, 401, 422, 503)},
    )
    async def voice_preview(request: Request, body: Preview) -> Response:
        """Speak a sample sentence (or ``text``) with this TTS and voice; returns WAV."""
        from ..errors import CauserieError

        r = request.app.state.agents
        d = r.get(None)
        if body.provider not in r.registry.names("tts"):
            allowed = ", ".join(r.registry.names("tts"))
            return JSONResponse(
                {
                    "error": "invalid",
                    "message": f"provider: unknown TTS {body.provider!r}; allowed: {allowed}",
                    "fields": {"tts.provider": f"unknown TTS; allowed: {allowed}"},
                },
                status_code=422,
            )
        try:
            wav = await speak(r.registry, d.loaded.env, d.path.parent, body)
        except (CauserieError, ValueError, RuntimeError) as e:
            return JSONResponse({"error": "tts_failed", "message": str(e)}, status_code=503)
        return Response(wav, media_type="audio/wav")

    router = APIRouter()
    router.include_router(public)
    router.include_router(private)
    return router
