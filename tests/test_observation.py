import math

import numpy as np

from lr_agent.observation import CLIP, FEATURES, ObservationTracker


def feed(tracker, losses, scale=1.0):
    obs = []
    for i, (train, val) in enumerate(losses):
        obs.append(
            tracker.update(0.01 * 1.5**i, (i + 1) / len(losses), train * scale, None if val is None else val * scale)
        )
    return np.stack(obs)


LOSSES = [(2.3, 2.2), (1.1, 1.3), (0.7, 0.9), (0.5, 1.0)]


def test_observation_does_not_change_when_losses_are_scaled():
    plain = feed(ObservationTracker(0.01, (1e-6, 1.0)), LOSSES)
    scaled = feed(ObservationTracker(0.01, (1e-6, 1.0)), LOSSES, scale=10.0)
    np.testing.assert_allclose(plain, scaled, atol=1e-6)


def test_observation_depends_on_lr_only_relative_to_the_start_and_bounds():
    a = ObservationTracker(0.01, (1e-5, 1.0))
    b = ObservationTracker(0.1, (1e-4, 10.0))
    oa = a.update(0.02, 0.5, 1.0, 1.0)
    ob = b.update(0.2, 0.5, 1.0, 1.0)
    np.testing.assert_allclose(oa, ob, atol=1e-6)


def test_feature_values_are_the_documented_log_ratios():
    t = ObservationTracker(0.01, (1e-4, 1.0))
    t.update(0.01, 0.5, 2.0, 4.0)
    obs = dict(zip(FEATURES, t.update(0.02, 1.0, 1.0, 3.0), strict=True))
    assert math.isclose(obs["log_lr"], math.log(2), rel_tol=1e-6)
    assert math.isclose(obs["lr_position"], math.log(200) / math.log(1e4), rel_tol=1e-6)
    assert math.isclose(obs["log_train"], math.log(0.5), rel_tol=1e-6)
    assert math.isclose(obs["val_change"], math.log(0.75), rel_tol=1e-6)
    assert math.isclose(obs["gap"], math.log(3.0), rel_tol=1e-6)
    assert obs["val_to_best"] == 0.0


def test_non_finite_loss_gives_a_finite_clipped_observation():
    t = ObservationTracker(0.01, (1e-6, 1.0))
    t.update(0.01, 0.1, 1.0, 1.0)
    obs = dict(zip(FEATURES, t.update(0.1, 0.2, math.nan, math.inf), strict=True))
    assert all(np.isfinite(list(obs.values())))
    assert obs["log_train"] == CLIP


def test_missing_validation_loss_uses_the_training_loss():
    with_none = feed(ObservationTracker(0.01, (1e-6, 1.0)), [(t, None) for t, _ in LOSSES])
    with_train = feed(ObservationTracker(0.01, (1e-6, 1.0)), [(t, t) for t, _ in LOSSES])
    np.testing.assert_array_equal(with_none, with_train)


def test_state_dict_round_trip_continues_identically():
    a = ObservationTracker(0.01, (1e-6, 1.0))
    feed(a, LOSSES[:2])
    b = ObservationTracker(0.01, (1e-6, 1.0))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.update(0.03, 0.9, 0.4, 0.8), b.update(0.03, 0.9, 0.4, 0.8))
