"""What the chapter 8 checks send: probe images, workflows, chat prompts and a model artefact.

Pure Python (zlib, struct, json): a check must not need Pillow or numpy on the
evaluator's machine.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections import Counter, defaultdict
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Colours a person's favourite-colour fact is drawn from (common words any model knows).
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a complete PNG (signature, IHDR, IEND), else None."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def scale_invert_workflow(image: str, width: int, height: int, prefix: str) -> dict[str, Any]:
    """ComfyUI API format: load ``image``, scale to width×height, invert, save."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageScale", "inputs": {
            "image": ["1", 0], "upscale_method": "bilinear", "width": width, "height": height,
            "crop": "disabled"}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0],
                                                    "filename_prefix": prefix}},
    }


def generated_workflow(width: int, height: int, color: int, prefix: str) -> dict[str, Any]:
    """ComfyUI API format that needs no input file: an empty image, inverted, saved."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": height,
                                                     "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                    "filename_prefix": prefix}},
    }


def held_workflow(color: int, rounds: int, prefix: str) -> dict[str, Any]:
    """ComfyUI API format that takes time on any server: a 1024×1024 image scaled up to
    2048×2048 and back ``rounds`` times with Lanczos (done by Pillow on the CPU, by
    ComfyUI and the sandbox alike), then scaled to 8×8 and saved.

    The colour makes each prompt differ, so that no server serves it from its cache.
    """
    graph: dict[str, Any] = {"1": {"class_type": "EmptyImage", "inputs": {
        "width": 1024, "height": 1024, "batch_size": 1, "color": color & 0xFFFFFF}}}
    previous = "1"
    for step in range(2 * rounds + 1):
        side = 8 if step == 2 * rounds else (2048 if step % 2 == 0 else 1024)
        node = str(step + 2)
        graph[node] = {"class_type": "ImageScale", "inputs": {
            "image": [previous, 0], "upscale_method": "lanczos", "width": side,
            "height": side, "crop": "disabled"}}
        previous = node
    graph[str(2 * rounds + 3)] = {"class_type": "SaveImage", "inputs": {
        "images": [previous, 0], "filename_prefix": prefix}}
    return graph


_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tinylm_words(text: str) -> set[str]:
    """The words and punctuation of ``text`` as the ``sca-tinylm/1`` format tokenizes it."""
    return set(_TOKEN.findall(text.lower()))


def tinylm_artifact(sentences: list[str]) -> str:
    """A tiny bigram language model in the ``sca-tinylm/1`` JSON format.

    The open format the reference platform imports (docs/chapter08.md): a
    vocabulary with ``<eos>`` and ``<unk>``, bigram logits, a context matrix
    (zero here) and a bias. Log-counts of the sentences' bigrams.
    """
    sequences = [_TOKEN.findall(s.lower()) + ["<eos>"] for s in sentences]
    vocab = ["<eos>", "<unk>", *sorted({t for s in sequences for t in s} - {"<eos>"})]
    index = {t: i for i, t in enumerate(vocab)}
    follows: dict[int, Counter[int]] = defaultdict(Counter)
    for seq in sequences:
        for prev, nxt in zip(["<eos>", *seq], seq, strict=False):
            follows[index[prev]][index[nxt]] += 1
    size = len(vocab)
    bigram = [[0.0] * size for _ in range(size)]
    for prev, counts in follows.items():
        for nxt, count in counts.items():
            bigram[prev][nxt] = round(2.0 * count, 3)
    # After a word the model never saw (a chat template's role marker), start a sentence.
    bigram[index["<unk>"]] = list(bigram[index["<eos>"]])
    return json.dumps({"format": "sca-tinylm/1", "vocab": vocab, "bigram": bigram,
                       "context": [[0.0] * size for _ in range(size)], "bias": [0.0] * size})
