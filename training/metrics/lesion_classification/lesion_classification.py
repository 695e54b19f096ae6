"""Every figure the project reports for a 7-class skin-lesion classifier, as one `evaluate` metric module.

    import evaluate
    metric = evaluate.load("training/metrics/lesion_classification")   # a local path: works offline
    metric.compute(predictions=probabilities, references=labels)
"""

import datasets
import evaluate
import numpy as np
from sklearn import metrics as sk

_DESCRIPTION = """
Scores class probabilities against true labels for the seven HAM10000 diagnoses (akiec, bcc, bkl, df, mel, nv, vasc,
in that order). The predicted class is the most probable one. Macro averages, balanced accuracy and macro AUC cover
only the classes present in the references, and `classes_present` names them: Derm7pt, for example, has no akiec.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): class probabilities, one row of 7 per image.
    references (`list` of `int`): the true class index of each image.
    calibration_bins (`int`, default 15): equal-width confidence bins for the expected calibration error.

Returns:
    n_images, accuracy, balanced_accuracy (mean recall over the classes present; the ISIC 2018 metric),
    classes_present, top_2_accuracy, top_3_accuracy, per_class ({code: precision, recall, f1, support, auc}),
    macro_avg and weighted_avg (precision, recall, f1), macro_auc_ovr, melanoma_sensitivity, melanoma_specificity,
    melanoma_auc, melanoma_sensitivity_at_specificity_80 (the best a threshold on the melanoma probability could
    do at specificity >= 0.8), expected_calibration_error, reliability ({confidence, accuracy, count} per non-empty bin),
    confusion_matrix (rows: true, columns: predicted).

Examples:
    >>> metric = evaluate.load("training/metrics/lesion_classification")
    >>> result = metric.compute(predictions=[[0, 0, 0, 0, 0.9, 0.1, 0], [0, 0, 0, 0, 0.6, 0.4, 0]], references=[4, 5])
    >>> result["accuracy"], result["melanoma_sensitivity"], result["melanoma_specificity"]
    (0.5, 1.0, 0.0)
"""

_CITATION = """
@article{codella2019skin,
  title={Skin Lesion Analysis Toward Melanoma Detection 2018: A Challenge Hosted by the International Skin Imaging
         Collaboration (ISIC)},
  author={Codella, Noel and Rotemberg, Veronica and Tschandl, Philipp and others},
  journal={arXiv preprint arXiv:1902.03368},
  year={2019}
}
"""

CODES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
MELANOMA = CODES.index("mel")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LesionClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, calibration_bins=15):
        probabilities = np.asarray(predictions, dtype=np.float64).reshape(-1, len(CODES))
        references = np.asarray(references, dtype=np.int64)
        predicted = probabilities.argmax(axis=1)
        labels = list(range(len(CODES)))
        precision, recall, f1, support = sk.precision_recall_fscore_support(references, predicted, labels=labels, zero_division=0)
        present = [c for c in labels if (references == c).any()]
        auc = {c: float(sk.roc_auc_score(references == c, probabilities[:, c])) for c in present if (references != c).any()}
        is_mel, said_mel = references == MELANOMA, predicted == MELANOMA
        confidence, correct = probabilities.max(axis=1), predicted == references
        return {
            "n_images": len(references),
            "accuracy": float(correct.mean()),
            "balanced_accuracy": float(recall[present].mean()),
            "classes_present": [CODES[c] for c in present],
            "top_2_accuracy": _top_k(references, probabilities, 2),
            "top_3_accuracy": _top_k(references, probabilities, 3),
            "per_class": {
                CODES[c]: {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                           "support": int(support[c]), "auc": auc.get(c)}
                for c in labels
            },
            "macro_avg": _average(precision, recall, f1, present, None),
            "weighted_avg": _average(precision, recall, f1, present, support),
            "macro_auc_ovr": float(np.mean(list(auc.values()))) if auc else None,
            "melanoma_sensitivity": float(said_mel[is_mel].mean()) if is_mel.any() else None,
            "melanoma_specificity": float((~said_mel[~is_mel]).mean()) if (~is_mel).any() else None,
            "melanoma_auc": auc.get(MELANOMA),
            "melanoma_sensitivity_at_specificity_80": _sensitivity_at(is_mel, probabilities[:, MELANOMA], 0.8),
            **_calibration(confidence, correct, calibration_bins),
            "confusion_matrix": sk.confusion_matrix(references, predicted, labels=labels).tolist(),
        }


def _sensitivity_at(positive, scores, specificity):
    """The best sensitivity of any threshold on `scores` whose specificity is at least `specificity`: what a
    one-class rule could reach, for comparing models apart from their decision rules."""
    if not positive.any() or positive.all():
        return None
    false_positive_rate, true_positive_rate, _ = sk.roc_curve(positive, scores)
    return float(true_positive_rate[false_positive_rate <= 1 - specificity + 1e-12].max())


def _top_k(references, probabilities, k):
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float((top == references[:, None]).any(axis=1).mean())


def _average(precision, recall, f1, present, weights):
    w = None if weights is None else np.asarray(weights)[present]
    return {name: float(np.average(values[present], weights=w)) for name, values in
            (("precision", precision), ("recall", recall), ("f1", f1))}


def _calibration(confidence, correct, bins):
    """Top-label expected calibration error, and the reliability diagram's points (non-empty bins only)."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error, reliability = 0.0, {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
            reliability["confidence"].append(float(confidence[inside].mean()))
            reliability["accuracy"].append(float(correct[inside].mean()))
            reliability["count"].append(int(inside.sum()))
    return {"expected_calibration_error": float(error), "reliability": reliability}
