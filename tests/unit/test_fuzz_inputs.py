"""Property tests of the file readers (issue 14 §3): the WAV reader, the agent YAML loader and
the catalogue loader, fed random bytes, random documents and mutations of valid files. Pass:
a value or the reader's own clear error (naming the file), never another exception.
``make fuzz`` runs them longer (``CAUSERIE_FUZZ_SCALE``)."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from causerie.apps.shop.catalogue import Catalogue
from causerie.apps.shop.catalogue_files import load_catalogue
from causerie.audio.wav import PCM, read_wav
from causerie.config.loader import LoadedConfig, load_config
from causerie.errors import AudioFileError, CauserieError, ConfigError
from tests.fuzzing import TRIED, budget, report_tried  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "causerie" / "apps" / "shop" / "data" / "catalogue.json"


@contextmanager
def written(name: str, data: bytes, *beside: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="causerie-fuzz-") as d:
        for other in beside:
            (Path(d) / other.name).write_bytes(other.read_bytes())
        path = Path(d) / name
        path.write_bytes(data)
        yield path


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few bytes overwritten, a slice cut out or duplicated, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "dup", "truncate", "insert"]))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[i : i + draw(st.integers(1, 64))]
        elif kind == "dup":
            data[i:i] = data[i : i + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[i:]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


# -- WAV ---------------------------------------------------------------------------------


def wav_bytes(rate: int = 16000, seconds: float = 0.05, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    tone = (np.sin(np.arange(int(rate * seconds)) / 5) * 0.3).astype(np.float32)
    sf.write(buf, tone, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


VALID_WAVS = [wav_bytes(), wav_bytes(8000, subtype="PCM_U8"), wav_bytes(44100, subtype="FLOAT")]


def read_or_refuse(data: bytes) -> PCM | None:
    with written("input.wav", data) as path:
        try:
            pcm = read_wav(path, sample_rate=16000)
        except AudioFileError as e:
            assert str(path) in str(e)  # the error names the file
            return None
    assert pcm.sample_rate == 16000 and pcm.samples.dtype == np.int16
    return pcm


@pytest.mark.filterwarnings("error::RuntimeWarning")  # NaN samples cast to noise
@given(data=st.binary(max_size=2048))
@budget(150)
def test_wav_reader_random_bytes(data: bytes) -> None:
    TRIED["wav random bytes"] += 1
    read_or_refuse(data)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@given(data=st.sampled_from(VALID_WAVS).flatmap(mutated))
@budget(250)
def test_wav_reader_mutated_files(data: bytes) -> None:
    TRIED["wav mutated"] += 1
    read_or_refuse(data)


# -- agent YAML --------------------------------------------------------------------------

AGENT_YAML = (ROOT / "agent.yaml").read_text(encoding="utf-8")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
AGENT_KEYS = [
    "name",
    "language",
    "instructions",
    "stt",
    "llm",
    "tts",
    "vad",
    "plugins",
    "tools",
    "metrics",
    "ui",
    "fallback",
    "api_tools",
    "turn",
]


def load_or_refuse(text: bytes) -> LoadedConfig | None:
    with written("agent.yaml", text, ROOT / "instructions.md") as path:
        try:
            return load_config(path, environ={}, dotenv=None)
        except ConfigError as e:
            assert str(e).strip(), "an empty error message"
            return None


@given(data=st.binary(max_size=512) | st.text(max_size=300).map(str.encode))
@budget(100)
def test_agent_yaml_random_text(data: bytes) -> None:
    TRIED["agent yaml random text"] += 1
    load_or_refuse(data)


@given(fields=st.dictionaries(st.sampled_from(AGENT_KEYS), documents, max_size=5))
@budget(200)
def test_agent_yaml_random_values_in_known_fields(fields: dict[str, Any]) -> None:
    TRIED["agent yaml random fields"] += 1
    load_or_refuse(json.dumps(fields, default=str).encode())  # JSON is YAML


@given(data=mutated(AGENT_YAML.encode()))
@budget(150)
def test_agent_yaml_mutated(data: bytes) -> None:
    TRIED["agent yaml mutated"] += 1
    load_or_refuse(data)


def test_the_real_agent_file_loads() -> None:
    assert load_or_refuse(AGENT_YAML.encode()) is not None


# -- catalogue ---------------------------------------------------------------------------

CSV = (
    "id,name,category,producer,price,unit,stock,attr_organic\n"
    "apple,Apple,fruit,farm,1.5,kg,10,yes\n"
    "pear,Pear,fruit,farm,2,kg,0,no\n"
)


def catalogue_or_refuse(name: str, data: bytes) -> Catalogue | None:
    with written(name, data) as path:
        try:
            return load_catalogue(path)
        except ConfigError as e:
            assert str(path) in str(e)
            return None


def test_the_sample_catalogues_load() -> None:
    assert catalogue_or_refuse("c.json", CATALOGUE.read_bytes()) is not None
    assert catalogue_or_refuse("c.csv", CSV.encode()) is not None


@given(data=mutated(CATALOGUE.read_bytes()[:4000]) | st.binary(max_size=400))
@budget(150)
def test_catalogue_json_mutated(data: bytes) -> None:
    TRIED["catalogue json"] += 1
    catalogue_or_refuse("catalogue.json", data)


products = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "name", "category", "producer", "price", "stock", "attributes"]),
        documents,
        max_size=7,
    ),
    max_size=4,
)


@given(
    doc=st.one_of(
        documents,
        st.fixed_dictionaries(
            {"products": products}, optional={"categories": documents, "producers": documents}
        ),
    )
)
@budget(150)
def test_catalogue_json_random_documents(doc: Any) -> None:
    TRIED["catalogue json documents"] += 1
    catalogue_or_refuse("catalogue.json", json.dumps(doc, default=str).encode())


@given(data=mutated(CSV.encode()) | st.text(max_size=300).map(str.encode) | st.binary(max_size=300))
@budget(200)
def test_catalogue_csv(data: bytes) -> None:
    TRIED["catalogue csv"] += 1
    catalogue_or_refuse("catalogue.csv", data)


def test_errors_are_the_package_errors() -> None:
    """The readers' errors are CauserieErrors: the CLI turns them into a message, exit 2."""
    assert issubclass(AudioFileError, CauserieError) and issubclass(ConfigError, CauserieError)
