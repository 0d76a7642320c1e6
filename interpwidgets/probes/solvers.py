"""Batched solvers: many linear probes fitted as one torch problem.

Both solvers take features centred per probe (column means zero; ``fit_probes`` centres each chunk
in place) and return the bias for centred features: the caller moves it back with ``b - mu @ W``.
Centring decouples the bias from the weights in the curvature bound below and spares every loss
evaluation the mean terms.

Logistic regression (sigmoid for two classes, softmax for more) minimises, per probe, the same
objective as scikit-learn's ``LogisticRegression(C=1/l2)``: the summed log loss plus
``l2/2 * ||W||^2`` (the bias is not penalised). The solver is L-BFGS whose initial inverse Hessian
is Böhning's bound ``B = c * X^T X + l2 * I`` (``c = 1/4`` for the sigmoid, ``1/2`` for softmax),
factored once per probe: the bound dominates the true Hessian, so the plain preconditioned step
``-B^{-1} g`` never increases the loss and serves as the fallback whenever a quasi-Newton step fails
its Armijo test. Binary probes still running after a few iterations (nearly separable classes, where
the bound is loose) finish with damped Newton steps on their own Hessians. Parameters live in one
tensor per probe, ``theta = [W^T | b]`` of shape ``[k, d + 1]``, so that the two-loop recursion and
the line search handle weights and bias together.

Ridge regression is solved in closed form from the Gram matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["fit_logistic", "fit_ridge"]


class _Working:
    """The probes being fitted: their rows in the output, their data and every per-probe tensor."""

    _PER_PROBE = ("rows", "X", "Y", "theta", "loss", "g", "chol")

    def __init__(self, **tensors):
        self.__dict__.update(tensors)
        self.history: list[tuple[torch.Tensor, torch.Tensor]] = []  # (step, gradient change) pairs

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the other probes (this copies the features of those kept)."""
        for name in self._PER_PROBE:
            setattr(self, name, getattr(self, name)[mask])
        self.history = [(s[mask], y[mask]) for s, y in self.history]


def _loss_grad(X: torch.Tensor, Y: torch.Tensor, theta: torch.Tensor, l2: float, binary: bool):
    """Per-probe objective and its gradient ``[m, k, d + 1]``; ``Y`` is ``[m, k, n]``."""
    W, b = theta[..., :-1], theta[..., -1:]
    Z = torch.baddbmm(b, W, X.mT)  # [m, k, n]: the W X^T order is the fast one for bmm on CPU
    if binary:
        loss = F.binary_cross_entropy_with_logits(Z, Y, reduction="none").sum((1, 2))
        R = torch.sigmoid(Z) - Y
    else:
        logp = Z.log_softmax(1)
        loss = -(logp * Y).sum((1, 2))
        R = logp.exp() - Y
    loss = loss + 0.5 * l2 * W.pow(2).sum((1, 2))
    return loss, torch.cat([torch.baddbmm(W, R, X, beta=l2), R.sum(-1, keepdim=True)], -1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum((1, 2))


def _lbfgs_direction(w: _Working, precondition) -> torch.Tensor:
    """The L-BFGS two-loop recursion over the stored pairs, with ``precondition`` as H0^-1."""
    q = w.g
    coefs = []
    for s, y in reversed(w.history):
        rho = 1.0 / _dot(s, y).clamp_min(1e-20)
        a = rho * _dot(s, q)
        q = q - a[:, None, None] * y
        coefs.append((a, rho))
    r = precondition(q)
    for (s, y), (a, rho) in zip(w.history, reversed(coefs), strict=True):
        r = r + (a - rho * _dot(y, r))[:, None, None] * s
    return -r


def _newton_step(w: _Working, l2: float) -> torch.Tensor:
    """The exact Newton step of binary probes, weights and bias jointly (for the last few probes)."""
    X = w.X
    p = torch.sigmoid(torch.baddbmm(w.theta[..., -1:], w.theta[..., :-1], X.mT))  # [m, 1, n]
    D = (p * (1 - p)).mT  # [m, n, 1]
    XD = X * D
    d = X.shape[-1]
    H = X.new_empty(len(X), d + 1, d + 1)
    H[:, :d, :d] = torch.bmm(XD.mT, X) + l2 * torch.eye(d, dtype=X.dtype, device=X.device)
    H[:, :d, d] = H[:, d, :d] = XD.sum(1)
    H[:, d, d] = D.sum((1, 2)) + 1e-6
    return -torch.cholesky_solve(w.g.mT, torch.linalg.cholesky(H)).mT


def fit_logistic(X: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-4, memory: int = 6, newton_after: int = 6,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fit one logistic probe per leading index of ``X``.

    Parameters
    ----------
    X
        ``[P, n, d]`` float features, centred per probe.
    y
        ``[P, n]`` class indices in ``0..n_classes-1``.

    Returns
    -------
    W, b, iterations
        ``[P, d, k]`` and ``[P, k]`` (the bias for centred features) with ``k = 1`` for two classes
        (logit of class 1) or ``k = n_classes``; the iteration count per probe.
    """
    P, n, d = X.shape
    binary = n_classes == 2
    k = 1 if binary else n_classes
    Y = y.unsqueeze(1).to(X.dtype) if binary else F.one_hot(y, n_classes).to(X.dtype).mT  # [P, k, n]
    c = 0.25 if binary else 0.5
    eye = torch.eye(d, dtype=X.dtype, device=X.device)
    chol = torch.linalg.cholesky(c * torch.bmm(X.mT, X) + (l2 + 1e-6) * eye)  # [P, d, d]
    b_scale = 1.0 / (c * n)
    theta_out = X.new_zeros(P, k, d + 1)
    iters = torch.full((P,), max_iter, dtype=torch.long, device=X.device)

    theta = X.new_zeros(P, k, d + 1)
    w = _Working(rows=torch.arange(P, device=X.device), X=X, Y=Y, theta=theta, chol=chol)
    w.loss, w.g = _loss_grad(X, Y, theta, l2, binary)

    def bound_step(g):  # B^-1 g: the bound's own step always descends
        return torch.cat([torch.cholesky_solve(g[..., :-1].mT, w.chol).mT, g[..., -1:] * b_scale], -1)

    finished = torch.zeros(P, dtype=torch.bool, device=X.device)  # over w.rows: outputs already written
    for it in range(max_iter):
        use_newton = binary and it >= newton_after and d <= 1024
        if use_newton and finished.any():  # Newton's per-probe Hessians are costly: only for live probes
            w.keep(~finished)
            finished = finished[~finished]
        step = _newton_step(w, l2) if use_newton else _lbfgs_direction(w, bound_step)
        for _ in range(8 if use_newton else 1):
            new_loss, new_g = _loss_grad(w.X, w.Y, w.theta + step, l2, binary)
            failed = (new_loss > w.loss + 1e-4 * _dot(w.g, step)) & ~finished
            if not failed.any():
                break
            if use_newton:  # backtrack
                step = torch.where(failed[:, None, None], step / 2, step)
            else:
                step = torch.where(failed[:, None, None], -bound_step(w.g), step)
                new_loss, new_g = _loss_grad(w.X, w.Y, w.theta + step, l2, binary)
        w.history = (w.history + [(step, new_g - w.g)])[-memory:]
        w.theta, w.loss, w.g = w.theta + step, new_loss, new_g
        # scikit-learn's criterion: the largest gradient entry of the mean loss below tol
        done = (w.g.abs().amax((1, 2)) / n <= tol) & ~finished
        if done.any():
            theta_out[w.rows[done]] = w.theta[done]
            iters[w.rows[done]] = it + 1
            finished |= done
            if finished.all():
                break
            # finished probes ride along (their later steps are never read) until they are half the set:
            # dropping them copies the features of the rest, which costs more than a few wasted products
            if 2 * finished.sum() >= len(finished):
                w.keep(~finished)
                finished = finished[~finished]
    else:
        theta_out[w.rows[~finished]] = w.theta[~finished]
    return theta_out[..., :-1].mT, theta_out[..., -1], iters


def fit_ridge(X: torch.Tensor, y: torch.Tensor, l2: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge regression per probe: ``X`` [P, n, d] centred, ``y`` [P, n] -> W [P, d, 1], b [P, 1]."""
    d = X.shape[-1]
    ym = y.mean(1, keepdim=True)
    rhs = torch.bmm(X.mT, (y - ym).unsqueeze(-1))
    A = torch.bmm(X.mT, X) + l2 * torch.eye(d, dtype=X.dtype, device=X.device)
    return torch.cholesky_solve(rhs, torch.linalg.cholesky(A)), ym
