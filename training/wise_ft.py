"""WiSE-FT (Wortsman et al., CVPR 2022): the fine-tuned weights moved part of the way back to where fine-tuning began.

Fine-tuning on HAM10000's four cameras pulls the ImageNet backbone towards what those cameras show. The straight line
between the weights fine-tuning started from (the ImageNet backbone with the head fitted on it, the first phase's end)
and the ones it ended with holds models that keep more of ImageNet's general features. Along it, one model of the same
size and speed, the mix with the best validation balanced accuracy is kept:

    python -m training.train <a run's own flags> --wise-ft --output-dir <the run>

A finished run is not fitted again; only its finalisation (guard, variant, decision rule, calibration) runs again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from training.checkpoints import FINE_TUNING, HEAD, final_weights, states
from training.evaluate import compute_metrics

log = logging.getLogger(__name__)

MIXES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""The fine-tuned weights' share tried; 1.0 is the fine-tuned model itself."""


def assign_mix(classifier: keras.Model, start: list[np.ndarray], end: list[np.ndarray], mix: float) -> None:
    """Give the classifier (1 - mix) * start + mix * end in every floating-point variable (others keep end's)."""
    for variable, first, last in zip(classifier.weights, start, end):
        variable.assign((1 - mix) * first + mix * last if np.issubdtype(first.dtype, np.floating) else last)


def choose_mix(classifier: keras.Model, run: Path, images: np.ndarray, references: np.ndarray) -> dict:
    """Leave the classifier with the mix of the run's two weights that has the best validation balanced accuracy
    (the network's own argmax; a tie goes to the larger share of fine-tuning).

    Returns:
        {"mix": the fine-tuning's share kept, "validation_ba": {share: validation balanced accuracy} for every share}.

    Raises:
        FileNotFoundError: the run has not finished fine-tuning.
    """
    ends = [final_weights(run, HEAD), final_weights(run, FINE_TUNING)]  # where fine-tuning started, and ended
    missing = [str(path) for path in ends if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"--wise-ft needs a run that has finished both phases; missing {', '.join(missing)}")
    start, end = states(classifier, ends)
    scores = {}
    for mix in MIXES:
        assign_mix(classifier, start, end, mix)
        probabilities = classifier.predict(images, batch_size=64, verbose=0)
        scores[mix] = compute_metrics(references, probabilities)["balanced_accuracy"]
    best = max(MIXES, key=lambda mix: (round(scores[mix], 6), mix))
    assign_mix(classifier, start, end, best)
    log.info("WiSE-FT: validation balanced accuracy %s; keeping %.1f of the fine-tuning",
             {mix: round(score, 3) for mix, score in scores.items()}, best)
    return {"mix": best, "validation_ba": scores}
