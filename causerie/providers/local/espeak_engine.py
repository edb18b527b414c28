"""In-process libespeak-ng (from the ``espeakng-loader`` wheel) through ctypes.

libespeak-ng keeps global state, so one process has one engine and every synthesis runs
under a lock. Synthesis is synchronous and calls back with chunks of 16-bit mono PCM as they
are made, which is what lets the TTS stream start speaking after ~10 ms.
"""

from __future__ import annotations

import ctypes
import os
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
# espeak_Initialize seeds its random noise from the clock (srand(time)); a fixed seed before
# each synthesis makes the same text sound the same in every process (tests, benches).
_RAND_SEED = 1

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    name: str
    languages: tuple[str, ...]
    """Lower-case language codes this voice speaks, e.g. ('en-gb', 'en')."""
    identifier: str
    """Path under espeak-ng-data/voices, e.g. 'gmw/en-US'; what SetVoiceByName accepts."""
    priorities: tuple[int, ...] = ()
    """One per language; lower means a better match for that language."""
    gender: int = 0

    def priority(self, language: str) -> int | None:
        for lang, prio in zip(self.languages, self.priorities, strict=False):
            if lang == language:
                return prio
        return None


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        # Not c_char_p: the field holds several NUL-separated entries (see _parse_languages).
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _parse_languages(ptr: int | None) -> list[tuple[int, str]]:
    """espeak_VOICE.languages: repeated (priority byte, name, NUL), ended by a 0 priority."""
    out: list[tuple[int, str]] = []
    while ptr:
        prio = ctypes.string_at(ptr, 1)[0]
        if prio == 0:
            break
        name = ctypes.string_at(ptr + 1)
        out.append((prio, name.decode("utf-8", "replace").lower()))
        ptr += len(name) + 2
    return out


class EspeakEngine:
    """The process-wide engine. Use :func:`get_engine`."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        # Absent before espeak-ng 1.52: the noise then stays seeded by the clock.
        self._seed = getattr(self._lib, "espeak_ng_SetRandSeed", None)
        if self._seed is not None:
            self._seed.argtypes = [ctypes.c_long]
        self._lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        self._lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        self.data_path: str = espeakng_loader.get_data_path()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate})")
        self.sample_rate: int = rate
        self._lock = threading.Lock()
        self._on_chunk: Callable[[np.ndarray], bool | None] | None = None
        self._cb_error: BaseException | None = None
        # Keep a reference: ctypes frees the thunk when the object dies.
        self._cb = _CALLBACK(self._callback)
        self._lib.espeak_SetSynthCallback(self._cb)
        self._voices: list[Voice] | None = None
        self._variants: list[str] | None = None
        self._resolved: dict[str, str] = {}

    def _callback(self, wav: ctypes._Pointer, numsamples: int, _events: int) -> int:
        if numsamples > 0 and wav and self._on_chunk is not None:
            pcm = np.ctypeslib.as_array(wav, shape=(numsamples,)).copy()
            try:
                keep_going = self._on_chunk(pcm)
            except BaseException as e:
                # ctypes would print and drop it; abort and re-raise in synthesize() instead.
                self._cb_error = e
                return 1
            if keep_going is False:
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
                    langs = _parse_languages(v.languages)
                    out.append(
                        Voice(
                            name=(v.name or b"").decode("utf-8", "replace"),
                            languages=tuple(name for _, name in langs),
                            identifier=(v.identifier or b"").decode("utf-8", "replace"),
                            priorities=tuple(prio for prio, _ in langs),
                            gender=v.gender,
                        )
                    )
                    i += 1
                self._voices = out
        return self._voices

    def variants(self) -> list[str]:
        """Voice variants, used as ``<voice>+<variant>`` (e.g. 'en-us+f3')."""
        if self._variants is None:
            folder = os.path.join(self.data_path, "voices", "!v")
            try:
                self._variants = sorted(os.listdir(folder), key=str.lower)
            except OSError:
                self._variants = []
        return self._variants

    def find_voice(self, name: str) -> Voice | None:
        """A voice by language code ('en-us', 'fr': the best-priority voice for it),
        identifier ('gmw/en-US' or 'en-US') or display name ('French (France)')."""
        key = name.strip().lower()
        if not key:
            return None
        voices = self.voices()
        by_lang = [(v.priority(key), i, v) for i, v in enumerate(voices) if key in v.languages]
        if by_lang:
            return min(by_lang, key=lambda t: (t[0] or 0, t[1]))[2]
        for v in voices:
            ident = v.identifier.lower()
            if key in (ident, ident.rsplit("/", 1)[-1], v.name.lower()):
                return v
        return None

    def resolve_voice(self, name: str) -> str | None:
        """What espeak_SetVoiceByName needs for ``voice[+variant]``, or None if either part is
        unknown (espeak itself silently ignores an unknown variant)."""
        base, plus, variant = name.partition("+")
        voice = self.find_voice(base)
        if voice is None:
            return None
        if not plus:
            return voice.identifier
        match = {v.lower(): v for v in self.variants()}.get(variant.strip().lower())
        return f"{voice.identifier}+{match}" if match else None

    def synthesize(
        self,
        text: str,
        on_chunk: Callable[[np.ndarray], bool | None],
        *,
        voice: str = "en",
        rate: int = 175,
        pitch: int = 50,
        volume: int = 100,
    ) -> bool:
        """Speak ``text``; ``on_chunk`` gets int16 PCM at :attr:`sample_rate` and may return
        False to stop. Blocks until done: call it from a worker thread. Returns False when
        ``on_chunk`` stopped it. An exception raised by ``on_chunk`` aborts and propagates."""
        data = text.encode("utf-8") + b"\0"
        # Resolve before taking the lock: voices() takes it too. espeak's own lookup misses
        # language codes such as 'fr-fr' or 'en-gb'.
        target = self._resolved.get(voice)
        if target is None:
            target = self._resolved[voice] = self.resolve_voice(voice) or voice
        with self._lock:
            if self._lib.espeak_SetVoiceByName(target.encode()) != 0:
                raise EspeakError(f"unknown espeak voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._lib.espeak_SetParameter(_PARAM_VOLUME, int(volume), 0)
            if self._seed is not None:
                self._seed(_RAND_SEED)
            stopped = False

            def guarded(pcm: np.ndarray) -> bool:
                nonlocal stopped
                stopped = on_chunk(pcm) is False
                return not stopped

            self._on_chunk = guarded
            self._cb_error = None
            try:
                err = self._lib.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                self._on_chunk = None
            if self._cb_error is not None:
                cb_error, self._cb_error = self._cb_error, None
                raise cb_error
            if err != 0 and not stopped:
                raise EspeakError(f"espeak_Synth failed ({err})")
            return not stopped

    def phonemes(self, text: str, voice: str = "en") -> str:
        """espeak-ng's ASCII phoneme mnemonics for ``text`` (as ``espeak-ng -x`` prints them),
        clauses joined by spaces."""
        target = self._resolved.get(voice)
        if target is None:
            target = self._resolved[voice] = self.resolve_voice(voice) or voice
        fn = self._lib.espeak_TextToPhonemes
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        with self._lock:
            if self._lib.espeak_SetVoiceByName(target.encode()) != 0:
                raise EspeakError(f"unknown espeak voice {voice!r}")
            data = text.encode("utf-8")  # alive while espeak advances buf through it
            buf = ctypes.c_char_p(data)
            out: list[str] = []
            while buf.value:
                res = fn(ctypes.byref(buf), _CHARS_UTF8, 0)
                out.append((res or b"").decode("utf-8", "replace").strip())
        return " ".join(p for p in out if p)

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
