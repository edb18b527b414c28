"""``/api/agents``: the studio's API. The agents' definitions (the files), checked by the
same typed spec as the CLI, saved by the round-trip editor, with a version history in the
store and optimistic concurrency (an edit names the version it started from).

Every route but the list of agents needs the admin token (when one is set).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from ..agents.editing import InvalidDefinition, apply_changes, diff, needs_restart, validate
from ..agents.folder import version_of
from ..agents.runtimes import AgentRuntimes, Definition, StageFailed
from ..config.edit import _atomic_write
from ..config.loader import LoadedConfig
from ..errors import ConfigError
from ..store.base import AgentVersion
from ..store.interfaces import AgentHistory
from .api_docs import errors
from .security import AdminAuth

Key = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="the agent's key")]


class AgentSummary(BaseModel):
    key: str
    name: str
    language: str
    default: bool


class AgentDoc(BaseModel):
    key: str
    name: str
    path: str
    version: str
    """Send it back with an edit: a stale one is refused (409)."""
    text: str
    """The file as it is on disk, comments included."""
    spec: dict[str, Any]
    """The validated fields, defaults filled in."""
    instructions: str
    """The instructions as the agent gets them (from ``instructions_file`` when set)."""
    restart: list[str]
    error: str | None = None
    """Why the file on disk does not load; new conversations use the last good version."""


class Edit(BaseModel):
    base_version: str = Field(min_length=1, description="the version the edit started from")
    changes: dict[str, Any] | None = Field(
        default=None, description="dotted field -> value (null removes it), e.g. greeting"
    )
    text: str | None = Field(default=None, description="the whole file instead of changes")
    author: str = Field(default="studio", max_length=80)


class Restore(BaseModel):
    base_version: str = Field(min_length=1)
    author: str = Field(default="studio", max_length=80)


class Saved(BaseModel):
    version: str
    number: int
    """Its number in the history."""
    restart: list[str]
    """Why the definition cannot run in this process yet; empty when it can."""
    message: str


class Checked(BaseModel):
    ok: bool
    restart: list[str]


class VersionInfo(BaseModel):
    number: int
    at: float
    author: str
    diff: str
    note: str


class VersionDoc(VersionInfo):
    text: str


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _invalid(e: InvalidDefinition) -> JSONResponse:
    return _error(422, "invalid", str(e), fields=e.fields)


def _stage_field(spec: Any, e: StageFailed) -> str:
    """The field a stage's build error points at: its voice or model when it names it."""
    first = spec.chain(e.kind)[0]
    message = str(e.error).lower()
    for attr in ("voice", "model"):
        if getattr(first, attr, None) and attr in message:
            return f"{e.kind}.{attr}"
    return f"{e.kind}.provider"


def _instructions(d: Definition) -> str:
    try:
        return d.loaded.instructions or ""
    except (OSError, ConfigError):
        return ""


def agents_router(store: AgentHistory, admin_token: SecretStr | None) -> APIRouter:
    """The routes; the runtimes come from ``app.state.agents`` (set at startup)."""
    public = APIRouter()
    private = APIRouter(dependencies=[Depends(AdminAuth(admin_token))])
    saving = asyncio.Lock()  # one save at a time in this process: check-then-write is atomic

    def runtimes(request: Request) -> AgentRuntimes:
        r: AgentRuntimes = request.app.state.agents
        r.refresh()
        return r

    def find(request: Request, key: str) -> Definition | JSONResponse:
        r = runtimes(request)
        if key not in r:
            return _error(404, "unknown_agent", f"no agent {key!r}; agents: {', '.join(r.keys())}")
        return r.get(key)

    async def find_version(
        request: Request, key: str, number: int
    ) -> tuple[Definition, AgentVersion] | JSONResponse:
        d = find(request, key)
        if isinstance(d, JSONResponse):
            return d
        v = await store.get_agent_version(key, number)
        if v is None:
            return _error(404, "unknown_version", f"{key} has no version {number}")
        return d, v

    @public.get("/api/agents", response_model=list[AgentSummary])
    async def list_agents(request: Request) -> list[AgentSummary]:
        """Keys, names and languages: the talk page's agent selector."""
        r = runtimes(request)
        return [
            AgentSummary(
                key=k,
                name=r.get(k).loaded.spec.name,
                language=r.get(k).loaded.spec.language,
                default=k == r.default,
            )
            for k in r.keys()
        ]

    @private.get("/api/agents/{key}", response_model=AgentDoc, responses=errors(401, 404))
    async def get_agent(request: Request, key: Key) -> Any:
        d = find(request, key)
        if isinstance(d, JSONResponse):
            return d
        d = request.app.state.agents.current(key)  # a hand edit since: shown now
        text = d.path.read_text(encoding="utf-8") if d.path.exists() else ""
        spec = d.loaded.spec
        return AgentDoc(
            key=key,
            name=spec.name,
            path=str(d.path),
            version=version_of(text),
            text=text,
            spec=spec.model_dump(mode="json", exclude={"api_tools"}),
            instructions=_instructions(d),
            error=d.error,
            restart=needs_restart(spec, request.app.state.agents.registry, d.loaded.env),
        )

    def _new_text(d: Definition, edit: Edit) -> str:
        current = d.path.read_text(encoding="utf-8")
        if edit.text is not None:
            return edit.text
        return apply_changes(current, edit.changes or {})

    @private.post(
        "/api/agents/{key}/validate", response_model=Checked, responses=errors(400, 401, 404, 422)
    )
    async def check_agent(request: Request, key: Key, edit: Edit) -> Any:
        """Check an edit without saving it: 422 with ``fields`` (field -> why) if invalid."""
        d = find(request, key)
        if isinstance(d, JSONResponse):
            return d
        registry = request.app.state.agents.registry
        try:
            spec = validate(_new_text(d, edit), registry, d.path.parent, d.loaded.env)
        except InvalidDefinition as e:
            return _invalid(e)
        except ConfigError as e:
            return _error(422, "invalid", str(e), fields={})
        return Checked(ok=True, restart=needs_restart(spec, registry, d.loaded.env))

    async def save(
        request: Request, d: Definition, base: str, new: str | None, edit: Edit | None, note: str
    ) -> Any:
        r: AgentRuntimes = request.app.state.agents
        async with saving:
            current = d.path.read_text(encoding="utf-8")
            if version_of(current) != base:
                last = await store.agent_versions(d.key, limit=1)
                by = f" (last saved by {last[0].author})" if last else ""
                return _error(
                    409,
                    "conflict",
                    f"{d.key} changed since you opened it{by}; your edit was not saved. "
                    "Reload to see the current definition, then make your change again.",
                    version=version_of(current),
                )
            try:
                text = new if new is not None else _new_text(d, edit) if edit else current
                spec = validate(text, r.registry, d.path.parent, d.loaded.env)
            except InvalidDefinition as e:
                return _invalid(e)
            restart = needs_restart(spec, r.registry, d.loaded.env)
            if not restart:
                # Build what is new now: a voice or model the provider refuses is an error at
                # its field, and the next conversation finds the models loaded.
                trial = LoadedConfig(spec=spec, path=d.path, env=d.loaded.env)
                try:
                    await r.pipeline(trial)
                except StageFailed as e:
                    return _invalid(InvalidDefinition({_stage_field(spec, e): str(e.error)}))
            author = edit.author if edit else "studio"
            if not await store.agent_versions(d.key, limit=1):
                # The file as found, so the first save can be undone.
                await store.add_agent_version(
                    AgentVersion(d.key, 0, time.time(), "file", current, "", "as found")
                )
            _atomic_write(d.path, text)
            saved = await store.add_agent_version(
                AgentVersion(d.key, 0, time.time(), author, text, diff(current, text, d.key), note)
            )
            try:
                r.reload(d.key)
                applied = "new conversations use it now; those under way keep theirs"
            except ConfigError as e:  # e.g. an environment override now out of range
                applied = f"saved, but not applied: {e}"
        return Saved(
            version=version_of(text), number=saved.number, restart=restart, message=applied
        )

    @private.put(
        "/api/agents/{key}", response_model=Saved, responses=errors(400, 401, 404, 409, 422)
    )
    async def save_agent(request: Request, key: Key, edit: Edit) -> Any:
        """Save an edit (``changes`` or the whole ``text``) made from ``base_version``."""
        d = find(request, key)
        if isinstance(d, JSONResponse):
            return d
        return await save(request, d, edit.base_version, None, edit, "")

    @private.get(
        "/api/agents/{key}/history",
        response_model=list[VersionInfo],
        responses=errors(401, 404),
    )
    async def history(request: Request, key: Key) -> Any:
        d = find(request, key)
        if isinstance(d, JSONResponse):
            return d
        return [
            VersionInfo(number=v.number, at=v.at, author=v.author, diff=v.diff, note=v.note)
            for v in await store.agent_versions(key)
        ]

    @private.get(
        "/api/agents/{key}/history/{number}",
        response_model=VersionDoc,
        responses=errors(401, 404),
    )
    async def version(request: Request, key: Key, number: int) -> Any:
        found = await find_version(request, key, number)
        if isinstance(found, JSONResponse):
            return found
        return VersionDoc(**found[1].to_dict())

    @private.post(
        "/api/agents/{key}/history/{number}/restore",
        response_model=Saved,
        responses=errors(400, 401, 404, 409, 422),
    )
    async def restore(request: Request, key: Key, number: int, body: Restore) -> Any:
        """Make version ``number`` the current definition (a new version, history kept)."""
        found = await find_version(request, key, number)
        if isinstance(found, JSONResponse):
            return found
        d, v = found
        edit = Edit(base_version=body.base_version, text=v.text, author=body.author)
        return await save(request, d, body.base_version, v.text, edit, f"restore of {number}")

    router = APIRouter()
    router.include_router(public)
    router.include_router(private)
    return router
