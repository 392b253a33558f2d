"""Buy-till-you-die models: BG/NBD, Pareto/NBD and Gamma-Gamma. Pure NumPy/SciPy, no Django.

Inputs are per-customer arrays in one time unit (weeks, days, ...):
``x``   repeat purchase occasions in the calibration period (0 = one purchase only),
``t_x`` time from the first to the last purchase (0 when x = 0),
``T``   time from the first purchase to the end of calibration,
``zbar`` mean value of the repeat purchases (Gamma-Gamma only).

Everything is computed in log space; the optimiser works on log-parameters (so they stay
positive) with analytic gradients, and identical histories are fitted once with a weight,
so a million customers cost what their distinct histories cost.

Sources (formulas re-derived and written here, not copied from any package):
- Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2) — BG/NBD likelihood (eq. 6), E[X(t)] (eq. 7),
  P(X(t) = x) (eq. 8), E[Y(t) | x, t_x, T] (eq. 10); and their note "Computing P(alive)
  Using the BG/NBD Model" (2008).
- Fader & Hardie (2005), note 009 "A Note on Deriving the Pareto/NBD Model and Related
  Expressions" — the Pareto/NBD likelihood, P(alive) and conditional expectation. The
  likelihood's A0 term is the integral s·∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ; the note
  writes it as a difference of two Gauss 2F1 values with the α ≥ β / α < β case split
  (``paretonbd_log_likelihood_hyp2f1`` below). We integrate it by Gauss-Legendre after a
  change of variable that makes the integrand smooth: no cancellation when t_x ≈ T, and its
  parameter derivatives come from the same nodes (differentiation under the integral).
- Fader & Hardie (2013), note 025 "The Gamma-Gamma Model of Monetary Value" — the density of
  zbar given x and the conditional expected spend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp, polygamma

Array = NDArray[np.float64]
ArrayIn = Array | float  # predictions take one history as plain numbers, or many as arrays

MODELS = ("bgnbd", "paretonbd", "gammagamma")
PARAM_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "paretonbd": ("r", "alpha", "s", "beta"),
    "gammagamma": ("p", "q", "gamma"),
}
LOG_BOUND = 30.0  # log-parameters stay in [-30, 30]: a fit that runs there has not converged
MIN_CUSTOMERS = {"bgnbd": 30, "paretonbd": 30, "gammagamma": 30}
MIN_REPEAT_BUYERS = 10


class NotEnoughData(ValueError):
    """Too few customers (or repeat buyers) to identify the model's parameters."""


@dataclass(frozen=True)
class FitResult:
    model: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    converged: bool
    message: str
    iterations: int
    extra: dict[str, float] = field(default_factory=dict)


# --- data preparation ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Histories:
    """Distinct (x, t_x, T) rows with their counts; x also as an index into its distinct values."""

    x: Array
    t_x: Array
    T: Array
    w: Array
    ux: Array  # distinct x
    ix: NDArray[np.intp]  # x == ux[ix]

    @property
    def wx(self) -> Array:
        """Total weight per distinct x: sums of terms that depend on x only need no per-row pass."""
        return np.bincount(self.ix, weights=self.w, minlength=len(self.ux))


def unique_rows(*columns: Array) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """(index of each distinct row's first occurrence, inverse, counts) for equal-length columns.

    Each column is coded by its own 1-D ``np.unique`` and the codes combined into one int64 key:
    several times faster than ``np.unique(..., axis=0)``, which sorts raw bytes."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for column in columns:
        values, codes = np.unique(column, return_inverse=True)
        span *= max(len(values), 1)
        if span >= 2**62:  # cannot happen below ~2 million distinct values per column; stay correct anyway
            _, first, inverse, counts = np.unique(np.column_stack(columns), axis=0, return_index=True,
                                                  return_inverse=True, return_counts=True)  # fmt: skip
            return first, inverse.reshape(-1), counts
        key = key * len(values) + codes.reshape(-1)
    _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    return first, inverse.reshape(-1), counts


def _histories(x: Array, t_x: Array, T: Array) -> _Histories:
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check_histories(x, t_x, T)
    first, _, counts = unique_rows(x, t_x, T)
    ux, ix = np.unique(x[first], return_inverse=True)
    return _Histories(x[first], t_x[first], T[first], counts.astype(np.float64), ux, ix.reshape(-1))


def _check_histories(x: Array, t_x: Array, T: Array) -> None:
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError("x, t_x and T must have the same length.")
    bad = ~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T) | (x < 0) | (t_x < 0) | (t_x > T) | (T <= 0)
    bad |= (x == 0) & (t_x != 0)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} invalid histories (need x ≥ 0, 0 ≤ t_x ≤ T, T > 0, t_x = 0 when x = 0).")


Objective = Callable[[Array], tuple[float, Array]]


def _fit(
    model: str,
    objective: Objective,
    start: Array,
    n: float,
    max_iterations: int,
    hessian: Array | None = None,
) -> tuple[Array, float, bool, str, int]:
    """Minimise −LL/n over log-parameters; returns (params, LL, ok, message, iterations).

    With a ``hessian`` (from a warm start on a sample) a few damped Newton steps usually finish the
    job in 3-5 passes over the data; otherwise, or if they stall, L-BFGS-B does."""

    def scaled(phi: Array) -> tuple[float, Array]:
        value, grad = objective(phi)
        return value / n, grad / n

    if hessian is not None:
        done = _newton(scaled, start, hessian, max_iterations)
        if done is not None:
            phi, value, steps = done
            return np.exp(phi), -value * n, True, "CONVERGENCE: Newton steps from the sampled warm start", steps
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = minimize(
        scaled,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": FTOL, "gtol": GTOL, "maxcor": 20},
    )
    phi = np.asarray(result.x, dtype=np.float64)
    value = float(result.fun) * n
    ok = bool(result.success) and np.isfinite(value) and bool(np.all(np.abs(phi) < LOG_BOUND - 1e-6))
    message = str(result.message)
    if result.success and not ok:
        message = f"{message} (a parameter ran to its bound: the data do not identify the model)"
    return np.exp(phi), -value, ok, message, int(result.nit)


FTOL, GTOL = 1e-12, 1e-8  # L-BFGS-B's own criteria, on −LL per customer


def _newton(scaled: Objective, phi: Array, hessian: Array, max_iterations: int) -> tuple[Array, float, int] | None:
    """Damped Newton with a fixed Hessian; None when it does not meet L-BFGS-B's criteria."""
    value, grad = scaled(phi)
    for step in range(1, min(max_iterations, 12) + 1):
        try:
            direction = -np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            return None
        slope = float(grad @ direction)
        if not np.all(np.isfinite(direction)) or slope >= 0:
            return None
        t = 1.0
        while True:
            trial = np.clip(phi + t * direction, -LOG_BOUND, LOG_BOUND)
            new_value, new_grad = scaled(trial)
            if np.isfinite(new_value) and new_value <= value + 1e-4 * t * slope:
                break
            t /= 2
            if t < 1 / 64:
                return None
        reduction = (value - new_value) / max(abs(value), abs(new_value), 1.0)
        phi, value, grad = trial, new_value, new_grad
        # Stricter than L-BFGS-B's "either" rule: a fixed Hessian is cheap to iterate to the optimum.
        if np.max(np.abs(grad)) <= GTOL / 10 or (reduction <= FTOL / 100 and np.max(np.abs(grad)) <= GTOL):
            if np.all(np.abs(phi) < LOG_BOUND - 1e-6):
                return phi, value, step
            return None
    return None


WARM_SAMPLE = 50_000


def _warm_start(
    make: Callable[..., tuple[Objective, float]], columns: tuple[Array, ...], start: Array, max_iterations: int
) -> tuple[Array, Array | None]:
    """For a large data set: fit a fixed random sample, and take the Hessian there (central differences
    of the analytic gradient). The full fit then starts next to its optimum with a good curvature
    model, and needs a handful of passes over all the data instead of dozens."""
    n = len(columns[0])
    if n <= 2 * WARM_SAMPLE:
        return start, None
    pick = np.random.default_rng(0).choice(n, WARM_SAMPLE, replace=False)
    objective, size = make(*(np.asarray(c)[pick] for c in columns))
    params, _, ok, _, _ = _fit("warm", objective, start, size, max_iterations)
    if not ok:
        return start, None
    phi = np.log(params)
    k, h = len(phi), 1e-4
    hessian = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        hessian[:, j] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * h * size)
    return phi, (hessian + hessian.T) / 2


def _require(customers: int, repeaters: int, model: str) -> None:
    need = MIN_CUSTOMERS[model]
    if customers < need or repeaters < MIN_REPEAT_BUYERS:
        raise NotEnoughData(
            f"A {model} fit needs at least {need} customers and {MIN_REPEAT_BUYERS} repeat buyers; "
            f"the data have {customers} customers and {repeaters} repeat buyers."
        )


# --- BG/NBD -------------------------------------------------------------------------------------
# L(r, α, a, b | x, t_x, T) = A1·A2·(A3 + δ(x>0)·A4), FHL (2005) eq. 6, with
#   ln A1 = lnΓ(r+x) − lnΓ(r) + r ln α
#   ln A2 = lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
#   ln A3 = −(r+x) ln(α+T)
#   ln A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x)
def bgnbd_log_likelihood(params: Array, h: _Histories) -> tuple[float, Array]:
    """Total log-likelihood and its gradient with respect to (r, α, a, b).

    Terms that depend on x only are summed once per distinct x (weighted by its count); the
    per-row pass is two logs, one exp and one log1p. With d = l4 − l3 the two branches combine
    as max(l3, l4) + log1p(e^−|d|), and w4 = A4/(A3+A4) = expit(d) from the same e^−|d|."""
    r, alpha, a, b = params
    ux, wx = h.ux, h.wx
    lg = gammaln(r + ux) - gammaln(r) + gammaln(a + b) + gammaln(b + ux) - gammaln(b) - gammaln(a + b + ux)
    d_r_x = digamma(r + ux) - digamma(r)
    d_a_x = digamma(a + b) - digamma(a + b + ux)
    d_b_x = d_a_x + digamma(b + ux) - digamma(b)
    repeat = ux > 0
    safe = np.where(repeat, b + ux - 1, 1.0)
    log_a4_x = np.where(repeat, np.log(a) - np.log(safe), -np.inf)
    inv_b_x = np.where(repeat, 1.0 / safe, 0.0)

    w, ix = h.w, h.ix
    n = float(wx.sum())
    rx = r + h.x
    log_aT = np.log(alpha + h.T)
    log_atx = np.log(alpha + h.t_x)
    l3 = -rx * log_aT
    l4 = log_a4_x[ix] - rx * log_atx
    e = np.exp(-np.abs(l3 - l4))  # 0 when x = 0 (l4 = −inf)
    tail = np.maximum(l3, l4) + np.log1p(e)
    w4 = np.where(l4 > l3, 1.0, e) / (1.0 + e)  # share of the "dropped out after t_x" branch
    ww4 = w * w4
    inv_T, inv_tx = 1.0 / (alpha + h.T), 1.0 / (alpha + h.t_x)
    ll = float(np.dot(wx, lg) + n * r * np.log(alpha) + np.dot(w, tail))
    g_r = np.dot(wx, d_r_x) + n * np.log(alpha) - np.dot(w, log_aT) + np.dot(ww4, log_aT - log_atx)
    g_alpha = n * r / alpha - np.dot(w * rx, inv_T) - np.dot(ww4 * rx, inv_tx - inv_T)
    g_a = np.dot(wx, d_a_x) + ww4.sum() / a
    g_b = np.dot(wx, d_b_x) - np.dot(ww4, inv_b_x[ix])
    return ll, np.array([g_r, g_alpha, g_a, g_b])


def _bgnbd_objective(x: Array, t_x: Array, T: Array) -> tuple[Objective, float]:
    h = _histories(x, t_x, T)

    def objective(phi: Array) -> tuple[float, Array]:
        params = np.exp(phi)
        ll, grad = bgnbd_log_likelihood(params, h)
        return -ll, -grad * params

    return objective, float(h.w.sum())


def fit_bgnbd(x: Array, t_x: Array, T: Array, *, max_iterations: int = 500) -> FitResult:
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check_histories(x, t_x, T)
    _require(len(x), int((x > 0).sum()), "bgnbd")
    objective, customers = _bgnbd_objective(x, t_x, T)
    start, hessian = _warm_start(
        _bgnbd_objective, (x, t_x, T), np.log([1.0, float(T.mean()), 1.0, 1.0]), max_iterations
    )
    params, ll, ok, message, nit = _fit("bgnbd", objective, start, customers, max_iterations, hessian)
    return FitResult("bgnbd", _named("bgnbd", params), ll, int(customers), ok, message, nit)


def bgnbd_expected_purchases(params: dict[str, float], t: Array | float) -> Array:
    """E[X(t)] for a customer picked at random (FHL 2005 eq. 7)."""
    r, alpha, a, b = (params[k] for k in PARAM_NAMES["bgnbd"])
    a = _away_from_one(a)
    t = np.asarray(t, dtype=np.float64)
    # (α/(α+t))^r·2F1(r, b; a+b−1; t/(α+t)) = 2F1(r, a−1; a+b−1; −t/α) by Pfaff's transformation
    return (a + b - 1) / (a - 1) * (1 - hyp2f1(r, a - 1, a + b - 1, -t / alpha))


def _away_from_one(a: float) -> float:
    """E[X(t)] has a removable 0/0 at a = 1; 1e-7 away its value is the limit to ~1e-7 relative."""
    return a if abs(a - 1) > 1e-7 else 1 + 1e-7


def bgnbd_probability_of_purchases(params: dict[str, float], t: float, n: int) -> float:
    """P(X(t) = n) for a customer picked at random (FHL 2005 eq. 8)."""
    r, alpha, a, b = (params[k] for k in PARAM_NAMES["bgnbd"])
    log_p0 = r * np.log(alpha / (alpha + t))
    log_q = np.log(t / (alpha + t))
    first = betaln(a, b + n) - betaln(a, b) + gammaln(r + n) - gammaln(r) - gammaln(n + 1) + log_p0 + n * log_q
    value = float(np.exp(first))
    if n > 0:
        j = np.arange(n)
        partial = np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + log_p0 + j * log_q).sum()
        value += float(np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * (1 - partial))
    return value


def _bgnbd_log_odds_dead(params: dict[str, float], x: Array, t_x: Array, T: Array) -> Array:
    """ln[(a/(b+x−1))·((α+T)/(α+t_x))^(r+x)] for x > 0, −inf for x = 0."""
    r, alpha, a, b = (params[k] for k in PARAM_NAMES["bgnbd"])
    repeat = x > 0
    safe = np.where(repeat, b + x - 1, 1.0)
    odds = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, odds, -np.inf)


def bgnbd_p_alive(params: dict[str, float], x: ArrayIn, t_x: ArrayIn, T: ArrayIn) -> Array:
    """P(alive | x, t_x, T) = 1 / (1 + δ(x>0)·(a/(b+x−1))·((α+T)/(α+t_x))^(r+x))."""
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    return expit(-_bgnbd_log_odds_dead(params, x, t_x, T))


def _bgnbd_alive_purchases(params: dict[str, float], x: Array, T: Array, t: float) -> Array:
    """E[Y(t)] given alive at T: ((a+b+x−1)/(a−1))·[1 − ((α+T)/(α+T+t))^(r+x)·2F1(r+x, b+x; a+b+x−1; t/(α+T+t))].

    Pfaff's transformation 2F1(A, B; C; z) = (1−z)^−A·2F1(A, C−B; C; z/(z−1)) cancels the power exactly:
    the bracket is 1 − 2F1(r+x, a−1; a+b+x−1; −t/(α+T)), bounded for every x (the original form is
    0·∞ for large x). It depends on (x, T) only, so 2F1 is evaluated once per distinct pair."""
    first, inverse, _ = unique_rows(x, T)
    return _bgnbd_alive_purchases_at(params, x[first], T[first], t)[inverse]


def _bgnbd_alive_purchases_at(params: dict[str, float], x: Array, T: Array, t: float) -> Array:
    r, alpha, a, b = (params[k] for k in PARAM_NAMES["bgnbd"])
    a = _away_from_one(a)
    return (a + b + x - 1) / (a - 1) * (1 - hyp2f1(r + x, a - 1, a + b + x - 1, -t / (alpha + T)))


def bgnbd_conditional_expected_purchases(
    params: dict[str, float], t: float, x: ArrayIn, t_x: ArrayIn, T: ArrayIn
) -> Array:
    """E[Y(t) | x, t_x, T] (FHL 2005 eq. 10) = P(alive)·E[Y(t) | alive]."""
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    return bgnbd_p_alive(params, x, t_x, T) * _bgnbd_alive_purchases(params, x, T, t)


# --- Pareto/NBD ---------------------------------------------------------------------------------
# L = Γ(r+x)·α^r·β^s / Γ(r) · [ (α+T)^-(r+x)·(β+T)^-s + s·I ],  I = ∫_{t_x}^{T} (α+τ)^-(r+x)·(β+τ)^-(s+1) dτ
# (note 009 eq. 22 with A0 = ((r+s+x)/s)·s·I). For the quadrature put m = max(α, β), u = ln(m+τ):
# the integrand is e^{−k·u}·φ(u) with k = r+x+s and φ smooth and bounded; then v ∈ [0, 1] with
# 1 − v·D = e^{−k(u−u0)} absorbs the exponential, leaving φ for Gauss-Legendre.
GAUSS_NODES = 40
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(GAUSS_NODES)
_V = (_NODES + 1) / 2
_LOG_W = np.log(_WEIGHTS / 2)


def _pnbd_integral(
    r: float, alpha: float, s: float, beta: float, x: Array, t_x: Array, T: Array, gradient: bool
) -> tuple[Array, Array | None]:
    """ln I and, optionally, d ln I / d(r, α, s, β) (rows), by Gauss-Legendre on the smoothed variable."""
    m = max(alpha, beta)
    k = (r + x + s)[:, None]
    u0 = np.log(m + t_x)[:, None]
    span = (np.log(m + T) - np.log(m + t_x))[:, None]
    # log D = log(1 − e^{−k·span}); D = 0 when t_x = T (then I = 0).
    with np.errstate(divide="ignore"):
        log_d = np.log(-np.expm1(-k * span))
    vd = np.exp(log_d) * _V[None, :]
    u = u0 - np.log1p(-vd) / k  # u(v)
    tau_m = np.exp(u)  # m + τ
    log_a = np.log(tau_m - (m - alpha))  # ln(α+τ)
    log_b = np.log(tau_m - (m - beta))  # ln(β+τ)
    rx = (r + x)[:, None]
    # integrand·dτ/dv = (α+τ)^-(r+x)·(β+τ)^-(s+1)·(m+τ)·D / (k·(1−vD)), and 1−vD = e^{−k(u−u0)}
    log_terms = -rx * log_a - (s + 1) * log_b + u + log_d - np.log(k) + k * (u - u0) + _LOG_W[None, :]
    with np.errstate(invalid="ignore"):
        log_i = logsumexp(log_terms, axis=1)
    log_i = np.where(span[:, 0] > 0, log_i, -np.inf)
    if not gradient:
        return log_i, None
    share = np.exp(log_terms - np.where(np.isfinite(log_i), log_i, 0.0)[:, None])
    share = np.where(span > 0, share, 0.0)
    grads = np.stack(
        [
            -(share * log_a).sum(axis=1),
            -(share * rx / np.exp(log_a)).sum(axis=1),
            -(share * log_b).sum(axis=1),
            -(share * (s + 1) / np.exp(log_b)).sum(axis=1),
        ]
    )
    return log_i, grads


def paretonbd_log_likelihood(params: Array, h: _Histories, gradient: bool = True) -> tuple[float, Array]:
    r, alpha, s, beta = params
    x, w = h.x, h.w
    rx = r + x
    log_aT = np.log(alpha + h.T)
    log_bT = np.log(beta + h.T)
    head = gammaln(r + h.ux)[h.ix] - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    l1 = -rx * log_aT - s * log_bT
    log_i, g_i = _pnbd_integral(r, alpha, s, beta, x, h.t_x, h.T, gradient)
    l2 = np.log(s) + log_i
    tail = np.logaddexp(l1, l2)
    ll = float(np.dot(w, head + tail))
    if not gradient or g_i is None:
        return ll, np.zeros(4)
    w2 = np.exp(l2 - tail)
    w1 = 1.0 - w2
    g_r = np.dot(w, digamma(r + h.ux)[h.ix] - digamma(r) + np.log(alpha) - w1 * log_aT + w2 * g_i[0])
    g_alpha = np.dot(w, r / alpha - w1 * rx / (alpha + h.T) + w2 * g_i[1])
    g_s = np.dot(w, np.log(beta) - w1 * log_bT + w2 * (1.0 / s + g_i[2]))
    g_beta = np.dot(w, s / beta - w1 * s / (beta + h.T) + w2 * g_i[3])
    return ll, np.array([g_r, g_alpha, g_s, g_beta])


def paretonbd_log_likelihood_hyp2f1(params: dict[str, float], x: Array, t_x: Array, T: Array) -> float:
    """The same likelihood written as in note 009 with Gauss 2F1 (α ≥ β and α < β cases); a check."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES["paretonbd"])
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    rsx = r + s + x
    b2: Array | float
    if alpha >= beta:
        b2, big = s + 1, alpha
    else:
        b2, big = r + x, beta
    diff = abs(alpha - beta)
    at_tx = hyp2f1(rsx, b2, rsx + 1, diff / (big + t_x)) / (big + t_x) ** rsx
    a0 = at_tx - hyp2f1(rsx, b2, rsx + 1, diff / (big + T)) / (big + T) ** rsx
    first = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return float(np.sum(head + np.log(first + s / rsx * a0)))


def _pnbd_objective(x: Array, t_x: Array, T: Array) -> tuple[Objective, float]:
    h = _histories(x, t_x, T)

    def objective(phi: Array) -> tuple[float, Array]:
        params = np.exp(phi)
        ll, grad = paretonbd_log_likelihood(params, h)
        return -ll, -grad * params

    return objective, float(h.w.sum())


def fit_paretonbd(x: Array, t_x: Array, T: Array, *, max_iterations: int = 500) -> FitResult:
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check_histories(x, t_x, T)
    _require(len(x), int((x > 0).sum()), "paretonbd")
    objective, customers = _pnbd_objective(x, t_x, T)
    mean_T = float(T.mean())
    start, hessian = _warm_start(_pnbd_objective, (x, t_x, T), np.log([1.0, mean_T, 1.0, mean_T]), max_iterations)
    params, ll, ok, message, nit = _fit("paretonbd", objective, start, customers, max_iterations, hessian)
    return FitResult("paretonbd", _named("paretonbd", params), ll, int(customers), ok, message, nit)


def _pnbd_log_odds_dead(params: dict[str, float], x: Array, t_x: Array, T: Array) -> Array:
    """ln(s·I) − ln((α+T)^-(r+x)(β+T)^-s): P(alive) = expit(−this) (note 009 eq. 19 rearranged)."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES["paretonbd"])
    log_i, _ = _pnbd_integral(r, alpha, s, beta, x, t_x, T, gradient=False)
    l1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return np.log(s) + log_i - l1


def paretonbd_p_alive(params: dict[str, float], x: ArrayIn, t_x: ArrayIn, T: ArrayIn) -> Array:
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    return expit(-_pnbd_log_odds_dead(params, x, t_x, T))


def paretonbd_conditional_expected_purchases(
    params: dict[str, float], t: float, x: ArrayIn, t_x: ArrayIn, T: ArrayIn
) -> Array:
    """E[Y(t) | x, t_x, T] = ((r+x)(β+T) / ((α+T)(s−1)))·[1 − ((β+T)/(β+T+t))^(s−1)]·P(alive) (note 009 eq. 21);
    the bracket over (s−1) is written with expm1/log1p so s → 1 has its limit (β+T)·ln(1 + t/(β+T))."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES["paretonbd"])
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    growth = np.log1p(t / (beta + T))
    bracket = growth if abs(s - 1) < 1e-9 else -np.expm1(-(s - 1) * growth) / (s - 1)
    return (r + x) * (beta + T) / (alpha + T) * bracket * paretonbd_p_alive(params, x, t_x, T)


# --- Gamma-Gamma --------------------------------------------------------------------------------
# f(zbar | p, q, γ, x) = Γ(px+q) / (Γ(px)Γ(q)) · γ^q · zbar^(px−1) · x^(px) / (γ + x·zbar)^(px+q)  (note 025)
@dataclass(frozen=True)
class _Spends:
    """Repeat buyers' (x, zbar) with the sums that do not depend on the parameters."""

    x: Array
    zbar: Array
    w: Array
    wx_row: Array  # w·x per row
    ux: Array
    count_x: Array  # total weight per distinct x
    n: float
    s_xlog: float  # Σ w·x·(ln zbar + ln x)
    s_logz: float  # Σ w·ln zbar

    @classmethod
    def of(cls, x: Array, zbar: Array, w: Array | None = None) -> _Spends:
        ux, ix = np.unique(x, return_inverse=True)
        weights = np.ones_like(x) if w is None else w
        log_z = np.log(zbar)
        return cls(
            x,
            zbar,
            weights,
            weights * x,
            ux,
            np.bincount(ix.reshape(-1), weights=weights, minlength=len(ux)),
            float(weights.sum()),
            float(np.dot(weights * x, log_z + np.log(x))),
            float(np.dot(weights, log_z)),
        )


def gammagamma_log_likelihood(params: Array, x: Array, zbar: Array, w: Array) -> tuple[float, Array]:
    return _gammagamma_log_likelihood(params, _Spends.of(x, zbar, w))


def _gammagamma_log_likelihood(params: Array, d: _Spends) -> tuple[float, Array]:
    """Terms in x only are summed per distinct x and the parameter-free logs are pre-summed, so the
    per-row pass is one log and one division: ln(γ + x·zbar) and its reciprocal."""
    p, q, gamma = params
    pux = p * d.ux
    per_x = gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(gamma)
    dpq, dp = digamma(pux + q), digamma(pux)
    gz = gamma + d.x * d.zbar
    log_gz = np.log(gz)
    inv_gz = 1.0 / gz
    wx_log, w_log = np.dot(d.wx_row, log_gz), np.dot(d.w, log_gz)
    wx_inv, w_inv = np.dot(d.wx_row, inv_gz), np.dot(d.w, inv_gz)
    ll = np.dot(d.count_x, per_x) + p * d.s_xlog - d.s_logz - p * wx_log - q * w_log
    g_p = np.dot(d.count_x * d.ux, dpq - dp) + d.s_xlog - wx_log
    g_q = np.dot(d.count_x, dpq) - d.n * digamma(q) + d.n * np.log(gamma) - w_log
    g_gamma = d.n * q / gamma - p * wx_inv - q * w_inv
    return float(ll), np.array([g_p, g_q, g_gamma])


def _gammagamma_objective(x: Array, zbar: Array) -> tuple[Objective, float]:
    data = _Spends.of(x, zbar)

    def objective(phi: Array) -> tuple[float, Array]:
        params = np.exp(phi)
        ll, grad = _gammagamma_log_likelihood(params, data)
        return -ll, -grad * params

    return objective, data.n


def _gammagamma_newton_terms(params: Array, d: _Spends, spend: Array) -> tuple[float, Array, Array]:
    """LL, its gradient and its exact Hessian in (p, q, γ), from one pass over the rows.

    Every per-row term depends on γ alone, through ln(γ + x·zbar) and its powers of 1/(γ + x·zbar),
    so one log, one division and six dot products give all of them; the rest is per distinct x."""
    p, q, gamma = params
    g = gamma + spend
    log_g = np.log(g)
    inv = 1.0 / g
    inv2 = inv * inv
    a0, b0 = float(d.wx_row @ log_g), float(d.w @ log_g)
    a1, b1 = float(d.wx_row @ inv), float(d.w @ inv)
    a2, b2 = float(d.wx_row @ inv2), float(d.w @ inv2)
    pux = p * d.ux
    dpq, dp = digamma(pux + q), digamma(pux)
    tpq, tp = polygamma(1, pux + q), polygamma(1, pux)
    cx, n = d.count_x, d.n
    ll = cx @ (gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(gamma)) + p * d.s_xlog - d.s_logz
    ll -= p * a0 + q * b0
    grad = np.array(
        [
            cx @ (d.ux * (dpq - dp)) + d.s_xlog - a0,
            cx @ dpq - n * digamma(q) + n * np.log(gamma) - b0,
            n * q / gamma - p * a1 - q * b1,
        ]
    )
    h_pq = cx @ (d.ux * tpq)
    hess = np.array(
        [
            [cx @ (d.ux**2 * (tpq - tp)), h_pq, -a1],
            [h_pq, cx @ tpq - n * polygamma(1, q), n / gamma - b1],
            [-a1, n / gamma - b1, -n * q / gamma**2 + p * a2 + q * b2],
        ]
    )
    return float(ll), grad, hess


def _gammagamma_newton(d: _Spends, phi: Array, max_iterations: int) -> tuple[Array, float, int] | None:
    """Newton's method on log-parameters with the exact Hessian (damped towards gradient descent
    where the Hessian is not yet positive definite): quadratic convergence, 4-8 passes over the
    rows. None when it does not meet the convergence test (the caller falls back to L-BFGS-B)."""
    spend = d.x * d.zbar
    n = d.n

    def terms(phi: Array) -> tuple[float, Array, Array]:
        theta = np.exp(phi)
        ll, g, h = _gammagamma_newton_terms(theta, d, spend)
        # f = −LL/n on φ = ln θ: ∇f = −θ∘g/n; ∇²f = −(Dθ H Dθ + diag(θ∘g))/n.
        return -ll / n, -theta * g / n, -(np.outer(theta, theta) * h + np.diag(theta * g)) / n

    value, grad, hess = terms(phi)
    if not np.isfinite(value):
        return None
    for step in range(1, min(max_iterations, 60) + 1):
        shift = 0.0
        while True:
            try:
                chol = np.linalg.cholesky(hess + shift * np.eye(3))
                break
            except np.linalg.LinAlgError:
                shift = max(2 * shift, 1e-6 * max(1.0, float(np.abs(np.diag(hess)).max())))
        direction = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        slope = float(grad @ direction)
        t = 1.0
        while True:
            trial = np.clip(phi + t * direction, -LOG_BOUND, LOG_BOUND)
            new_value, new_grad, new_hess = terms(trial)
            if np.isfinite(new_value) and new_value <= value + 1e-4 * t * slope:
                break
            # Next to the optimum the change is below the rounding of a sum over all rows: a step
            # that shrinks the gradient is then progress even if the value moved by noise.
            noise = 1e-12 * abs(value)
            if np.isfinite(new_value) and new_value <= value + noise and np.abs(new_grad).max() < np.abs(grad).max():
                break
            t /= 2
            if t < 1e-6:
                return None
        reduction = (value - new_value) / max(abs(value), abs(new_value), 1.0)
        phi, value, grad, hess = trial, new_value, new_grad, new_hess
        # Stricter than L-BFGS-B's test: with quadratic convergence the last digits cost one pass.
        if np.max(np.abs(grad)) <= GTOL / 1000 or (reduction <= FTOL / 100 and np.max(np.abs(grad)) <= GTOL / 100):
            return (phi, value, step) if np.all(np.abs(phi) < LOG_BOUND - 1e-6) else None
    return None


GG_WARM_SAMPLE = 20_000


def fit_gammagamma(x: Array, zbar: Array, *, max_iterations: int = 500) -> FitResult:
    """Fit on repeat buyers with a positive mean spend (x = 0 customers carry no spend information).

    Newton with the exact Hessian, first on a sample of 20,000 buyers and then on all of them from
    the sample's optimum (a few passes); L-BFGS-B (the other models' path) when Newton fails."""
    x = np.asarray(x, dtype=np.float64)
    zbar = np.asarray(zbar, dtype=np.float64)
    keep = (x > 0) & (zbar > 0) & np.isfinite(zbar)
    buyers = int(keep.sum())
    if buyers < MIN_CUSTOMERS["gammagamma"]:
        raise NotEnoughData(
            f"A gammagamma fit needs at least {MIN_CUSTOMERS['gammagamma']} repeat buyers with a positive spend; "
            f"the data have {buyers}."
        )
    x, zbar = x[keep], zbar[keep]
    default = np.log([1.0, 2.0, float(np.mean(zbar))])
    start = default
    if buyers > 2 * GG_WARM_SAMPLE:
        pick = np.random.default_rng(0).choice(buyers, GG_WARM_SAMPLE, replace=False)
        warm = _gammagamma_newton(_Spends.of(x[pick], zbar[pick]), default, max_iterations)
        start = warm[0] if warm is not None else default
    newton = _gammagamma_newton(_Spends.of(x, zbar), start, max_iterations)
    if newton is not None:
        phi, value, nit = newton
        params, ll, ok, message = np.exp(phi), -value * buyers, True, "CONVERGENCE: Newton steps (exact Hessian)"
    else:
        objective, _ = _gammagamma_objective(x, zbar)
        params, ll, ok, message, nit = _fit("gammagamma", objective, default, buyers, max_iterations)
    if ok and params[1] <= 1:
        ok, message = False, f"q = {params[1]:.4g} ≤ 1: the population mean spend is infinite; not usable."
    return FitResult("gammagamma", _named("gammagamma", params), ll, buyers, ok, message, nit)


def gammagamma_expected_spend(params: dict[str, float], x: Array, zbar: Array) -> Array:
    """E[Z | x, zbar] = (p·γ + p·x·zbar) / (p·x + q − 1); x = 0 gives the population mean p·γ/(q−1)."""
    p, q, gamma = (params[k] for k in PARAM_NAMES["gammagamma"])
    x = np.asarray(x, dtype=np.float64)
    zbar = np.where(x > 0, np.asarray(zbar, dtype=np.float64), 0.0)
    return (p * gamma + p * x * zbar) / (p * x + q - 1)


# --- scoring ------------------------------------------------------------------------------------
def p_alive(model: str, params: dict[str, float], x: Array, t_x: Array, T: Array) -> Array:
    return (bgnbd_p_alive if model == "bgnbd" else paretonbd_p_alive)(params, x, t_x, T)


def expected_purchases(model: str, params: dict[str, float], t: float, x: Array, t_x: Array, T: Array) -> Array:
    if model == "bgnbd":
        return bgnbd_conditional_expected_purchases(params, t, x, t_x, T)
    return paretonbd_conditional_expected_purchases(params, t, x, t_x, T)


@dataclass(frozen=True)
class Scores:
    p_alive: Array
    expected_orders: Array
    expected_margin: Array
    clv: Array


def score(
    model: str,
    params: dict[str, float],
    spend_params: dict[str, float],
    *,
    x: Array,
    t_x: Array,
    T: Array,
    zbar: Array,
    margin_ratio: Array | float,
    horizon: float,
    steps: int = 12,
    discount_per_unit: float = 0.0,
) -> Scores:
    """P(alive), expected orders and margin over ``horizon`` (time units), and CLV: the expected
    margin of each of ``steps`` equal periods, discounted to now at ``discount_per_unit`` per unit
    of time (compounded, so an annual 10 % in weeks is 1.1**(1/52) − 1). The alive-conditional part of
    E[Y(t)] depends on (x, T) only; ``_bgnbd_alive_purchases`` evaluates 2F1 once per distinct pair."""
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, t_x, T))
    alive = p_alive(model, params, x, t_x, T)
    spend = gammagamma_expected_spend(spend_params, x, zbar) * margin_ratio
    if model == "bgnbd":
        # Expected purchases given alive depend on (x, T) only: accumulate the discounted
        # increments per distinct pair, then scale each customer by P(alive) and spend.
        first, inverse, _ = unique_rows(x, T)
        px, pT = x[first], T[first]
        previous = np.zeros_like(px)
        discounted = np.zeros_like(px)
        for step in range(1, steps + 1):
            t = horizon * step / steps
            total = _bgnbd_alive_purchases_at(params, px, pT, t)
            discounted += (total - previous) / (1 + discount_per_unit) ** t
            previous = total
        orders = alive * previous[inverse]
        return Scores(alive, orders, orders * spend, alive * discounted[inverse] * spend)
    cumulative = np.zeros_like(x)
    clv = np.zeros_like(x)
    for step in range(1, steps + 1):
        t = horizon * step / steps
        total = paretonbd_conditional_expected_purchases(params, t, x, t_x, T)
        clv += (total - cumulative) * spend / (1 + discount_per_unit) ** t
        cumulative = total
    return Scores(alive, cumulative, cumulative * spend, clv)


def _named(model: str, params: Array) -> dict[str, float]:
    return {name: float(v) for name, v in zip(PARAM_NAMES[model], params, strict=True)}
