"""aiortc / aioice internals Causerie relies on; each has a test in tests/unit/test_compat.py."""

from __future__ import annotations

from typing import Any

from . import warn_broken

LOOPBACK = "127.0.0.1"
_PATCHED = "_causerie_loopback"  # marks our wrapper, so a second call does nothing
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"


def allow_loopback_candidates() -> bool:
    """Make aioice offer 127.0.0.1 as a host candidate, process-wide. Returns True when this
    call patched it, False when it already was.

    aioice never offers loopback, and has no option for it; on a machine whose only route
    to the browser is loopback (tests, a laptop offline) ICE fails without it. Harmless
    elsewhere: a remote peer cannot reach it and ICE picks another pair. Applied once, at
    server startup (``causerie.server.app.create_app``); idempotent.
    """
    import aioice.ice as ice

    original = getattr(ice, "get_host_addresses", None)
    if original is None:
        warn_broken("allow_loopback_candidates", "aioice", "no aioice.ice.get_host_addresses")
        return False
    if getattr(original, _PATCHED, False):
        return False

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(original(use_ipv4, use_ipv6))
        if use_ipv4 and LOOPBACK not in addresses:
            addresses.append(LOOPBACK)
        return addresses

    setattr(with_loopback, _PATCHED, True)
    ice.get_host_addresses = with_loopback
    return True


def loopback_allowed() -> bool:
    import aioice.ice as ice

    return bool(getattr(getattr(ice, "get_host_addresses", None), _PATCHED, False))


def replace_jitter_buffer(receiver: Any, buffer: Any) -> bool:
    """Put ``buffer`` (a ``JitterBuffer`` subclass) in place of an audio receiver's own;
    False (aiortc's stays) if this aiortc keeps it elsewhere.

    aiortc builds the buffer in ``RTCRtpReceiver.__init__`` (capacity 16, prefetch 4: 80 ms
    held before the first packet is decoded) and offers no option for it; the attribute is
    name-mangled.
    """
    from aiortc.jitterbuffer import JitterBuffer

    if not isinstance(getattr(receiver, _JITTER_BUFFER, None), JitterBuffer):
        warn_broken("replace_jitter_buffer", "aiortc", f"RTCRtpReceiver has no {_JITTER_BUFFER}")
        return False
    setattr(receiver, _JITTER_BUFFER, buffer)
    return True
