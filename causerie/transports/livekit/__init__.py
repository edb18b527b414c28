"""LiveKit mode: the same agent, dispatched by a LiveKit server (scale-out).

- :mod:`.settings`      ``LIVEKIT_*``, ``CAUSERIE_WORKER_*`` settings (secrets: ``SecretStr``)
- :mod:`.tokens`        access tokens: users (``/token``, ``call``) and the agent (``join``)
- :mod:`.room_session`  one conversation in a room; shared by the worker and ``causerie join``
- :mod:`.data`          the event schema over data messages (to clients) and RPC (from them)
- :mod:`.worker`        ``causerie worker``: an ``AgentServer``, models loaded in prewarm
- :mod:`.bridge`        ``causerie join``: dispatch to a running worker, or join directly
- :mod:`.caller`        ``causerie call``: a WAV in as a microphone, transcripts and the reply out

Nothing here is imported by the package itself: ``livekit.agents`` costs ~1 s to import.
"""
