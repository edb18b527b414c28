"""In-process libespeak-ng (from the ``espeakng-loader`` wheel) through ctypes.

libespeak-ng keeps global state, so one process has one engine and every synthesis runs
under a lock. Synthesis is synchronous and calls back with chunks of 16-bit mono PCM as they
are made, which is what lets the TTS stream start speaking after ~10 ms.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    name: str
    languages: tuple[str, ...]
    identifier: str


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakEngine:
    """The process-wide engine. Use :func:`get_engine`."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self._lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        self._lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate})")
        self.sample_rate: int = rate
        self._lock = threading.Lock()
        self._on_chunk: Callable[[np.ndarray], bool] | None = None
        # Keep a reference: ctypes frees the thunk when the object dies.
        self._cb = _CALLBACK(self._callback)
        self._lib.espeak_SetSynthCallback(self._cb)
        self._voices: list[Voice] | None = None

    def _callback(self, wav: ctypes._Pointer, numsamples: int, _events: int) -> int:  # type: ignore[type-arg]
        if numsamples > 0 and wav and self._on_chunk is not None:
            pcm = np.ctypeslib.as_array(wav, shape=(numsamples,)).copy()
            if self._on_chunk(pcm) is False:
                return 1  # abort synthesis
        return 0

    def voices(self) -> list[Voice]:
        if self._voices is None:
            with self._lock:
                arr = self._lib.espeak_ListVoices(None)
                out: list[Voice] = []
                i = 0
                while arr[i]:
                    v = arr[i].contents
                    langs = v.languages or b""
                    # languages is a list of (priority byte, name\0) ending with \0
                    names = tuple(
                        s.decode("utf-8", "replace") for s in [langs[1:]] if s
                    )
                    out.append(
                        Voice(
                            name=(v.name or b"").decode("utf-8", "replace"),
                            languages=names,
                            identifier=(v.identifier or b"").decode("utf-8", "replace"),
                        )
                    )
                    i += 1
                self._voices = out
        return self._voices

    def synthesize(
        self,
        text: str,
        on_chunk: Callable[[np.ndarray], bool | None],
        *,
        voice: str = "en",
        rate: int = 175,
        pitch: int = 50,
        volume: int = 100,
    ) -> None:
        """Speak ``text``; ``on_chunk`` gets int16 PCM at :attr:`sample_rate` and may return
        False to stop. Blocks until done: call it from a worker thread."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"unknown espeak voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._lib.espeak_SetParameter(_PARAM_VOLUME, int(volume), 0)
            self._on_chunk = on_chunk  # type: ignore[assignment]
            try:
                err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                self._on_chunk = None
            if err != 0:
                raise EspeakError(f"espeak_Synth failed ({err})")

    def synthesize_pcm(self, text: str, **kwargs: object) -> np.ndarray:
        chunks: list[np.ndarray] = []
        self.synthesize(text, chunks.append, **kwargs)  # type: ignore[arg-type]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_engine: EspeakEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> EspeakEngine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = EspeakEngine()
        return _engine
