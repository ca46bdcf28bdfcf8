"""The trained router on disk: a readable JSON document plus an ``.npz`` of weight arrays (no pickle).

The JSON records everything needed to trust and reproduce a model: schema version, feature configuration,
which data trained it (hash and split rule, so evaluation can select the held-out rows), and the calibration
table. The arrays file is named in the JSON and checked by SHA-256 so a JSON never pairs with stale weights.
Anything wrong raises ``ArtifactError`` with the path and the fix; the proxy adapter catches it and serves
its default tier instead of routing on a broken model.

Schema 2 is schema 1 plus a ``blend`` section (``routing/blend.py``: a second opinion mixed into the score, whose
calibration table is measured on the blended score). Only an artifact with a blend is written as schema 2, so a
costroute that predates blends refuses it (and keeps serving what it has) instead of serving the calibration of
a blended score with the unblended one; an artifact without a blend is written and read exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.routing.calibration import CalibrationEntry
from costroute_plugins.routing.features import STRUCTURAL_NAMES, HashingConfig
from costroute_plugins.routing.outcomes import SplitRule

SCHEMA_VERSION = 1
BLEND_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (SCHEMA_VERSION, BLEND_SCHEMA_VERSION)
KIND = "costroute-router-logistic"
ARRAY_NAMES = ("idf", "w_text", "w_embedding", "embedding_mean", "w_structural", "structural_mean",
               "structural_scale")
BLEND_ARRAY_NAMES = ("blend_self_quantiles", "blend_other_quantiles")


def default_artifact_path() -> Path:
    """The artifact shipped with the package, trained on RouteLLM's GSM8K + MMLU outcomes."""
    return Path(__file__).with_name("artifacts") / "default.json"


@dataclass(frozen=True)
class Blend:
    """The artifact's second opinion: score = ``(1 - weight) * F_self(router score) + weight * F_other(its score)``,
    each F the empirical CDF given by quantiles at evenly spaced probabilities (``routing/blend.py``)."""

    opinion: str
    weight: float
    self_quantiles: np.ndarray
    other_quantiles: np.ndarray

    def __post_init__(self) -> None:
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"blend weight {self.weight} is not in (0, 1]; an unblended router has no blend")
        for name, values in (("self", self.self_quantiles), ("other", self.other_quantiles)):
            if values.ndim != 1 or len(values) < 2 or np.any(np.diff(values) < 0):
                raise ValueError(f"blend {name}_quantiles must be an ascending 1-D array of 2 or more values")

    def to_json(self) -> dict[str, Any]:
        return {"second_opinion": self.opinion, "weight": self.weight,
                "score": "(1 - weight) * F_self(router score) + weight * F_other(second opinion score); F = the "
                         "empirical CDF of arrays blend_self_quantiles / blend_other_quantiles",
                "quantiles": len(self.self_quantiles)}

    @classmethod
    def from_json(cls, section: dict[str, Any], arrays: dict[str, np.ndarray]) -> Blend:
        return cls(opinion=str(section["second_opinion"]), weight=float(section["weight"]),
                   self_quantiles=arrays["blend_self_quantiles"], other_quantiles=arrays["blend_other_quantiles"])


@dataclass(frozen=True)
class RouterArtifact:
    """A logistic-regression router: ``sigmoid(intercept + w . features)`` over three feature blocks."""

    cheap_model: str
    premium_model: str
    hashing: HashingConfig
    embedding_model: str
    intercept: float
    arrays: dict[str, np.ndarray]
    split: SplitRule = field(default_factory=SplitRule)
    calibration: tuple[CalibrationEntry, ...] = ()
    training: dict[str, Any] = field(default_factory=dict)
    structural_names: tuple[str, ...] = STRUCTURAL_NAMES
    blend: Blend | None = None

    def calibration_entry(self, target: str) -> CalibrationEntry | None:
        return next((entry for entry in self.calibration if entry.target == target), None)

    def with_calibration(self, entry: CalibrationEntry) -> RouterArtifact:
        """A copy whose table holds ``entry``, replacing an entry for the same target."""
        kept = tuple(e for e in self.calibration if e.target != entry.target)
        return replace(self, calibration=tuple(sorted((*kept, entry), key=lambda e: e.target)))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_artifact(artifact: RouterArtifact, path: str | os.PathLike[str]) -> Path:
    """Write ``<path>`` (JSON) and ``<stem>.npz`` beside it; returns the JSON path."""
    path = Path(path)
    if path.suffix != ".json":
        raise ArtifactError(f"{path}: an artifact path ends in .json (its arrays go beside it as .npz)")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays_path = path.with_suffix(".npz")
    blend = artifact.blend
    stored = dict(artifact.arrays)
    if blend is not None:
        stored.update(blend_self_quantiles=blend.self_quantiles, blend_other_quantiles=blend.other_quantiles)
    # numpy's stub: a **dict might hold allow_pickle (bool); the arrays' names never do.
    np.savez_compressed(arrays_path, **stored)  # type: ignore[arg-type]
    document = {
        "schema_version": SCHEMA_VERSION if blend is None else BLEND_SCHEMA_VERSION,
        "kind": KIND,
        "models": {"cheap": artifact.cheap_model, "premium": artifact.premium_model},
        "label": "needs_premium = premium score > cheap score (cheap is sufficient when it scores at least as well)",
        "features": {
            "hashing": artifact.hashing.to_json(),
            "structural": list(artifact.structural_names),
            "embedding": {"model": artifact.embedding_model, "dim": int(artifact.arrays["w_embedding"].shape[0])},
        },
        "intercept": artifact.intercept,
        "arrays": {"file": arrays_path.name, "sha256": _sha256(arrays_path)},
        "split": {"method": "sha256(salt + request text) % 100", **vars(artifact.split)},
        "calibration": [entry.to_json() for entry in artifact.calibration],
        "training": artifact.training,
        **({"blend": blend.to_json()} if blend is not None else {}),
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _read_document(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ArtifactError(f"router artifact {path} does not exist; train one with `costroute train-router` "
                            "or point the router at the shipped default")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"router artifact {path} is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ArtifactError(f"router artifact {path} is not a {KIND} document")
    version = document.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ArtifactError(f"router artifact {path} has schema_version {version!r}; this costroute reads "
                            f"versions {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}. Retrain it with "
                            "`costroute train-router`")
    if (version == BLEND_SCHEMA_VERSION) != ("blend" in document):
        raise ArtifactError(f"router artifact {path}: schema_version {version} and a blend section go together "
                            f"(schema {BLEND_SCHEMA_VERSION} has one, schema {SCHEMA_VERSION} none)")
    return document


def _read_arrays(path: Path, document: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays_path = path.with_name(document["arrays"]["file"])
    if not arrays_path.is_file():
        raise ArtifactError(f"router artifact {path} names arrays file {arrays_path}, which does not exist")
    if _sha256(arrays_path) != document["arrays"]["sha256"]:
        raise ArtifactError(f"{arrays_path} does not match the checksum recorded in {path}; "
                            "the JSON and the arrays come from different trainings")
    names = (*ARRAY_NAMES, *(BLEND_ARRAY_NAMES if "blend" in document else ()))
    with np.load(arrays_path, allow_pickle=False) as stored:
        missing = [name for name in names if name not in stored.files]
        if missing:
            raise ArtifactError(f"{arrays_path} lacks arrays {missing}")
        return {name: stored[name] for name in names}


def load_artifact(path: str | os.PathLike[str] | None = None) -> RouterArtifact:
    """Read and validate an artifact; ``None`` loads the shipped default."""
    path = Path(path) if path is not None else default_artifact_path()
    document = _read_document(path)
    try:
        hashing = HashingConfig.from_json(document["features"]["hashing"])
        arrays = _read_arrays(path, document)
        blend = Blend.from_json(document["blend"], arrays) if "blend" in document else None
        arrays = {name: arrays[name] for name in ARRAY_NAMES}
        structural = tuple(document["features"]["structural"])
        artifact = RouterArtifact(
            cheap_model=document["models"]["cheap"],
            premium_model=document["models"]["premium"],
            hashing=hashing,
            embedding_model=document["features"]["embedding"]["model"],
            intercept=float(document["intercept"]),
            arrays=arrays,
            split=SplitRule(**{k: v for k, v in document["split"].items() if k != "method"}),
            calibration=tuple(CalibrationEntry(**entry) for entry in document["calibration"]),
            training=document.get("training", {}),
            structural_names=structural,
            blend=blend,
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(f"router artifact {path} is incomplete or malformed ({error!r})") from None
    if structural != STRUCTURAL_NAMES:
        raise ArtifactError(f"router artifact {path} was trained on different structural features; retrain it")
    expected = {"idf": hashing.dim, "w_text": hashing.dim, "w_structural": len(STRUCTURAL_NAMES)}
    for name, size in expected.items():
        if artifact.arrays[name].shape != (size,):
            raise ArtifactError(f"router artifact {path}: array {name} has shape {artifact.arrays[name].shape}, "
                                f"expected ({size},)")
    return artifact
