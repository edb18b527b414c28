"""Transports move audio and events between a peer and an AgentSession.

The agent never knows which transport it runs on: each transport feeds a
:class:`~causerie.transports.audio_io.QueueAudioInput` and drains a
:class:`~causerie.transports.audio_io.PacedAudioOutput`.
"""
