"""A model bundle: a folder with `model.tflite` and the `config.json` that says how to feed and read it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lesion.labels import check_codes
from lesion.preprocess import InputSpec

CONFIG_FILE = "config.json"
MODEL_FILE = "model.tflite"
BROWSER_DIR = "browser"
"""A bundle's sub-folder with its browser variant: the same int8 network with float32 input and outputs and a batch of
one, for LiteRT.js (training.export)."""
REQUIRED_KEYS = ("name", "version", "quantization", "labels", "input", "sha256")
BUNDLED_DIR = Path(__file__).parent / "bundled_model"
"""The default model, committed with the code, served when the Hub cannot provide one."""


class InvalidBundleError(ValueError):
    """A bundle's files are missing, inconsistent or do not match their checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelBundle:
    directory: Path
    config: dict

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec.from_config(self.config)

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def version(self) -> str:
        """Human version plus the first 12 hex digits of the model file's sha256."""
        return f"{self.config['version']}+{self.config['sha256'][:12]}"

    @property
    def size_mb(self) -> float:
        return self.model_path.stat().st_size / 1e6


def load_bundle(directory: str | Path) -> ModelBundle:
    """Read and check a bundle: config present, labels in the project's order, model file matching its sha256.

    Raises:
        InvalidBundleError: with a sentence that names the file at fault.
    """
    directory = Path(directory)
    config_path, model_path = directory / CONFIG_FILE, directory / MODEL_FILE
    for path in (config_path, model_path):
        if not path.is_file():
            raise InvalidBundleError(f"model bundle {directory} has no {path.name}")
    try:
        config = json.loads(config_path.read_text())
        check_codes(config["labels"])
        InputSpec.from_config(config)
        missing = [key for key in REQUIRED_KEYS if key not in config]
        if missing:
            raise KeyError(f"missing {missing}")
        expected = config["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidBundleError(f"{config_path} is not a valid bundle config: {error}") from None
    actual = sha256_of(model_path)
    if actual != expected:
        raise InvalidBundleError(f"{model_path} has sha256 {actual[:12]}…, but {CONFIG_FILE} expects {expected[:12]}…")
    return ModelBundle(directory, config)
