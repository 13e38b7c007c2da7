"""The index manifest (`manifest.json`): what a build was made from and how, in one typed value.

Every reader goes through `Manifest`: the builder writes one, `load_index` reads and validates one,
the scorer, the API's health answer and the rebuild check read its fields by name. The JSON layout
stays flat (the scoring signature's keys at the top level) so indexes already on disk still load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kb.errors import IndexDamaged, IndexStale
from kb.retrieval.scoring import scoring_signature

FORMAT = 6
"""2: cards carry `review_due`; 3: vectors of the questions the guides do not answer (outside.faiss,
their texts in the manifest); 4: the card classifier (classifier.faiss, its parts and intercepts in
the manifest; how it is trained is its VERSION, part of `scoring_signature`); 5: the classifier's
view of the letters (characters.faiss); 6: cards carry `action`, `limit` and `legal`, and the action and
the limit are embedded with the card. An index in another format or of another scoring is reported
stale, never misread."""
REBUILD = "Reconstruye con 'kb build --index-only'."
FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """One build's record. `scoring` is the scorer's signature when it was built (kb.retrieval.scoring):
    an index whose signature differs from the running code's is stale."""

    model: str
    dim: int
    count: int
    calibration: Mapping[str, Any]
    engine: str = ""
    format: int = FORMAT
    kb_version: str = ""
    situations: int = 0
    scoring: Mapping[str, object] = field(default_factory=scoring_signature)
    classifier: Mapping[str, Any] | None = None
    index_type: str = "flat"
    built_at: str = ""
    docs: str = ""
    """Fingerprint of the guides it was built from (kb.retrieval.store.docs_fingerprint)."""
    cards: Mapping[str, str] = field(default_factory=dict)
    """card id → content hash: what a rebuild may reuse."""
    synonyms: Mapping[str, list[str]] = field(default_factory=dict)
    synonyms_hash: str = ""
    outside: tuple[str, ...] = ()
    """The out-of-scope questions, in the rows of outside.faiss."""
    files: Mapping[str, str] = field(default_factory=dict)
    """data file → sha256, filled in when the build folder is complete."""

    @property
    def threshold(self) -> float:
        return float(self.calibration["threshold"])

    @property
    def current_scoring(self) -> bool:
        return dict(self.scoring) == scoring_signature()

    def with_(self, **changes: Any) -> Manifest:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("scoring"))
        out["outside"] = list(self.outside)
        return out

    @classmethod
    def from_json(cls, raw: Any) -> Manifest:
        """Validate a parsed manifest.json; raises ValueError/TypeError/KeyError when it is malformed."""
        if not isinstance(raw, dict):
            raise TypeError("manifest")
        outside = raw.get("outside") or []
        if not isinstance(outside, list) or not all(isinstance(q, str) for q in outside):
            raise ValueError("outside")
        files = raw["files"]
        if not isinstance(files, dict):
            raise TypeError("files")
        manifest = cls(
            model=str(raw["model"]),
            dim=int(raw["dim"]),
            count=int(raw["count"]),
            calibration=dict(raw["calibration"]),
            engine=str(raw.get("engine", "")),
            format=int(raw.get("format", 0)),
            kb_version=str(raw.get("kb_version", "")),
            situations=int(raw.get("situations", 0)),
            scoring={key: raw.get(key) for key in scoring_signature()},
            classifier=raw.get("classifier"),
            index_type=str(raw.get("index_type", "flat")),
            built_at=str(raw.get("built_at", "")),
            docs=str(raw.get("docs", "")),
            cards=dict(raw.get("cards") or {}),
            synonyms=dict(raw.get("synonyms") or {}),
            synonyms_hash=str(raw.get("synonyms_hash", "")),
            outside=tuple(outside),
            files=dict(files),
        )
        manifest.threshold  # noqa: B018 - a threshold that is not a number is a damaged manifest
        return manifest

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of a build folder; IndexDamaged when missing or unreadable, IndexStale when
        it is of another format."""
        try:
            raw = json.loads((folder / FILE).read_text(encoding="utf-8"))
            if isinstance(raw, dict) and raw.get("format") != FORMAT:
                raise IndexStale(f"El índice tiene un formato antiguo. {REBUILD}")
            return cls.from_json(raw)
        except FileNotFoundError:
            raise IndexDamaged(f"Falta el manifiesto del índice. {REBUILD}") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise IndexDamaged(f"El manifiesto del índice está dañado. {REBUILD}") from None

    def write(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
