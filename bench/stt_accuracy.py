"""Streaming vs whole-utterance (batch) accuracy of the pocketsphinx STT, per subset.

Each session is a few utterances fed to the worker's recognizer (:class:`Recognizer`, the
code a worker process runs) in 20 ms chunks, then flushed, as the agent session does; the
decoder's CMN is reset to the model's default at each session start, as on a fresh worker.
The same audio (at 16 kHz, after the rate conversion or Opus round trip) is also decoded
whole by a second decoder (``process_raw(full_utt=True)``): the batch reference of issue 11.

Corpus, built here: six sentences (shop queries among them) said by two espeak-ng voices
(``--quick``: one), at -30/-20/-10/-3 dBFS, with and without white noise (15 dB SNR), at
8/16/44.1/48 kHz and through Opus (PyAV's libopus, 48 kHz, at the 64 kbit/s the WebRTC
answer asks for; the human recordings at the 32 kbit/s browsers send unasked too); each voice's six
sentences make one session. Real human speech: ``--human DIR`` reads the recordings that the
pocketsphinx source package ships (``test/data`` of pocketsphinx-5.1.1.tar.gz on PyPI:
cards/*.wav with cards.transcription, librivox/*.wav with *.txt); none is committed. They are
also played at every level (peak dBFS), rate and through Opus, as the espeak subsets are.

    python bench/stt_accuracy.py --human /path/to/pocketsphinx-5.1.1/test/data
    python bench/stt_accuracy.py --quick          # a smaller corpus, no file written
    python bench/stt_accuracy.py --search --human DIR   # CPU and WER per search limits
    python bench/stt_accuracy.py --by-length --human DIR   # the flush by length, printed
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from perfdoc import write_section  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADING = "## Speech recognition accuracy (pocketsphinx, streaming vs batch)"
SENTENCES = [
    "add two jars of acacia honey",
    "tell me about the cheese",
    "go forward ten meters",
    "what is the price of the red wine",
    "i would like three bottles please",
    "thank you very much",
]
# Spoken product queries: the catalogue's names, producers and categories (issue 11 §3).
SHOP_QUERIES = [
    "add two jars of acacia honey",
    "tell me about the comte",
    "do you have tomme de savoie",
    "i would like the farmhouse reblochon",
    "tell me about rucher du vercors",
    "add a bottle of viognier white",
    "how much is the chestnut honey",
    "show me the duck rillettes",
    "what about the summer beaufort",
    "i want the coteaux rose",
    "what does ferme des alpes make",
    "do you sell charcuterie",
    "add the walnut oil to my cart",
    "tell me about the diots savoy sausages",
]
SHOP_VOICES = [("en-us", 150), ("en-gb+m3", 170), ("en-us+f2", 190)]
CATALOGUE = ROOT / "causerie" / "apps" / "shop" / "data" / "catalogue.json"
VOICES = ["en-us+f2", "en-gb+m3", "en-us"]
RATES_WPM = [150, 190]
LEAD_S, TAIL_S = 0.5, 0.3  # silence around each utterance before the flush


@dataclass
class Tally:
    stream_err: int = 0
    batch_err: int = 0
    words: int = 0
    first_stream_err: int = 0
    first_batch_err: int = 0
    first_words: int = 0
    flush_ms: list[float] = field(default_factory=list)
    first_flush_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    audio_s: float = 0.0
    utts: int = 0
    stream_exact: int = 0
    batch_exact: int = 0


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h))
    return row[-1]


def at_level(pcm: np.ndarray, dbfs: float) -> np.ndarray:
    peak = float(np.abs(pcm).max()) or 1.0
    return pcm.astype(np.float64) * (32767 * 10 ** (dbfs / 20) / peak)


def with_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    speech = x[np.abs(x) > 0]
    power = float(np.mean(speech**2)) if len(speech) else 1.0
    return x + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(x))


def opus_roundtrip(pcm48: np.ndarray, bitrate: int) -> np.ndarray:
    import av

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48000, "mono", "s16", bitrate
    dec = av.CodecContext.create("libopus", "r")
    dec.sample_rate, dec.layout = 48000, "mono"
    out: list[np.ndarray] = []
    pcm48 = np.concatenate([pcm48, np.zeros(-len(pcm48) % 960, dtype=np.int16)])
    for i in range(0, len(pcm48) + 960, 960):
        frame = None
        if i < len(pcm48):
            frame = av.AudioFrame.from_ndarray(
                pcm48[None, i : i + 960], format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts = 48000, i
        for packet in enc.encode(frame):
            for f in dec.decode(packet):
                a = f.to_ndarray().reshape(-1)
                out.append(a if a.dtype == np.int16 else (np.clip(a, -1, 1) * 32767))
    return np.concatenate(out).astype(np.int16)


def livekit_resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    """As the agent's STT stream converts its input (livekit's resampler: soxr, which dithers
    at random, so no two conversions are the same)."""
    if src == dst:
        return pcm
    from livekit import rtc

    rs = rtc.AudioResampler(src, dst, num_channels=1, quality=rtc.AudioResamplerQuality.HIGH)
    frames = [
        *rs.push(rtc.AudioFrame(pcm.astype(np.int16).tobytes(), src, 1, len(pcm))),
        *rs.flush(),
    ]
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def to_16k(pcm: np.ndarray, rate: int, opus: int) -> np.ndarray:
    """What the STT decodes: the rate livekit converts to (16 kHz), after Opus at ``opus``
    bit/s if any (0: none)."""
    from causerie.audio.wav import resample

    if opus:
        pcm, rate = opus_roundtrip(resample(pcm, rate, 48000), opus), 48000
    return livekit_resample(pcm, rate, 16000)


def espeak_sessions(quick: bool) -> dict[str, list[list[tuple[np.ndarray, str]]]]:
    """subset -> sessions -> (16 kHz int16 with lead/tail silence, reference)."""
    from causerie.audio.wav import resample
    from tests.speech import speak

    rng = np.random.default_rng(11)
    voices, rates = (VOICES[:1], RATES_WPM[:1]) if quick else (VOICES[:2], RATES_WPM[:1])
    base = [[speak(s, 16000, voice=v, rate=r) for s in SENTENCES] for v in voices for r in rates]
    subsets: dict[str, tuple[float, bool, int, int]] = {  # dBFS, noise, rate, Opus bit/s
        "espeak -20 dBFS": (-20, False, 16000, False),
        "espeak -30 dBFS": (-30, False, 16000, False),
        "espeak -10 dBFS": (-10, False, 16000, False),
        "espeak -3 dBFS": (-3, False, 16000, False),
        "espeak -20 dBFS + noise": (-20, True, 16000, False),
        "espeak 8 kHz": (-20, False, 8000, False),
        "espeak 44.1 kHz": (-20, False, 44100, False),
        "espeak 48 kHz": (-20, False, 48000, False),
        "espeak Opus 64 kbit/s": (-20, False, 48000, 64000),
    }
    if quick:
        subsets = {
            k: v for k, v in subsets.items() if k in ("espeak -20 dBFS", "espeak Opus 64 kbit/s")
        }
    out: dict[str, list[list[tuple[np.ndarray, str]]]] = {}
    for name, (dbfs, noise, rate, opus) in subsets.items():
        sessions = []
        for utts in base:
            session = []
            for pcm, ref in zip(utts, SENTENCES, strict=True):
                x = np.concatenate(
                    [np.zeros(int(LEAD_S * 16000)), pcm, np.zeros(int(TAIL_S * 16000))]
                )
                x = at_level(x, dbfs)
                if noise:
                    x = with_noise(x, 15.0, rng)
                x16 = np.clip(np.round(x), -32768, 32767).astype(np.int16)
                session.append((to_16k(resample(x16, 16000, rate), rate, opus), ref))
            sessions.append(session)
        out[name] = sessions
    return out


def shop_sessions(quick: bool) -> dict[str, list[list[tuple[np.ndarray, str]]]]:
    """Product queries, one session per voice and rate, at -20 dBFS."""
    from tests.speech import speak

    sessions = []
    for voice, wpm in SHOP_VOICES[:1] if quick else SHOP_VOICES:
        session = []
        for ref in SHOP_QUERIES:
            x = np.concatenate(
                [np.zeros(int(LEAD_S * 16000)), speak(ref, 16000, voice=voice, rate=wpm)]
            )
            x = np.concatenate([at_level(x, -20), np.zeros(int(TAIL_S * 16000))])
            session.append((np.round(x).astype(np.int16), ref))
        sessions.append(session)
    return {"shop queries (espeak, 3 voices and rates)": sessions}


def shop_vocabulary(weight: float | None = None) -> dict[str, object]:
    """The shop catalogue's vocabulary, compiled as ``stt.options.vocabulary`` would be."""
    import json

    from pocketsphinx import Config

    from causerie.providers.local.vocabulary import (
        DEFAULT_WEIGHT,
        catalogue_vocabulary,
        compile_vocabulary,
    )

    vocab = catalogue_vocabulary(json.loads(CATALOGUE.read_text()))
    w = DEFAULT_WEIGHT if weight is None else weight
    return compile_vocabulary(vocab, Path(Config()["dict"]), weight=w)


def read_wav16(path: Path) -> np.ndarray:
    from causerie.audio.wav import resample

    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        pcm = pcm.reshape(-1, w.getnchannels())[:, 0]
        return resample(pcm, w.getframerate(), 16000)


def human_sessions(data: Path) -> dict[str, list[list[tuple[np.ndarray, str]]]]:
    """The pocketsphinx sdist's recordings: each file a session of one utterance, so every
    one is a first utterance (the hard case), and the set as one session too."""
    items: list[tuple[np.ndarray, str]] = []
    for line in (data / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((\w+)\)", line.strip())
        if m:
            items.append((read_wav16(data / "cards" / f"{m.group(2)}.wav"), m.group(1)))
    for wav in sorted((data / "librivox").glob("*.wav")):
        items.append((read_wav16(wav), wav.with_suffix(".txt").read_text()))
    pad = np.zeros(int(TAIL_S * 16000), dtype=np.int16)
    items = [(np.concatenate([x, pad]), ref) for x, ref in items]
    return {
        "human, each file a new session": [[it] for it in items],
        "human, one session": [items],
    }


# dBFS (peak; None: as recorded), rate, Opus bit/s: the same channels as the espeak subsets,
# and Opus at what browsers send unasked (the talk page's answer asks for 64 kbit/s)
OPUS_UNASKED = "Opus 32 kbit/s"
CHANNELS: dict[str, tuple[float | None, int, int]] = {
    "as recorded": (None, 16000, 0),
    "-30 dBFS": (-30, 16000, 0),
    "-20 dBFS": (-20, 16000, 0),
    "-10 dBFS": (-10, 16000, 0),
    "-3 dBFS": (-3, 16000, 0),
    "44.1 kHz": (None, 44100, 0),
    "48 kHz": (None, 48000, 0),
    "Opus 64 kbit/s": (None, 48000, 64000),
    OPUS_UNASKED: (None, 48000, 32000),
    "8 kHz": (None, 8000, 0),
}


def human_channels(data: Path, copies: int) -> dict[str, list[list[tuple[np.ndarray, str]]]]:
    """The human recordings, each file a new session, at every level, rate and Opus; each
    channel ``copies`` times, copy k with a +-1 LSB dither seeded k (0: none) added before
    the channel, so that each copy is resampled and Opus-encoded anew. The decoder turns such
    tiny changes into a different word now and then, and Opus at 32 kbit/s into several:
    the copies show that spread."""
    from causerie.audio.wav import resample

    base = human_sessions(data)["human, each file a new session"]
    out = {}
    for name, (dbfs, rate, opus) in CHANNELS.items():
        for k in range(copies):
            rng = np.random.default_rng(k)
            sessions = []
            for [(pcm, ref)] in base:
                x = pcm if dbfs is None else at_level(pcm, dbfs)
                x16 = np.clip(np.round(x), -32768, 32767).astype(np.int16)
                x16 = x16 if k == 0 else dither(x16, rng)
                sessions.append([(to_16k(resample(x16, 16000, rate), rate, opus), ref)])
            out[f"{name}|{k}"] = sessions
    return out


def dither(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.integers(-1, 2, len(x))
    return np.clip(x.astype(np.int32) + noise, -32768, 32767).astype(np.int16)


def channels_table(results: dict[str, Tally]) -> str:
    """Per channel: WER over its copies (mean, and min-max of the copies), and the spread of
    the channel means against issue 11's 2 points; 8 kHz (the model is 16 kHz) and Opus at
    32 kbit/s (what browsers send unasked) apart."""
    groups: dict[str, list[Tally]] = {}
    for key, t in results.items():
        groups.setdefault(key.split("|")[0], []).append(t)
    rows = [
        "| channel | words x copies | streaming WER: mean (min-max) | batch WER: mean (min-max) "
        "| flush→FINAL p90 | RTF |",
        "|---|---|---|---|---|---|",
    ]
    means: dict[str, float] = {}
    spread = 0.0  # the widest min-max of one channel's copies
    for name, ts in groups.items():
        s = [100 * t.stream_err / max(t.words, 1) for t in ts]
        b = [100 * t.batch_err / max(t.words, 1) for t in ts]
        means[name] = float(np.mean(s))
        spread = max(spread, max(s) - min(s), max(b) - min(b))
        flush = [ms for t in ts for ms in t.flush_ms]
        rtf = sum(t.cpu_s for t in ts) / max(sum(t.audio_s for t in ts), 1e-9)
        rows.append(
            f"| {name} | {ts[0].words} x {len(ts)} | {np.mean(s):.1f} % ({min(s):.1f}-{max(s):.1f})"
            f" | {np.mean(b):.1f} % ({min(b):.1f}-{max(b):.1f}) | {pct(flush, 90):.0f} ms "
            f"| {rtf:.2f} |"
        )
    apart = ("8 kHz", OPUS_UNASKED)  # a 16 kHz model; a bitrate the WebRTC path no longer gets
    wide = {k: v for k, v in means.items() if k not in apart}
    best, worst = min(wide, key=wide.__getitem__), max(wide, key=wide.__getitem__)
    summary = (
        "Streaming WER, mean over the copies, every level, rate and Opus at 64 kbit/s: best "
        f"{wide[best]:.1f} % ({best}), worst {wide[worst]:.1f} % ({worst}): "
        f"{wide[worst] - wide[best]:.1f} points apart"
    )
    summary += "".join(f"; {k}: {means[k]:.1f} %" for k in apart if k in means)
    summary += (
        f". A +-1 LSB dither alone moves one channel's WER by up to {spread:.1f} points "
        f"(one word is {100 / max(t.words for t in results.values()):.1f})"
    )
    return "\n".join(rows) + "\n\n" + summary + "."


def fresh_front_end(decoder: object) -> None:
    """Forget the front end's noise estimate, which pocketsphinx carries across utterances:
    without this a subset's words depended on the audio decoded before it."""
    for d in (getattr(decoder, "general", decoder), getattr(decoder, "app", None)):
        if d is not None:
            d.reinit_feat()


def run(
    subsets: dict[str, list[list[tuple[np.ndarray, str]]]],
    seed: float | None,
    vocabulary: dict[str, object] | None = None,
    decoder: dict[str, object] | None = None,
    reseed: float | tuple[float, ...] | Literal["default"] | None = "default",
    spare: bool = True,
    defer: bool = True,
) -> dict[str, Tally]:
    """``decoder``: pocketsphinx settings over Causerie's defaults. ``spare``: the worker's
    spare decoder, which runs the later settles' re-decodes (False: in line). ``defer``:
    ``defer_first_pass``."""
    from peers.proctree import cpu_seconds  # bench/ is on sys.path

    from causerie.providers.local.pocketsphinx_stt import _DEFAULTS
    from causerie.providers.local.pocketsphinx_worker import (
        CMN_RESEED_S,
        Recognizer,
        RecognizerOptions,
        load_decoder,
        with_floor,
    )
    from causerie.providers.local.vocabulary_process import split

    config = {**_DEFAULTS, **(decoder or {}), **({"vocabulary": vocabulary} if vocabulary else {})}
    streaming, whole = load_decoder(config), load_decoder(config)
    second = load_decoder(config) if spare else None  # the worker's spare (see catchup)
    # As the worker does: a vocabulary pair's app decoders in a child, on the other core.
    app = split([streaming, second])
    default_cmn = streaming.get_cmn()
    reseed = CMN_RESEED_S if reseed == "default" else reseed
    opts = RecognizerOptions(
        16000, 0.3, None, 0, 30.0, cmn_seed_s=seed, cmn_reseed_s=reseed, defer_first_pass=defer
    )
    chunk = 320 * 2
    out: dict[str, Tally] = {}
    for name, sessions in subsets.items():
        t = out[name] = Tally()
        for session in sessions:
            fresh_front_end(streaming)  # a fresh worker: no noise estimate from before
            streaming.set_cmn(default_cmn)
            if second is not None:
                fresh_front_end(second)
            rec = Recognizer(streaming, opts, second)
            for i, (pcm, ref) in enumerate(session):
                raw = pcm.tobytes()
                events = []
                start = time.process_time() + (cpu_seconds([app.pid]) if app else 0.0)
                free = 0.0  # when the worker is done with what came so far, on the audio's clock
                for k in range(0, len(raw), chunk):
                    t0 = time.perf_counter()
                    events += rec.process([raw[k : k + chunk]])
                    arrived = (k + chunk) / 2 / 16000
                    free = max(free, arrived) + time.perf_counter() - t0
                end = len(raw) / 2 / 16000
                t0 = time.perf_counter()
                events += rec.process([None])
                # In real time: a re-decode late in the utterance delays the flush's answer.
                flush_ms = (max(free, end) + time.perf_counter() - t0 - end) * 1000
                t.cpu_s += time.process_time() + (cpu_seconds([app.pid]) if app else 0.0) - start
                t.audio_s += len(pcm) / 16000
                hyp = " ".join(e[2] for e in events if e[0] == "final" and e[2])
                fresh_front_end(whole)  # a decoder of its own, as a whole-utterance decode
                whole.set_cmn(default_cmn)
                whole.start_utt()
                whole.process_raw(with_floor(raw), False, True)  # as the worker hears it
                whole.end_utt()
                h = whole.hyp()
                ref_w = words(ref)
                s_err, b_err = edits(ref_w, words(hyp)), edits(ref_w, words(h.hypstr if h else ""))
                t.stream_err += s_err
                t.batch_err += b_err
                t.words += len(ref_w)
                t.flush_ms.append(flush_ms)
                t.utts += 1
                t.stream_exact += s_err == 0
                t.batch_exact += b_err == 0
                if i == 0:
                    t.first_stream_err += s_err
                    t.first_batch_err += b_err
                    t.first_words += len(ref_w)
                    t.first_flush_ms.append(flush_ms)
    if app is not None:
        app.close()
    return out


def flush_by_length(data: Path, reps: int = 3) -> str:
    """The flush's answer in real time against the utterance's length: the longest human
    recording cut at 0.3 to 6.0 s (then the usual tail of silence), each the first utterance
    of a fresh worker, with the default settles (on the spare, and in line), round 6's, and
    none after the seed; median of ``reps``. A re-decode still running when the utterance
    ends shows as a slow answer."""
    from causerie.providers.local.pocketsphinx_worker import CMN_RESEED_S, CMN_SEED_S

    (longest, _), *_ = sorted(
        (it for [it] in human_sessions(data)["human, each file a new session"]),
        key=lambda it: -len(it[0]),
    )
    pad = np.zeros(int(TAIL_S * 16000), dtype=np.int16)
    lengths = [round(0.3 * i, 1) for i in range(1, 21)]
    columns: dict[str, list[float]] = {}
    points = ", ".join(f"{p:g}" for p in CMN_RESEED_S or ())
    variants: list[tuple[str, float | tuple[float, ...] | None, bool]] = [
        (f"cmn_reseed [{points}], on the spare (default)", CMN_RESEED_S, True),
        (f"[{points}], in line (`spare_decoder: false`)", CMN_RESEED_S, False),
        ("2.8, in line (round 6's default)", 2.8, False),
        ("cmn_reseed off", None, False),
    ]
    for label, reseed, spare in variants:
        col = columns[label] = []
        for length in lengths:
            x = np.concatenate([longest[: int(length * 16000)], pad])
            runs = [
                run({"x": [[(x, "")]]}, CMN_SEED_S, reseed=reseed, spare=spare)["x"].flush_ms[0]
                for _ in range(reps)
            ]
            col.append(float(np.median(runs)))
    rows = [
        "| speech before the tail | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for i, length in enumerate(lengths):
        rows.append(
            f"| {length:.1f} s | " + " | ".join(f"{c[i]:.0f} ms" for c in columns.values()) + " |"
        )
    return "\n".join(rows)


def total(results: dict[str, Tally]) -> Tally:
    """The subsets' tallies summed (WER, flush times and CPU; not the first utterances')."""
    t = Tally()
    for x in results.values():
        t.stream_err += x.stream_err
        t.batch_err += x.batch_err
        t.words += x.words
        t.flush_ms += x.flush_ms
        t.cpu_s += x.cpu_s
        t.audio_s += x.audio_s
    return t


def cpu_row(label: str, group: str, t: Tally) -> str:
    """A row of the CPU sections: configuration, subset, words, WERs, flush, RTF."""
    return (
        f"| {label} | {group} | {t.words} | {100 * t.stream_err / t.words:.1f} % "
        f"| {100 * t.batch_err / t.words:.1f} % | {pct(t.flush_ms, 50):.0f} / "
        f"{pct(t.flush_ms, 90):.0f} ms | {t.cpu_s / t.audio_s:.3f} |"
    )


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def table(results: dict[str, Tally]) -> str:
    rows = [
        "| subset | words | streaming WER | batch WER | first utt. streaming | first utt. batch "
        "| flush→FINAL p50 / p90 | first utt. flush p90 | RTF | exact: streaming / batch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in results.items():
        w, fw = max(t.words, 1), max(t.first_words, 1)
        rows.append(
            f"| {name} | {t.words} | {100 * t.stream_err / w:.1f} % "
            f"| {100 * t.batch_err / w:.1f} % "
            f"| {100 * t.first_stream_err / fw:.1f} % | {100 * t.first_batch_err / fw:.1f} % "
            f"| {pct(t.flush_ms, 50):.0f} / {pct(t.flush_ms, 90):.0f} ms "
            f"| {pct(t.first_flush_ms, 90):.0f} ms | {t.cpu_s / max(t.audio_s, 1e-9):.2f} "
            f"| {t.stream_exact} / {t.batch_exact} of {t.utts} |"
        )
    return "\n".join(rows)


SEARCH_HEADING = "## Speech recognition CPU (pocketsphinx search limits)"


def search_limits(human: Path | None, out: Path | None, seed: float) -> None:
    """pocketsphinx's own search limits against Causerie's, side by side in one run: the
    same corpus, WER and decode CPU; the first configuration again at the end, to show
    how much the CPU figure drifts within the run."""
    from causerie.providers.local.pocketsphinx_stt import _DEFAULTS

    ours = {k: _DEFAULTS[k] for k in ("maxhmmpf", "maxwpf") if k in _DEFAULTS}
    configs = [
        (
            "pocketsphinx's defaults (`maxhmmpf: 30000, maxwpf: -1`)",
            {"maxhmmpf": 30000, "maxwpf": -1},
        ),
        ("Causerie's (`" + ", ".join(f"{k}: {v}" for k, v in ours.items()) + "`)", {}),
    ]
    configs.append((configs[0][0] + ", again", configs[0][1]))
    groups = {"espeak (all subsets above)": espeak_sessions(False)}
    if human:
        groups = {
            "human": {k: v for k, v in human_sessions(human).items() if "each" in k},
            **groups,
        }
    shop = shop_sessions(False)
    load = os.getloadavg()[0]
    rows = []
    for label, cfg in configs:
        print(f"{label} ...", file=sys.stderr, flush=True)
        results = {g: run(subs, seed, decoder=cfg) for g, subs in groups.items()}
        results["shop queries, with the shop vocabulary"] = run(
            shop, seed, shop_vocabulary(), decoder=cfg
        )
        for group, res in results.items():
            t = total(res)
            rows.append(cpu_row(label, group, t))
            print(rows[-1], flush=True)
    cmd = "python bench/stt_accuracy.py --search" + (
        " --human <pocketsphinx sdist>/test/data" if human else ""
    )
    section = (
        f"{SEARCH_HEADING}\n\n`{cmd}`, load average (1 min) {load:.1f} at the start. "
        "The streaming recognizer's decode CPU (RTF: CPU seconds per second of audio, in "
        "the process that decodes) and WER with pocketsphinx's search limits and with "
        "Causerie's, which cap the HMMs and words kept active per frame. The corpus is the "
        "accuracy section's (CMN seed on). Compare the RTF of rows of this run only.\n\n"
        "| search limits | subset | words | streaming WER | batch WER "
        "| flush→FINAL p50 / p90 | RTF |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(section)
    if out is not None:
        write_section(out, SEARCH_HEADING, section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--human", type=Path, help="pocketsphinx-5.1.1/test/data (from its sdist)")
    ap.add_argument("--quick", action="store_true", help="smaller corpus, no file written")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    ap.add_argument("--only-shop", action="store_true", help="only the vocabulary section")
    ap.add_argument("--search", action="store_true", help="only the search limits' section")
    ap.add_argument(
        "--by-length", action="store_true", help="only the flush by length (printed, not written)"
    )
    args = ap.parse_args()

    from causerie.providers.local.pocketsphinx_worker import CMN_RESEED_S, CMN_SEED_S
    from causerie.providers.local.vocabulary import DEFAULT_WEIGHT

    if args.by_length:
        if not args.human:
            ap.error("--by-length needs --human")
        print(flush_by_length(args.human))
        return
    if args.search:
        search_limits(args.human, None if args.quick else args.out, CMN_SEED_S)
        return

    load = os.getloadavg()[0]
    shop = shop_sessions(args.quick)
    if args.human:
        shop.update({k: v for k, v in human_sessions(args.human).items() if "each" in k})
    vocab_sections = []
    for label, vocab in [
        ("no vocabulary (the general model)", None),
        (
            f"the shop catalogue's vocabulary (`vocabulary_weight: {DEFAULT_WEIGHT}`)",
            shop_vocabulary(),
        ),
    ]:
        print(f"{label} ...", file=sys.stderr, flush=True)
        text = f"**{label}**\n\n{table(run(shop, CMN_SEED_S, vocab))}\n"
        print(text, flush=True)
        vocab_sections.append(text)
    if args.only_shop:
        return

    subsets = espeak_sessions(args.quick)
    if args.human:
        subsets = {**human_sessions(args.human), **subsets}
    sections = []
    points = ", ".join(f"{p:g}" for p in CMN_RESEED_S or ())
    for label, seed, reseed, spare in [
        (
            "before: pocketsphinx's live CMN from the model default (cmn_seed off)",
            None,
            None,
            False,
        ),
        (
            f"round 6's default: settled at {CMN_SEED_S} s, again at 2.8 s and re-decoded in "
            "line (`cmn_reseed: 2.8, spare_decoder: false`)",
            CMN_SEED_S,
            2.8,
            False,
        ),
        (
            f"after: settled at {CMN_SEED_S} s, again at {points} s, the later re-decodes on "
            f"the worker's spare decoder (the default: `cmn_reseed: [{points}]`)",
            CMN_SEED_S,
            CMN_RESEED_S,
            True,
        ),
    ]:
        print(f"{label} ...", file=sys.stderr, flush=True)
        text = f"**{label}**\n\n{table(run(subsets, seed, reseed=reseed, spare=spare))}\n"
        print(text, flush=True)
        sections.append(text)
    if args.human:
        copies = 1 if args.quick else 5
        label = (
            "human speech at every level, rate and channel (each file a new session; the "
            f"default settings; each channel in {copies} copies, copy k with a +-1 LSB dither "
            "seeded k added before the channel, copy 0 none: each copy resampled and encoded anew)"
        )
        print(f"{label} ...", file=sys.stderr, flush=True)
        results = run(human_channels(args.human, copies), CMN_SEED_S)
        text = f"**{label}**\n\n{channels_table(results)}\n"
        print(text, flush=True)
        sections.append(text)
    if args.human:
        label = (
            "flush→FINAL in real time by utterance length (the longest human recording cut "
            f"short, then {TAIL_S} s of silence; first utterance of a fresh worker; median "
            "of 3)"
        )
        print(f"{label} ...", file=sys.stderr, flush=True)
        text = f"**{label}**\n\n{flush_by_length(args.human)}\n"
        print(text, flush=True)
        sections.append(text)
    if args.quick:
        return
    cmd = "python bench/stt_accuracy.py" + (
        " --human <pocketsphinx sdist>/test/data" if args.human else ""
    )
    section = (
        f"{HEADING}\n\n`{cmd}` (the vocabulary subsection alone: `--only-shop`). "
        "Streaming: the worker's recognizer fed 20 ms chunks and flushed "
        "after each utterance; each session starts from the model's default CMN (a fresh "
        "worker). Batch: the same 16 kHz audio decoded whole (`full_utt=True`). WER against "
        "the reference text; flush→FINAL is the worker's time to answer the flush as if the "
        "audio had come in real time (each chunk's decode timed; a decode still running "
        "when the utterance ends, such as a re-decode after a settle, delays the answer; "
        "the pipe adds ~1 ms); RTF is decode CPU time over audio time, on the "
        "2-core machine. Both decodes hear "
        'the worker\'s -80 dBFS noise floor, "before" included. Human speech: the '
        "recordings in pocketsphinx's source package (5 card-game commands, 5 LibriVox "
        "sentences, 92 words); the CMN seed was chosen on its other recordings "
        "(goforward, numbers, something, forever), not on these; the later settles' "
        "points (2.8 s: the longest the live sums allow after the seed, see "
        "pocketsphinx_cmn; 4.5 s), their re-decode threshold (4) and the spare's catch-up "
        "rate (8x) were chosen with these recordings and the espeak corpus in view (the "
        "held-in ones do not tell the settings apart). espeak subsets are 66 "
        "words each: one word is 1.5 points. Levels are the peak's dBFS. "
        f"Load average (1 min) {load:.1f} at the start: "
        "latency and RTF figures move with the load; WER does not.\n\n"
        + "\n".join(sections)
        + "\n### An app's vocabulary (`stt.options.vocabulary`)\n\n"
        "Spoken product queries from the shop catalogue's names, producers and categories "
        f"({len(SHOP_QUERIES)} queries, espeak voices and rates: {SHOP_VOICES}, -20 dBFS), "
        "each voice a session, with the CMN seed on; and the human recordings, to show what "
        "the vocabulary costs general speech. *exact*: utterances recognised word for word. "
        "With a vocabulary, new words get espeak-ng pronunciations and a second decoder runs "
        "the app's language model; the better-scoring hypothesis wins (see "
        "causerie/providers/local/vocabulary_decoder.py).\n\n" + "\n".join(vocab_sections)
    )
    write_section(args.out, HEADING, section)


if __name__ == "__main__":
    main()
