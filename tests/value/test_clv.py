"""The model code against the published CDNOW tables (from the published summaries) and edge cases."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from rapport.value import clv

DATA = Path("/work/shared/data/cdnow") if Path("/work/shared/data/cdnow").exists() else Path(__file__).parent / "data"
SUMMARY = DATA / "cdnow_customers_summary_with_transactions.csv"
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD_BTYD = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}


@pytest.fixture(scope="module")
def cdnow() -> np.ndarray:
    with SUMMARY.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array([[float(v) for v in row[1:]] for row in rows])


def test_bgnbd_fit_from_published_summary(cdnow):
    x, t_x, T, _ = cdnow.T
    fit = clv.fit_bgnbd(x, t_x, T)
    assert fit.converged, fit.message
    for name, value in BGNBD.items():
        assert fit.params[name] == pytest.approx(value, rel=0.005)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gradients_are_the_derivatives(cdnow):
    x, t_x, T, _ = cdnow.T
    h = clv._histories(x, t_x, T)
    for fn, point in (
        (clv.bgnbd_log_likelihood, np.array([0.3, 4.0, 0.8, 2.0])),
        (clv.paretonbd_log_likelihood, np.array([0.5, 10.0, 0.6, 11.0])),
    ):
        analytic = fn(point, h)[1]
        numeric = approx_fprime(point, lambda p, fn=fn: fn(p, h)[0], 1e-7)
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-3)
    keep = x > 0
    w = np.ones(int(keep.sum()))
    point = np.array([6.0, 3.5, 15.0])
    analytic = clv.gammagamma_log_likelihood(point, x[keep], cdnow[keep, 3], w)[1]
    numeric = approx_fprime(point, lambda p: clv.gammagamma_log_likelihood(p, x[keep], cdnow[keep, 3], w)[0], 1e-7)
    assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_pareto_quadrature_matches_the_hyp2f1_form(cdnow):
    x, t_x, T, _ = cdnow.T
    h = clv._histories(x, t_x, T)
    ours, _ = clv.paretonbd_log_likelihood(np.array(list(PNBD_BTYD.values())), h)
    assert ours == pytest.approx(clv.paretonbd_log_likelihood_hyp2f1(PNBD_BTYD, x, t_x, T), abs=1e-3)
    swapped = {"r": 0.55, "alpha": 12.0, "s": 0.6, "beta": 8.0}  # the α > β branch of note 009
    ours, _ = clv.paretonbd_log_likelihood(np.array(list(swapped.values())), h)
    assert ours == pytest.approx(clv.paretonbd_log_likelihood_hyp2f1(swapped, x, t_x, T), abs=1e-3)


def test_bgnbd_reference_predictions():
    assert clv.bgnbd_conditional_expected_purchases(BGNBD, 39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=5e-4)
    assert clv.bgnbd_probability_of_purchases(BGNBD, 39, 0) == pytest.approx(0.5737864, abs=5e-8)
    assert clv.bgnbd_probability_of_purchases(BGNBD, 2, 10) == pytest.approx(1.07869e-07, rel=1e-5)


def test_paretonbd_reference_predictions():
    assert clv.paretonbd_p_alive(PNBD_BTYD, 26, 30.86, 31)[0] == pytest.approx(0.9979, abs=5e-5)
    assert clv.paretonbd_conditional_expected_purchases(PNBD_BTYD, 52, 26, 30.86, 31)[0] == pytest.approx(
        25.46, abs=0.01
    )


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_no_nan_for_any_valid_history(model):
    params = BGNBD if model == "bgnbd" else PNBD_BTYD
    x = np.array([0, 0, 1, 1, 500, 5000, 3, 10_000])
    t_x = np.array([0, 0, 0.0, 5, 39.9, 40, 1e-9, 1e-3])
    T = np.array([1e-6, 40, 40, 5, 40, 40, 400, 1e5])
    alive = clv.p_alive(model, params, x, t_x, T)
    expected = clv.expected_purchases(model, params, 52, x, t_x, T)
    assert np.isfinite(alive).all() and np.isfinite(expected).all()
    assert ((alive >= 0) & (alive <= 1)).all() and (expected >= 0).all()
    h = clv._histories(x, t_x, T)
    ll, grad = (clv.bgnbd_log_likelihood if model == "bgnbd" else clv.paretonbd_log_likelihood)(
        np.array(list(params.values())), h
    )
    assert np.isfinite(ll) and np.isfinite(grad).all()


def test_bgnbd_at_a_equal_one_has_its_limit():
    at_one = {**BGNBD, "a": 1.0}
    near = {**BGNBD, "a": 1.0 + 1e-5}
    assert clv.bgnbd_expected_purchases(at_one, 39.0) == pytest.approx(
        clv.bgnbd_expected_purchases(near, 39.0), rel=1e-4
    )
    value = clv.bgnbd_conditional_expected_purchases(at_one, 39, 2, 30.43, 38.86)
    assert np.isfinite(value).all()


def test_score_gives_finite_clv_for_one_time_buyers():
    scores = clv.score(
        "bgnbd",
        BGNBD,
        {"p": 6.25, "q": 3.74, "gamma": 15.44},
        x=np.array([0.0, 2.0]),
        t_x=np.array([0.0, 30.43]),
        T=np.array([38.86, 38.86]),
        zbar=np.array([0.0, 30.0]),
        margin_ratio=0.5,
        horizon=52,
        discount_per_unit=0.002,
    )
    assert np.isfinite(scores.clv).all() and (scores.clv > 0).all()
    assert (scores.clv <= scores.expected_margin).all()


def test_too_little_data_says_what_is_needed():
    with pytest.raises(clv.NotEnoughData, match="at least 30 customers and 10 repeat buyers"):
        clv.fit_bgnbd(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([2.0, 2.0]))


def test_invalid_history_is_refused():
    with pytest.raises(ValueError, match="invalid histories"):
        clv.fit_bgnbd(np.array([1.0]), np.array([5.0]), np.array([2.0]))


def test_gammagamma_hessian_is_the_derivative_of_the_gradient(cdnow):
    x, _, _, zbar = cdnow.T
    keep = x > 0
    data = clv._Spends.of(x[keep], zbar[keep])
    spend = data.x * data.zbar
    point = np.array([6.0, 3.5, 15.0])
    ll, grad, hess = clv._gammagamma_newton_terms(point, data, spend)
    assert ll == pytest.approx(clv._gammagamma_log_likelihood(point, data)[0], rel=1e-12)
    assert grad == pytest.approx(clv._gammagamma_log_likelihood(point, data)[1], rel=1e-9)
    for j in range(3):
        step = np.zeros(3)
        step[j] = 1e-5 * point[j]
        up = clv._gammagamma_newton_terms(point + step, data, spend)[1]
        down = clv._gammagamma_newton_terms(point - step, data, spend)[1]
        assert hess[:, j] == pytest.approx((up - down) / (2 * step[j]), rel=1e-5, abs=1e-3)


def test_gammagamma_newton_fit_at_scale_and_without_spend_variation():
    rng = np.random.default_rng(5)
    n = 60_000  # above the warm-start sample, so the sampled start and the full Newton both run
    x = rng.integers(1, 12, n).astype(float)
    nu = rng.gamma(3.8, 1 / 15.0, n)
    zbar = rng.gamma(6.0 * x, 1 / (nu * x))
    fit = clv.fit_gammagamma(x, zbar)
    assert fit.converged and "Newton" in fit.message
    assert fit.params["p"] == pytest.approx(6.0, rel=0.05) and fit.params["q"] == pytest.approx(3.8, rel=0.1)
    lbfgs = clv._fit("gammagamma", clv._gammagamma_objective(x, zbar)[0], np.log([1.0, 2.0, 30.0]), n, 500)
    assert fit.log_likelihood >= lbfgs[1] - 1e-6  # at least as good as the quasi-Newton optimum
    # Spend that does not vary between customers: q and γ run off to infinity, and the fit says so.
    flat = clv.fit_gammagamma(x[:500], rng.gamma(6.0 * x[:500], 1 / (0.2 * x[:500])))
    assert not flat.converged and flat.message
