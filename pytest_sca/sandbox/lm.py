"""The sandbox's language model: a tiny word-level neural model that really generates.

Why not SmolLM2 through llama.cpp: llama-cpp-python ships no wheel on PyPI and
compiles for ~6 min on 2 cores, too slow for the README's first command
(docs/chapter08.md). This model trains in about a second on a small built-in
corpus, answers through the OpenAI-compatible API, and fine-tunes for real on
a user's JSONL (gradient steps, logged loss, changed outputs).

The next-token logits are ``B[previous token] + C^T·ctx + b``, where ``ctx``
is the set of the tokens seen so far (prompt and generated) scaled by
1/sqrt(count): a bigram model plus a bag-of-context term, which is what lets
it recall a fact stated in an earlier turn of a chat. Trained with Adam on
the cross-entropy of every next token.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EOS = "<eos>"
UNK = "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_NO_SPACE_BEFORE = {".", ",", "?", "!", ":", ";", "'"}

Message = dict[str, str]


def tokenize(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def detokenize(tokens: Iterable[str]) -> str:
    """Words joined by spaces, punctuation attached to the word before it."""
    text = ""
    for token in tokens:
        text += token if (not text or token in _NO_SPACE_BEFORE) else " " + token
    return text


def chat_tokens(messages: Sequence[Message], *, history: bool = True) -> list[str]:
    """The prompt of a chat: ``role : content <eos>`` per message, then ``assistant :``."""
    kept = messages if history else [m for m in messages if m.get("role") == "user"][-1:]
    tokens: list[str] = []
    for message in kept:
        tokens += [message.get("role", "user"), ":", *tokenize(message.get("content") or ""), EOS]
    return tokens + ["assistant", ":"]


def _corpus() -> list[list[Message]]:
    """Small dialogues the preset models learn from: greetings, facts, recall of a stated fact."""
    dialogues: list[list[Message]] = []

    def chat(*turns: str) -> None:
        roles = ("user", "assistant")
        dialogues.append([{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)])

    chat("hello", "hello! i am a tiny language model of the sca sandbox. how can i help?")
    chat("hi", "hello! how can i help you today?")
    chat("say hello", "hello! nice to meet you.")
    chat("who are you?", "i am a tiny language model served by the sca sandbox.")
    chat("what can you do?", "i can chat, remember what you tell me and answer short questions.")
    chat("tell me a fact", "the sandbox trains me in about one second on a small text.")
    chat("what is the capital of france?", "the capital of france is paris.")
    chat("what is two plus two?", "two plus two is four.")
    chat("thank you", "you are welcome!")
    facts = {
        "colour": ["red", "blue", "green", "yellow", "orange", "purple", "black", "white",
                   "pink", "brown", "grey", "gold"],
        "animal": ["cat", "dog", "horse", "rabbit", "tiger", "panda", "eagle", "dolphin"],
        "city": ["paris", "london", "tokyo", "beijing", "shanghai", "berlin", "rome", "madrid"],
    }
    for kind, values in facts.items():
        for value in values:
            chat(f"my favourite {kind} is {value}.",
                 f"noted, your favourite {kind} is {value}.",
                 f"what is my favourite {kind}?",
                 f"your favourite {kind} is {value}.")
            chat(f"i like {value}. remember my favourite {kind}.",
                 f"i will remember that your favourite {kind} is {value}.",
                 f"which {kind} did i tell you?",
                 f"you told me your favourite {kind} is {value}.")
    return dialogues


def dialogue_tokens(messages: Sequence[Message]) -> list[str]:
    """A whole dialogue as one training sequence."""
    tokens: list[str] = []
    for message in messages:
        tokens += [message["role"], ":", *tokenize(message["content"]), EOS]
    return tokens


@dataclass
class TinyLM:
    """Vocabulary and weights of one model; generation and training steps."""

    vocab: list[str]
    bigram: np.ndarray
    context: np.ndarray
    bias: np.ndarray
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {token: i for i, token in enumerate(self.vocab)}

    @classmethod
    def empty(cls, vocab: Iterable[str]) -> TinyLM:
        """Zero weights over ``vocab`` (plus the special tokens)."""
        words = [EOS, UNK, *sorted(set(vocab) - {EOS, UNK})]
        size = len(words)
        zeros = np.zeros((size, size), dtype=np.float32)
        return cls(words, zeros, zeros.copy(), np.zeros(size, dtype=np.float32))

    @property
    def parameters(self) -> int:
        """The number of weights."""
        return int(self.bigram.size + self.context.size + self.bias.size)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def extend(self, tokens: Iterable[str]) -> None:
        """Add unseen tokens (zero weights), as fine-tuning on new words needs."""
        new = sorted(set(tokens) - set(self.index))
        if not new:
            return
        grow = len(new)
        self.vocab += new
        self.bigram = np.pad(self.bigram, ((0, grow), (0, grow)))
        self.context = np.pad(self.context, ((0, grow), (0, grow)))
        self.bias = np.pad(self.bias, (0, grow))
        self.index = {token: i for i, token in enumerate(self.vocab)}

    # generation ----------------------------------------------------------------------

    def _logits(self, prev: int, seen: np.ndarray, count: int) -> np.ndarray:
        ctx_term = seen @ self.context / np.sqrt(max(count, 1))
        return self.bigram[prev] + ctx_term + self.bias

    def generate(self, prompt: Sequence[str], *, max_tokens: int, temperature: float = 0.0,
                 seed: int | None = None) -> tuple[list[str], str]:
        """Tokens after ``prompt`` and the finish reason (``stop`` at <eos>, else ``length``)."""
        ids = self.ids(prompt)
        seen = np.zeros(len(self.vocab), dtype=np.float32)
        seen[ids] = 1.0
        rng = np.random.default_rng(seed)
        out: list[str] = []
        eos, unk = self.index[EOS], self.index[UNK]
        prev = ids[-1] if ids else eos
        while len(out) < max_tokens:
            logits = self._logits(prev, seen, int(seen.sum()))
            logits[unk] = -np.inf
            if temperature <= 0:
                nxt = int(np.argmax(logits))
            else:
                scaled = (logits - logits.max()) / temperature
                probs = np.exp(scaled)
                nxt = int(rng.choice(len(probs), p=probs / probs.sum()))
            if nxt == eos:
                return out, "stop"
            out.append(self.vocab[nxt])
            seen[nxt] = 1.0
            prev = nxt
        return out, "length"

    # training ------------------------------------------------------------------------

    def train(self, sequences: Sequence[Sequence[str]], steps: int, *, lr: float = 0.08,
              on_step: Callable[[int, float], None] | None = None) -> list[float]:
        """Adam steps on the next-token cross-entropy of ``sequences``; the loss of each step."""
        prevs, targets, rows = [], [], []
        for sequence in sequences:
            ids = self.ids(sequence)
            seen: set[int] = set()
            for position in range(1, len(ids)):
                seen.add(ids[position - 1])
                prevs.append(ids[position - 1])
                targets.append(ids[position])
                rows.append(sorted(seen))
        size, count = len(self.vocab), len(targets)
        ctx = np.zeros((count, size), dtype=np.float32)
        for row, seen_ids in enumerate(rows):
            ctx[row, seen_ids] = 1.0 / np.sqrt(len(seen_ids))
        prev_idx, target_idx = np.array(prevs), np.array(targets)
        weights = [self.bigram, self.context, self.bias]
        moments = [(np.zeros_like(w), np.zeros_like(w)) for w in weights]
        losses: list[float] = []
        for step in range(1, steps + 1):
            logits = self.bigram[prev_idx] + ctx @ self.context + self.bias
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            loss = float(-np.log(probs[np.arange(count), target_idx] + 1e-9).mean())
            grad = probs
            grad[np.arange(count), target_idx] -= 1.0
            grad /= count
            g_bigram = np.zeros_like(self.bigram)
            np.add.at(g_bigram, prev_idx, grad)
            grads = [g_bigram, ctx.T @ grad, grad.sum(axis=0)]
            for weight, g, (m, v) in zip(weights, grads, moments, strict=True):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                weight -= lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
            losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
        return losses

    def copy(self) -> TinyLM:
        return TinyLM(list(self.vocab), self.bigram.copy(), self.context.copy(), self.bias.copy())

    # artefacts -------------------------------------------------------------------------

    def huggingface_files(self, context_length: int) -> dict[str, bytes]:
        """The model as a Hugging Face repository holds one: ``config.json`` (its vocabulary,
        context length and weight dtype) and ``model.safetensors`` (its weights as float32
        tensors: an 8-byte little-endian header length, the JSON header, the data)."""
        config = {"architectures": ["ScaTinyLM"], "model_type": "sca-tinylm",
                  "vocab_size": len(self.vocab), "max_position_embeddings": context_length,
                  "torch_dtype": "float32"}
        tensors = {"bigram": self.bigram, "context": self.context, "bias": self.bias}
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, array in tensors.items():
            size = int(array.size) * 4
            header[name] = {"dtype": "F32", "shape": list(array.shape),
                            "data_offsets": [offset, offset + size]}
            offset += size
        encoded = json.dumps(header).encode()
        encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
        weights = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes()
                           for a in tensors.values())
        return {"config.json": json.dumps(config, indent=2).encode(),
                "model.safetensors": len(encoded).to_bytes(8, "little") + encoded + weights}

    def to_json(self) -> str:
        """The model as a JSON artefact (format ``sca-tinylm/1``)."""
        return json.dumps({"format": "sca-tinylm/1", "vocab": self.vocab,
                           "bigram": self.bigram.round(4).tolist(),
                           "context": self.context.round(4).tolist(),
                           "bias": self.bias.round(4).tolist()})

    @classmethod
    def from_json(cls, text: str | bytes) -> TinyLM:
        """Load an ``sca-tinylm/1`` artefact; ValueError with the reason if it is not one."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the artefact is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != "sca-tinylm/1":
            raise ValueError("the artefact is not in the sca-tinylm/1 format")
        try:
            vocab = [str(t) for t in data["vocab"]]
            size = len(vocab)
            bigram = np.asarray(data["bigram"], dtype=np.float32).reshape(size, size)
            context = np.asarray(data["context"], dtype=np.float32).reshape(size, size)
            bias = np.asarray(data["bias"], dtype=np.float32).reshape(size)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the artefact's weights do not fit its vocabulary: {exc}") from None
        if EOS not in vocab or UNK not in vocab:
            raise ValueError(f"the artefact's vocabulary lacks {EOS} or {UNK}")
        return cls(vocab, bigram, context, bias)


#: preset model id → training steps (the two presets differ in how long they trained).
PRESETS: dict[str, int] = {"sca-tinychat": 160, "sca-tinychat-mini": 60}
#: The longest prompt + completion a preset accepts, in tokens.
CONTEXT_LENGTH = 512


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-sca"


def train_preset(model_id: str) -> TinyLM:
    """The preset model, trained on the built-in corpus (cached by corpus and steps)."""
    steps = PRESETS[model_id]
    dialogues = [dialogue_tokens(d) for d in _corpus()]
    digest = hashlib.sha256(json.dumps([dialogues, steps]).encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{model_id}-{digest}.json"
    try:
        return TinyLM.from_json(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    model = TinyLM.empty(token for d in dialogues for token in d)
    model.train(dialogues, steps)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        partial.write_text(model.to_json(), encoding="utf-8")
        os.replace(partial, cached)
    except OSError:
        pass  # a read-only home only costs the next start a second of training
    return model


class PresetModels:
    """The preset models, trained in a background thread at start-up."""

    def __init__(self) -> None:
        self._models: dict[str, TinyLM] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._train, name="sandbox-lm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _train(self) -> None:
        try:
            for model_id in PRESETS:
                self._models[model_id] = train_preset(model_id)
        finally:
            self._ready.set()

    def get(self, model_id: str, timeout: float = 60.0) -> TinyLM | None:
        """The trained preset, waiting (bounded) for training to finish; None if unknown."""
        if model_id not in PRESETS:
            return None
        if not self._ready.wait(timeout):
            raise TimeoutError("the preset models are still training")
        return self._models.get(model_id)


def load_jsonl_dialogues(text: str) -> list[list[Message]]:
    """Fine-tuning data: one JSON object a line, ``{messages: [...]}`` or ``{prompt, completion}``.

    ValueError naming the line for anything else.
    """
    dialogues: list[list[Message]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number} is not JSON") from None
        if isinstance(record, dict) and isinstance(record.get("messages"), list):
            messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                        for m in record["messages"] if isinstance(m, dict)]
        elif isinstance(record, dict) and "prompt" in record and "completion" in record:
            messages = [{"role": "user", "content": str(record["prompt"])},
                        {"role": "assistant", "content": str(record["completion"])}]
        else:
            raise ValueError(f"line {number} has neither messages nor prompt/completion")
        dialogues.append(messages)
    if not dialogues:
        raise ValueError("the training file has no examples")
    return dialogues
