"""A tiny Whisper model in CTranslate2 format, made on the spot: no torch, no download.

The weights are seeded random numbers, so what it "hears" is garbage, but every file is
the real thing faster-whisper loads: ``model.bin`` (``ctranslate2.specs.WhisperSpec``),
``config.json``, ``vocabulary.json``, ``tokenizer.json`` (built with ``tokenizers``) and
``preprocessor_config.json``. The token layout is Whisper's: text tokens, then
``<|endoftext|>``, ``<|startoftranscript|>``, the 99 language tokens, the task and other
special tokens, ``<|notimestamps|>`` and 1501 timestamp tokens ``<|0.00|>``..``<|30.00|>``.

With ``multilingual=True`` the text vocabulary is padded to Whisper's 50257 tokens, the last
one the empty token ``""``, so the whole vocabulary has 51865 entries: CTranslate2 tells a
multilingual model by that empty token (4.8) or by that size (older releases), and then puts
language and task tokens in the prompt and can detect the language. ``multilingual=False``
keeps a few hundred text tokens: an English-only model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Whisper's language tokens, in the order of its vocabulary (large-v2; v3 adds "yue").
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su"
).split()
TASK_TOKENS = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
NUM_TIMESTAMPS = 1501  # 0.00 .. 30.00 s in 0.02 s steps
MULTILINGUAL_TEXT_TOKENS = 50257  # 50257 + 2 + 99 + 6 + 1501 = 51865
N_MELS = 80
ENCODER_POSITIONS = 1500  # 3000 mel frames of 30 s, halved by the second convolution
DECODER_POSITIONS = 448

_CORPUS = (
    "hello how are you today I would like a cup of coffee please turn on the lights "
    "good morning what time is it can you help me with my order the weather is nice "
    "thank you very much see you later bonjour merci beaucoup au revoir one two three "
    "four five six seven eight nine ten yes no maybe I do not know where is the station"
)
SAYS = "hello"
"""What a crafted model transcribes, whatever the audio."""
_NON_SPEECH = list('"#()*+/:;<=>@[\\]^_`{|}~')


def special_tokens() -> list[str]:
    """Whisper's added tokens after the text vocabulary, in id order."""
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGES),
        *TASK_TOKENS,
        *(f"<|{i * 0.02:.2f}|>" for i in range(NUM_TIMESTAMPS)),
    ]


def build_tokenizer(text_vocab_size: int | None = None) -> tuple[Tokenizer, int]:
    """A byte-level BPE tokenizer (GPT-2 style, like Whisper's) trained on a sentence or two.

    With ``text_vocab_size`` the text vocabulary is padded with filler word pieces up to that
    size. Returns ``(tokenizers.Tokenizer, number of text tokens)``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)

    if text_vocab_size is not None:
        data = json.loads(tok.to_str())
        vocab: dict[str, int] = data["model"]["vocab"]
        if len(vocab) > text_vocab_size:
            raise ValueError(f"text vocabulary already has {len(vocab)} tokens")
        i = 0
        while len(vocab) < text_vocab_size - 1:
            # Word-looking pieces made of byte-level characters ("Ġ" is the space).
            vocab.setdefault(f"Ġw{i}", len(vocab))
            i += 1
        # Whisper's multilingual vocabulary ends its text tokens with an empty token, and
        # CTranslate2 4.8 tells a multilingual model by it (older releases by the size).
        vocab[""] = len(vocab)
        tok = Tokenizer.from_str(json.dumps(data))
    n_text = tok.get_vocab_size()
    tok.add_special_tokens(special_tokens())
    return tok, n_text


def craft_decoder(
    dec: Any, tokens: list[str], text_ids: list[int], multilingual: bool, d_model: int
) -> None:
    """Make the decoder a fixed chain: prompt -> <|0.00|> -> text -> <|1.00|> -> end.

    With zero layer outputs and zero positions, the final hidden state is the layer norm of
    the previous token's embedding. Each token of the chain gets its own one-hot embedding
    (every other token shares one), and the projection row of each successor is aligned
    with its predecessor's normalised embedding: the successor wins by a wide margin, so
    greedy decoding, beam search and sampling at any fallback temperature all give the same
    tokens, with or without timestamp rules.
    """
    ids = {t: i for i, t in enumerate(tokens)}
    eot, t0, t1 = ids["<|endoftext|>"], ids["<|0.00|>"], ids["<|1.00|>"]
    # The last prompt token: the task token, or <|startoftranscript|> for English-only models;
    # <|notimestamps|> when faster-whisper decodes without timestamps.
    starts = [ids["<|transcribe|>"] if multilingual else ids["<|startoftranscript|>"]]
    starts.append(ids["<|notimestamps|>"])
    # (predecessor, successor, weight): a lower weight is the choice when the first one is
    # suppressed (timestamps when decoding without them).
    edges: list[tuple[int, int, float]] = []
    for s in starts:
        edges += [(s, t0, 1.0), (s, text_ids[0], 0.9)]
    edges.append((t0, text_ids[0], 1.0))
    edges += list(zip(text_ids, text_ids[1:], [1.0] * len(text_ids), strict=False))
    edges += [(text_ids[-1], t1, 1.0), (text_ids[-1], eot, 0.9), (t1, eot, 1.0)]
    if multilingual:
        # Language detection reads the token after <|startoftranscript|>: English.
        edges.append((ids["<|startoftranscript|>"], ids["<|en|>"], 1.0))
    states = sorted({p for p, _, _ in edges})
    other = len(states)  # every token outside the chain
    assert other < d_model, "chain longer than the model width"
    emb = np.zeros((len(tokens), d_model), dtype=np.float32)
    emb[:, other] = 1.0
    for k, tid in enumerate(states):
        emb[tid] = 0.0
        emb[tid, k] = 1.0

    def normed(v: np.ndarray) -> np.ndarray:
        c = v - v.mean()
        return c / np.sqrt((c * c).mean() + 1e-5)

    proj = np.zeros((len(tokens), d_model), dtype=np.float32)
    for p, succ, w in edges:
        proj[succ] += w * normed(emb[p])
    proj[eot] += normed(np.eye(d_model, dtype=np.float32)[other])
    proj *= 3.0  # margins of about 60 logits between a successor and the next best
    dec.embeddings.weight = emb
    dec.position_encodings.encodings = np.zeros((DECODER_POSITIONS, d_model), dtype=np.float32)
    dec.layer_norm.gamma = np.ones(d_model, dtype=np.float32)
    dec.layer_norm.beta = np.zeros(d_model, dtype=np.float32)
    dec.projection.weight = proj


def build_tiny_whisper(
    out_dir: Path,
    *,
    multilingual: bool = True,
    d_model: int = 64,
    heads: int = 2,
    encoder_layers: int = 1,
    decoder_layers: int = 2,
    seed: int = 0,
    quantization: str | None = "float16",
    says: str | None = SAYS,
) -> Path:
    """Write a Whisper model faster-whisper can load into ``out_dir``.

    The encoder has random weights. With ``says`` (the default) the decoder is crafted to
    transcribe any audio as that text, so tests can assert on words; ``says=None`` keeps a
    random decoder, whose output is garbage.
    """
    from ctranslate2.specs import whisper_spec

    out_dir.mkdir(parents=True, exist_ok=True)
    tok, n_text = build_tokenizer(MULTILINGUAL_TEXT_TOKENS if multilingual else None)
    vocab_size = tok.get_vocab_size()
    tokens = [tok.id_to_token(i) for i in range(vocab_size)]
    assert len(set(tokens)) == vocab_size and tokens[n_text] == "<|endoftext|>"
    assert tokens[-1] == "<|30.00|>"
    if multilingual:
        assert vocab_size == 51865, vocab_size

    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.05) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    def norm(spec: Any) -> None:
        spec.gamma = ones(d_model)
        spec.beta = zeros(d_model)

    def linear(spec: Any, out: int, inp: int, bias: bool = True) -> None:
        spec.weight = rand(out, inp)
        if bias:
            spec.bias = rand(out, scale=0.01)

    ffn = 4 * d_model

    def self_attention(att: Any) -> None:
        norm(att.layer_norm)
        linear(att.linear[0], 3 * d_model, d_model)  # fused q, k, v
        linear(att.linear[1], d_model, d_model)

    def feed_forward(spec: Any) -> None:
        norm(spec.layer_norm)
        linear(spec.linear_0, ffn, d_model)
        linear(spec.linear_1, d_model, ffn)

    spec = whisper_spec.WhisperSpec(encoder_layers, heads, decoder_layers, heads)

    enc = spec.encoder
    enc.conv1.weight = rand(d_model, N_MELS, 3)
    enc.conv1.bias = rand(d_model, scale=0.01)
    enc.conv2.weight = rand(d_model, d_model, 3)
    enc.conv2.bias = rand(d_model, scale=0.01)
    enc.position_encodings.encodings = rand(ENCODER_POSITIONS, d_model)
    norm(enc.layer_norm)
    for layer in enc.layer:
        self_attention(layer.self_attention)
        feed_forward(layer.ffn)

    dec = spec.decoder
    dec.embeddings.weight = rand(vocab_size, d_model)
    dec.position_encodings.encodings = rand(DECODER_POSITIONS, d_model)
    norm(dec.layer_norm)
    linear(dec.projection, vocab_size, d_model, bias=False)
    if says is not None:
        # A decoder whose next token depends on the previous one only (see craft_decoder):
        # every layer's output projection is zero, so the residual stream is the embedding.
        craft_decoder(dec, tokens, tok.encode(" " + says.strip()).ids, multilingual, d_model)
    for layer in dec.layer:
        self_attention(layer.self_attention)
        cross = layer.attention
        norm(cross.layer_norm)
        linear(cross.linear[0], d_model, d_model)  # queries
        linear(cross.linear[1], 2 * d_model, d_model)  # fused keys, values of the audio
        linear(cross.linear[2], d_model, d_model)
        feed_forward(layer.ffn)
        if says is not None:
            for out in (layer.self_attention.linear[1], cross.linear[2], layer.ffn.linear_1):
                out.weight = np.zeros_like(out.weight)
                out.bias = np.zeros_like(out.bias)

    spec.register_vocabulary(tokens)
    ids = {t: i for i, t in enumerate(tokens)}
    eot = ids["<|endoftext|>"]
    cfg = spec.config
    cfg.suppress_ids = sorted({ids[c] for c in _NON_SPEECH if c in ids})
    cfg.suppress_ids_begin = [ids["Ġ"], eot]
    cfg.lang_ids = [ids[f"<|{code}|>"] for code in LANGUAGES]
    # Like the converter's default: every head of the last half of the decoder layers.
    cfg.alignment_heads = [
        [layer, head]
        for layer in range(decoder_layers // 2, decoder_layers)
        for head in range(heads)
    ]

    spec.validate()
    spec.optimize(quantization=quantization)
    spec.save(str(out_dir))

    tok.save(str(out_dir / "tokenizer.json"))
    (out_dir / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "chunk_length": 30,
                "feature_extractor_type": "WhisperFeatureExtractor",
                "feature_size": N_MELS,
                "hop_length": 160,
                "n_fft": 400,
                "n_samples": 480000,
                "nb_max_frames": 3000,
                "padding_side": "right",
                "padding_value": 0.0,
                "processor_class": "WhisperProcessor",
                "return_attention_mask": False,
                "sampling_rate": 16000,
            },
            indent=2,
        )
    )
    return out_dir


if __name__ == "__main__":  # python -m tests.whisper_model OUT_DIR
    import sys
    import time

    t0 = time.perf_counter()
    path = build_tiny_whisper(Path(sys.argv[1]), multilingual="--en" not in sys.argv)
    print(f"built {path} in {time.perf_counter() - t0:.2f}s")
