"""Gaussian-process regression on the space's numeric encoding (numpy only, fast refits).

The kernel mixes an additive part and an interaction part:
``k(x, x') = s2 * (w * x.x' / D + (1 - w) * exp(-|x - x'|^2 / (2 D l)))`` with ``D`` the mean
squared norm of the training rows. On one-hot encodings ``x.x'`` counts the shared choices (an
additive model: latency, size and most costs are near-additive in per-layer choices) and the
exponential term is the Hamming kernel that captures interactions (accuracy). The weight ``w``,
length scale ``l`` and noise are chosen from a small grid by marginal likelihood (``s2`` in closed
form); the grid search runs on at most ``max_select`` rows. Each :meth:`fit` searches them
afresh, as a new model would, unless ``warm_start`` is set (as the guided optimizer sets it for its
models): then a refit on the same rows plus appended ones (targets may change, e.g. warped again)
keeps them until the data grew by ``reselect_growth`` since the last search. In between, the kernel
(with its scale ``D``) stays fixed, so such a refit grows the Cholesky factor by a block
(O(n^2) per new row), and :meth:`GaussianProcess.predict_pool` keeps ``L^-1 k(train, pool)`` for
a fixed candidate matrix and grows it by one row per new training row (O(N n) per refit).

With ``ard=True`` every input group (one per decision of the bound space: a categorical's one-hot
block, a numeric column, a position of a sequence, an entry of a vector; one per column when
unbound) gets its own relevance ``r_g``: the inputs
are scaled by ``sqrt(r_g)`` in both kernel terms, so a position that matters little (for accuracy
or latency) stops counting in the Hamming distance and the additive sum. The relevances maximise
the marginal likelihood (analytic gradient, L-BFGS-B, a log-normal prior of scale ``ard_prior``)
at each hyperparameter search, after the grid search; the grid is then searched again on the
scaled inputs. With ``ard="auto"`` the relevances are kept only where they earn their parameters:
when they raise the log marginal likelihood by more than ``0.5 G log n`` (the Bayesian information
criterion's penalty for ``G`` groups and ``n`` rows, times ``ard_penalty``) over the best
isotropic kernel of the grid; otherwise the isotropic kernel stays (``relevance`` None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular

from .base import Predictor, standardize

__all__ = ["GaussianProcess"]


class GaussianProcess(Predictor):
    """Exact GP with hyperparameters picked from ``weights`` x ``length_scales`` x ``noises``."""

    name = "gp"

    def __init__(self, seed: int = 0, weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.95),
                 length_scales: Sequence[float] = (0.05, 0.1, 0.2, 0.4, 0.8),
                 noises: Sequence[float] = (1e-4, 1e-2, 0.1), max_select: int = 300,
                 reselect_growth: float = 1.15, ard: bool | str = False, ard_prior: float = 1.5, ard_penalty: float = 1.0,
                 groups: Sequence[tuple[int, int]] | None = None, pool_cache: int = 20_000_000,
                 warm_start: bool = False) -> None:
        super().__init__(seed)
        if not isinstance(warm_start, bool):
            raise ValueError(f"gp: 'warm_start' must be true or false, got {warm_start!r}")
        self.warm_start = warm_start
        if not weights or not length_scales or not noises:
            raise ValueError("gp: 'weights', 'length_scales' and 'noises' must each list at least one value")
        if any(not 0.0 <= w <= 1.0 for w in weights):
            raise ValueError(f"gp: 'weights' must lie in [0, 1], got {list(weights)}")
        if any(v <= 0 for v in (*length_scales, *noises)):
            raise ValueError("gp: 'length_scales' and 'noises' must be positive")
        self.grid = [(float(w), float(ls), float(nz)) for w in weights for ls in length_scales for nz in noises]
        self.max_select = int(max_select)
        self.reselect_growth = float(reselect_growth)
        if ard_prior <= 0:
            raise ValueError("gp: 'ard_prior' must be positive")
        if ard not in (True, False, "auto"):
            raise ValueError(f"gp: 'ard' must be true, false or 'auto', got {ard!r}")
        self.ard: bool | str = ard if ard == "auto" else bool(ard)
        self.ard_prior = float(ard_prior)
        if ard_penalty < 0:
            raise ValueError("gp: 'ard_penalty' must be >= 0")
        self.ard_penalty = float(ard_penalty)
        self.groups: list[tuple[int, int]] | None = None if groups is None else [(int(a), int(b)) for a, b in groups]
        self.relevance: np.ndarray | None = None  # per group, with ``ard``
        self._scale: np.ndarray | None = None  # per column: sqrt(relevance of its group)
        self.pool_cache = int(pool_cache)
        self._pool_state: dict[str, Any] | None = None
        self._version = 0
        self._jitter = 0.0
        self.hypers: tuple[float, float, float] | None = None
        self._n_selected = 0
        self.log_marginal_likelihood = float("nan")

    def bind(self, space: Any) -> None:
        """Input groups for ``ard``: one per decision of ``space``, i.e. per block of each
        variable's encoding (:meth:`Variable.encoding_groups`: a scalar or a categorical is one
        block, each position of a sequence or entry of a vector is one)."""
        if self.groups is None:
            pos, out = 0, []
            for v in space.variables:
                blocks = v.encoding_groups()
                if sum(blocks) != int(v.width):
                    raise ValueError(f"gp: variable {v.name!r} has encoding groups {blocks} that do not sum to "
                                     f"its width {v.width}")
                for w in blocks:
                    out.append((pos, pos + int(w)))
                    pos += int(w)
            self.groups = out

    def _column_groups(self, width: int) -> list[tuple[int, int]]:
        groups = [g for g in (self.groups or []) if g[1] <= width]
        pos = groups[-1][1] if groups else 0
        return groups + [(i, i + 1) for i in range(pos, width)]  # unbound / extra columns: one each

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return X if self._scale is None else X * self._scale

    # -- kernel -----------------------------------------------------------------------------
    #: the last (dot products, squared distances) between a query and a training matrix, shared
    #: by the GPs of one optimizer (one per objective, same inputs): key = the arrays' bytes
    _cross_cache: ClassVar[dict[str, tuple[bytes, bytes, np.ndarray, np.ndarray]]] = {}

    @staticmethod
    def _cross(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ka, kb = A.tobytes(), B.tobytes()
        hit = GaussianProcess._cross_cache.get("last")
        if hit is not None and hit[0] == ka and hit[1] == kb:
            return hit[2], hit[3]
        dot = A @ B.T
        sq = np.add.outer((A * A).sum(1), (B * B).sum(1))
        sq -= 2.0 * dot
        np.maximum(sq, 0.0, out=sq)
        if A.shape[0] * B.shape[0] >= 10_000:  # only large queries are worth keeping
            GaussianProcess._cross_cache["last"] = (ka, kb, dot, sq)
        return dot, sq

    def _kernel(self, A: np.ndarray, B: np.ndarray, w: float, ls: float, cache: bool = True) -> np.ndarray:
        if cache:
            dot, sq = self._cross(A, B)
        else:
            dot = A @ B.T
            sq = np.add.outer(np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B))
            sq -= 2.0 * dot
            np.maximum(sq, 0.0, out=sq)
        K = np.multiply(sq, -1.0 / (2.0 * self._D * ls))
        np.exp(K, out=K)
        K *= 1.0 - w
        if w:
            K += (w / self._D) * dot
        return K

    def _kdiag(self, A: np.ndarray, w: float) -> np.ndarray:
        return w * (A * A).sum(1) / self._D + (1.0 - w)

    def _lml(self, X: np.ndarray, y: np.ndarray, w: float, ls: float, nz: float) -> float:
        n = len(y)
        K = self._kernel(X, X, w, ls)
        K[np.diag_indices(n)] += nz
        try:
            L = cholesky(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return -np.inf
        a = cho_solve((L, True), y, check_finite=False)
        s2 = max(float(y @ a) / n, 1e-12)
        return -0.5 * n * np.log(s2) - float(np.log(np.diag(L)).sum()) - 0.5 * n

    def _select(self, X: np.ndarray, y: np.ndarray) -> None:
        if len(y) > self.max_select:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(y), self.max_select, replace=False))
            X, y = X[idx], y[idx]
        self._scale = None
        scores = [self._lml(X, y, *h) for h in self.grid]
        best = int(np.argmax(scores))
        self.hypers = self.grid[best]
        self.log_marginal_likelihood = float(scores[best])
        self.relevance = None
        if self.ard and X.shape[1] > 1:
            groups = self._column_groups(X.shape[1])
            if self.ard == "auto" and len(groups) < 2:
                return
            iso_lml = self.log_marginal_likelihood
            relevance = self._fit_relevance(X, y, groups, *self.hypers)
            scale = np.ones(X.shape[1])
            for (a, b), r in zip(groups, relevance):
                scale[a:b] = np.sqrt(r)
            Xs = X * scale
            scores = [self._lml(Xs, y, *h) for h in self.grid]
            best = int(np.argmax(scores))
            penalty = self.ard_penalty * 0.5 * len(groups) * np.log(len(y))
            if self.ard == "auto" and scores[best] - iso_lml <= penalty:
                return  # the relevances do not pay for their parameters: isotropic kernel
            self.relevance, self._scale = relevance, scale
            self.hypers = self.grid[best]
            self.log_marginal_likelihood = float(scores[best])

    def _fit_relevance(self, X: np.ndarray, y: np.ndarray, groups: list[tuple[int, int]], w: float, ls: float,
                       nz: float) -> np.ndarray:
        """Group relevances maximising the (profiled) log marginal likelihood plus a log-normal
        prior, by L-BFGS-B with the analytic gradient."""
        from scipy.optimize import minimize

        n, G = len(y), len(groups)
        D = self._D
        dots = np.stack([X[:, a:b] @ X[:, a:b].T for a, b in groups])  # G x n x n
        nrm = np.stack([np.einsum("ij,ij->i", X[:, a:b], X[:, a:b]) for a, b in groups])  # G x n
        sqs = np.maximum(nrm[:, :, None] + nrm[:, None, :] - 2.0 * dots, 0.0)
        dots2, sqs2 = dots.reshape(G, -1), sqs.reshape(G, -1)
        c = 1.0 / (2.0 * D * ls)
        var = self.ard_prior ** 2
        eye = np.eye(n)

        def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
            r = np.exp(theta)
            E = np.exp(-c * (r @ sqs2)).reshape(n, n)
            K = (1.0 - w) * E + (w / D) * (r @ dots2).reshape(n, n) + nz * eye
            try:
                L = cholesky(K, lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                return 1e10, np.zeros(G)
            Kinv = cho_solve((L, True), eye, check_finite=False)
            a = Kinv @ y
            s2 = max(float(y @ a) / n, 1e-12)
            lml = -0.5 * n * np.log(s2) - float(np.log(np.diag(L)).sum()) - 0.5 * float(theta @ theta) / var
            M = np.outer(a, a) / s2 - Kinv
            grad = 0.5 * r * (-(1.0 - w) * c * (sqs2 @ (M * E).ravel()) + (w / D) * (dots2 @ M.ravel()))
            return -lml, -(grad - theta / var)

        res = minimize(negative, np.zeros(G), jac=True, method="L-BFGS-B", bounds=[(-4.0, 3.0)] * G,
                       options={"maxiter": 60})
        return np.exp(res.x)

    # -- fit / predict ----------------------------------------------------------------------
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        ys, self._mu, self._sd = standardize(y)
        n = len(y)
        old = getattr(self, "_X", None)
        # with warm_start, the hyperparameters are kept for the same rows with rows appended until the
        # data grew enough; otherwise (other rows, e.g. another fold) they are searched again
        appended = (self.warm_start and old is not None and old.shape[1] == X.shape[1] and len(old) <= n
                    and np.array_equal(self._scaled(X[: len(old)]), old))
        if self.hypers is None or n >= self._n_selected * self.reselect_growth or not appended:
            # the kernel's scale D (mean squared norm of the rows) is fixed with the hyperparameters,
            # so that the kernel, its Cholesky factor and cached predictions stay valid until then
            D = float((X * X).sum(1).mean())
            self._D = D if D > 1e-12 else 1.0  # rows all at the origin: no scale to take from them
            self._select(X, ys)
            self._n_selected = n
            old = None
        w, ls, nz = self.hypers  # type: ignore[misc]
        X = self._scaled(X)
        m = 0 if old is None else len(old)
        if 0 < m <= n and np.array_equal(X[:m], old) and (m == n or self._extend(X, m, w, ls, nz)):
            pass  # same rows (new targets only) or rows appended: the factor is kept or grows by a block
        else:
            K = self._kernel(X, X, w, ls)
            K[np.diag_indices(n)] += nz
            jitter = 0.0
            while True:
                try:
                    self._L = cholesky(K + jitter * np.eye(n), lower=True, check_finite=False)
                    break
                except np.linalg.LinAlgError:
                    jitter = max(1e-8, jitter * 10)
            self._jitter = jitter
            self._version += 1  # cached pool predictions are stale
        self._beta = solve_triangular(self._L, ys, lower=True, check_finite=False)  # L^-1 y
        self._alpha = solve_triangular(self._L.T, self._beta, lower=False, check_finite=False)
        # one target, or equal ones, say nothing of the spread: keep the prior scale (1 on standardised
        # targets), or every prediction, however far from the data, would be certain
        self._s2 = max(float(self._beta @ self._beta) / n, 1e-12) if n > 1 and np.any(ys != 0.0) else 1.0
        self._X = X

    def _extend(self, X: np.ndarray, m: int, w: float, ls: float, nz: float) -> bool:
        """Grow the Cholesky factor of the first ``m`` rows by the rows ``m:``; False if the
        new block is not positive definite (the caller then factorises from scratch)."""
        n = len(X)
        K12 = self._kernel(X[:m], X[m:], w, ls)
        K22 = self._kernel(X[m:], X[m:], w, ls)
        K22[np.diag_indices(n - m)] += nz + self._jitter
        L21 = solve_triangular(self._L, K12, lower=True, check_finite=False).T
        try:
            L22 = cholesky(K22 - L21 @ L21.T, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return False
        L = np.zeros((n, n))
        L[:m, :m] = self._L
        L[m:, :m] = L21
        L[m:, m:] = L22
        self._L = L
        return True

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, ls, _ = self.hypers  # type: ignore[misc]
        X = self._scaled(X)
        Ks = self._kernel(X, self._X, w, ls)
        mean = Ks @ self._alpha
        V = solve_triangular(self._L, Ks.T, lower=True, check_finite=False)
        var = self._s2 * np.maximum(self._kdiag(X, w) - (V * V).sum(0), 1e-12)
        return self._mu + self._sd * mean, self._sd * np.sqrt(var)

    def _capacity(self, n: int, N: int) -> int:
        return max(n, min(n + n // 4 + 16, self.pool_cache // max(N, 1)))

    def predict_pool(self, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` for a fixed candidate matrix (e.g. every configuration of an
        enumerated space) that is passed again, *the same unchanged array object*, after each
        refit. It keeps ``L^-1 k(train, pool)`` and, while the hyperparameters stay and the
        training rows only grow, adds one row per new training row: O(N n) per refit instead of
        O(N n^2). Falls back to :meth:`predict` when the cache would exceed ``pool_cache``
        entries."""
        if self.n_fit == 0:
            raise RuntimeError(f"predictor '{self.name}': call fit() before predict_pool()")
        n, N = len(self._X), len(pool)
        if n * N > self.pool_cache:
            self._pool_state = None
            return self.predict(pool)
        w, ls, _ = self.hypers  # type: ignore[misc]
        st = self._pool_state
        if st is None or st["pool"] is not pool or st["version"] != self._version or st["n"] > n:
            Q = self._scaled(self._checked_rows(pool, "predict_pool"))  # checked once per pool state
            st = {"pool": pool, "version": self._version, "n": 0, "Q": Q, "kdiag": self._kdiag(Q, w),
                  "V": np.empty((self._capacity(n, N), N), dtype=np.float32), "ss": np.zeros(N)}
            self._pool_state = st
        m = st["n"]
        # V (float32, memory-bound) is read once per call: the new rows' projection and the
        # mean's old-row part come from one product
        if m < n:
            if st["V"].shape[0] < n:  # grow the row buffer geometrically
                V = np.empty((self._capacity(n, N), N), dtype=np.float32)
                V[:m] = st["V"][:m]
                st["V"] = V
            Knew = self._kernel(self._X[m:], st["Q"], w, ls, cache=False)  # (n - m) x N
            mean = np.zeros(N)
            if m:
                left = np.vstack([self._L[m:, :m], self._beta[None, :m]]).astype(np.float32)
                prod = left @ st["V"][:m]
                Knew -= prod[:-1]
                mean += prod[-1]
            Vn = solve_triangular(self._L[m:, m:], Knew, lower=True, check_finite=False)
            st["V"][m:n] = Vn
            st["ss"] += np.einsum("ij,ij->j", Vn, Vn)
            st["n"] = n
            mean += self._beta[m:] @ Vn
        else:
            mean = (self._beta.astype(np.float32) @ st["V"][:n]).astype(float)
        var = self._s2 * np.maximum(st["kdiag"] - st["ss"], 1e-12)
        return self._mu + self._sd * mean, self._sd * np.sqrt(var)

    def covariance_columns(self, X: np.ndarray) -> Callable[[int], np.ndarray]:
        """For candidate rows ``X``: a function of a row index ``b`` that gives the posterior
        covariance of the underlying value (the mean's units) between every row of ``X`` and row
        ``b``. ``L^-1 k(train, X)`` is computed once (O(n^2 m)); each column then costs O(n m). A
        batch of proposals uses it to condition on its chosen members without refitting (their
        results are not known yet, but the spread near them shrinks as if they were)."""
        Xs = self._scaled(self._checked_rows(X, "covariance_columns"))
        w, ls, _ = self.hypers  # type: ignore[misc]
        V = solve_triangular(self._L, self._kernel(self._X, Xs, w, ls, cache=False), lower=True, check_finite=False)
        scale = self._sd * self._sd * self._s2

        def column(b: int) -> np.ndarray:
            k = self._kernel(Xs, Xs[b:b + 1], w, ls, cache=False)[:, 0]
            return scale * (k - V.T @ V[:, b])

        return column

    def noise_std(self) -> float:
        """The fitted noise (the grid's noise times the closed-form scale ``s2``, plus any
        jitter the factorisation needed) as a standard deviation of ``y``."""
        if self.n_fit == 0 or self.hypers is None:
            return 0.0
        return float(self._sd * np.sqrt(self._s2 * (self.hypers[2] + self._jitter)))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.hypers is not None:
            out.update(weight=self.hypers[0], length_scale=self.hypers[1], noise=self.hypers[2])
        if self.relevance is not None:
            out["relevance"] = [round(float(r), 4) for r in self.relevance]
        return out
