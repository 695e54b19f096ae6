"""The dermoscopy guard's statistics and its Keras layer, on data whose answer is known."""

import numpy as np
import pytest

from training.guard import MahalanobisScore, fit_guard, non_dermoscopic_photos


@pytest.fixture(scope="module")
def clusters():
    """Two classes in 40 dimensions: Gaussian blobs with a shared, strongly anisotropic covariance."""
    rng = np.random.default_rng(0)
    scales = np.linspace(0.2, 3.0, 40)
    labels = rng.integers(0, 2, 2000)
    centres = np.stack([np.zeros(40), np.full(40, 2.0)])
    return centres[labels] + rng.normal(size=(2000, 40)) * scales, labels, scales


def score(statistics, features):
    return np.asarray(MahalanobisScore(statistics)(features.astype(np.float32)))[:, 0]


def test_typical_training_images_score_about_one(clusters):
    features, labels, _ = clusters
    statistics = fit_guard(features, labels, dimensions=40)
    assert np.median(score(statistics, features)) == pytest.approx(1.0, abs=0.1)


def test_the_score_is_the_mahalanobis_distance_to_the_nearest_class(clusters):
    features, labels, scales = clusters
    statistics = fit_guard(features, labels, dimensions=40)
    probe = np.full((1, 40), 2.0)
    probe[0, 0] += 5 * scales[0]  # five standard deviations off class 1's mean along one axis
    assert score(statistics, probe)[0] == pytest.approx(25 / 40, rel=0.15)


def test_far_away_features_score_far_higher(clusters):
    features, labels, scales = clusters
    statistics = fit_guard(features, labels, dimensions=20)
    outliers = np.random.default_rng(1).normal(size=(50, 40)) * scales[::-1] * 3 + 1.0
    assert score(statistics, outliers).min() > np.quantile(score(statistics, features), 0.99)


def test_few_images_keep_fewer_dimensions(clusters):
    features, labels, _ = clusters
    statistics = fit_guard(features[:30], labels[:30])
    assert statistics.principal.shape == (40, 15)


def test_the_photo_set_is_rgb_and_names_close_ups():
    photos = non_dermoscopic_photos()
    assert len(photos) >= 40 and "grace_hopper" in photos and "coffee (close-up)" in photos
    assert all(image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 for image in photos.values())
