"""User-facing errors. Each carries a message a person can act on; the CLI prints it
without a traceback and exits with ``exit_code``."""

from __future__ import annotations


class CauserieError(Exception):
    """Base class for errors whose message is meant for the user."""

    exit_code = 1


class ConfigError(CauserieError):
    """The agent definition (agent.yaml, .env, environment) is invalid."""

    exit_code = 2


class ProviderError(CauserieError):
    """A provider cannot be built: unknown name, missing extra, missing key."""

    exit_code = 2


class UnknownProviderError(ProviderError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        hint = (
            f" (any livekit plugin works once installed: pip install livekit-plugins-{name})"
            if kind in ("stt", "llm", "tts")
            else ""
        )
        super().__init__(
            f"unknown {kind} provider {name!r}; "
            f"known {kind} providers: {', '.join(known) or '(none)'}{hint}"
        )


class MissingExtraError(ProviderError):
    """``extra``: the causerie extra that installs ``module``; None for a main dependency
    (then ``package``, or the module's name, is what to reinstall)."""

    def __init__(
        self, kind: str, name: str, extra: str | None, module: str, package: str | None = None
    ) -> None:
        self.install_command = (
            f"pip install 'causerie[{extra}]'"
            if extra
            else f"pip install {package or module.split('.')[0].replace('_', '-')}"
        )
        super().__init__(
            f"{kind} provider {name!r} needs the optional package {module!r}; "
            f"install it with: {self.install_command}"
        )


class MissingKeyError(ProviderError):
    def __init__(
        self,
        kind: str,
        name: str,
        env_vars: tuple[str, ...],
        requirement: str | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        self.env_vars = env_vars
        instead = "".join(f"{kind}.options.{o}, or " for o in options)
        super().__init__(
            f"{kind} provider {name!r} needs an API key: "
            f"set {requirement or ' or '.join(env_vars)} "
            f"(in the environment or .env), or {instead}{kind}.api_key in agent.yaml"
        )


class AudioFileError(CauserieError):
    """A WAV file cannot be read or converted."""

    exit_code = 2
