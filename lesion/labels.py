"""The seven HAM10000 diagnoses, in the one order every model output follows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Diagnosis:
    code: str
    name: str
    explanation: str
    malignant: bool
    """Malignant or pre-malignant: a lesion a doctor should see."""

    @property
    def display_name(self) -> str:
        """The label users see, for example "Melanoma (mel)"."""
        return f"{self.name} ({self.code})"


DIAGNOSES: tuple[Diagnosis, ...] = (
    Diagnosis(
        "akiec",
        "Actinic keratosis / intraepithelial carcinoma",
        "Rough, scaly sun damage (actinic keratosis) or Bowen's disease; can progress to squamous cell carcinoma.",
        True,
    ),
    Diagnosis(
        "bcc",
        "Basal cell carcinoma",
        "The most common skin cancer; grows slowly and rarely spreads, but needs treatment.",
        True,
    ),
    Diagnosis(
        "bkl",
        "Benign keratosis",
        "Seborrhoeic keratosis, solar lentigo or lichen-planus-like keratosis: harmless, but can mimic melanoma.",
        False,
    ),
    Diagnosis(
        "df",
        "Dermatofibroma",
        "A harmless firm nodule of the skin, often on the legs.",
        False,
    ),
    Diagnosis(
        "mel",
        "Melanoma",
        "A dangerous cancer of pigment cells; found early, it is usually curable.",
        True,
    ),
    Diagnosis(
        "nv",
        "Melanocytic nevus",
        "A common mole: a benign growth of pigment cells.",
        False,
    ),
    Diagnosis(
        "vasc",
        "Vascular lesion",
        "Cherry angioma, angiokeratoma, pyogenic granuloma or haemorrhage: benign blood-vessel lesions.",
        False,
    ),
)

CODES: tuple[str, ...] = tuple(d.code for d in DIAGNOSES)
BY_CODE: dict[str, Diagnosis] = {d.code: d for d in DIAGNOSES}
DISPLAY_NAMES: tuple[str, ...] = tuple(d.display_name for d in DIAGNOSES)


def read_labelled_folder(folder: Path) -> list[tuple[Path, str]]:
    """(image path, diagnosis code) for each row of folder/labels.csv (`file_name,dx`, the imagefolder layout).

    Raises:
        FileNotFoundError: no labels.csv.
        ValueError: a diagnosis outside CODES.
    """
    table = Path(folder) / "labels.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{folder} has no labels.csv (columns file_name,dx)")
    with open(table, newline="") as file:
        rows = [(Path(folder) / row["file_name"], row["dx"]) for row in csv.DictReader(file)]
    unknown = sorted({dx for _, dx in rows} - set(CODES))
    if unknown:
        raise ValueError(f"{table} has diagnoses {unknown} outside {CODES}")
    return rows


def check_codes(codes) -> None:
    """Raise ValueError unless `codes` is exactly the project's label order."""
    if tuple(codes) != CODES:
        raise ValueError(f"label order {tuple(codes)} differs from lesion.labels.CODES {CODES}; retrain or fix the bundle's config.json")
