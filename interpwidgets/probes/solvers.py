"""Batched solvers: many linear probes fitted as one torch problem.

Logistic regression (sigmoid for two classes, softmax for more) minimises, per probe, the same
objective as scikit-learn's ``LogisticRegression(C=1/l2)``: the summed log loss plus
``l2/2 * ||W||^2`` (the bias is not penalised). The solver is L-BFGS whose initial inverse Hessian
is Böhning's bound ``B = c * Xc^T Xc + l2 * I`` (``c = 1/4`` for the sigmoid, ``1/2`` for softmax),
factored once per probe: the bound dominates the true Hessian, so the plain preconditioned step
``-B^{-1} g`` never increases the loss and serves as the fallback whenever a quasi-Newton step fails
its Armijo test. Features are centred implicitly (no copy of X), which makes the bias block of
``B`` decouple from the weights.

Ridge regression is solved in closed form from the centred Gram matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["fit_logistic", "fit_ridge"]


class _Problem:
    """One chunk of probes: X [P, n, d], targets, and the centred-feature algebra."""

    def __init__(self, X: torch.Tensor, l2: float):
        self.X = X
        self.n = X.shape[1]
        self.mu = X.mean(1)  # [P, d]
        self.l2 = l2

    def gram(self) -> torch.Tensor:
        """Xc^T Xc, without forming Xc."""
        G = torch.bmm(self.X.transpose(1, 2), self.X)
        return G - self.n * self.mu.unsqueeze(2) * self.mu.unsqueeze(1)

    def scores(self, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Xc W + b: [P, n, k]."""
        return torch.bmm(self.X, W) - torch.bmm(self.mu.unsqueeze(1), W) + b.unsqueeze(1)

    def back(self, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Xc^T R and 1^T R for residuals R [P, n, k]."""
        s = R.sum(1)  # [P, k]
        g = torch.bmm(R.transpose(1, 2), self.X).transpose(1, 2)  # reads X row-major
        return g - self.mu.unsqueeze(2) * s.unsqueeze(1), s


def _loss_grad(prob: _Problem, W, b, Y, binary: bool):
    Z = prob.scores(W, b)
    if binary:
        loss = F.binary_cross_entropy_with_logits(Z, Y, reduction="none").sum((1, 2))
        R = torch.sigmoid(Z) - Y
    else:
        logp = Z.log_softmax(-1)
        loss = -(logp * Y).sum((1, 2))
        R = logp.exp() - Y
    gW, gb = prob.back(R)
    loss = loss + 0.5 * prob.l2 * (W * W).sum((1, 2))
    return loss, gW + prob.l2 * W, gb


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1)


def fit_logistic(X: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float = 1.0, max_iter: int = 100,
                 tol: float = 1e-4, memory: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fit one logistic probe per leading index of ``X``.

    Parameters
    ----------
    X
        ``[P, n, d]`` float features.
    y
        ``[P, n]`` class indices in ``0..n_classes-1``.

    Returns
    -------
    W, b, iterations
        ``[P, d, k]`` and ``[P, k]`` with ``k = 1`` for two classes (logit of class 1) or
        ``k = n_classes``; the iteration count per probe.
    """
    P, n, d = X.shape
    binary = n_classes == 2
    k = 1 if binary else n_classes
    Y = y.unsqueeze(-1).to(X.dtype) if binary else F.one_hot(y, n_classes).to(X.dtype)
    prob = _Problem(X, l2)
    c = 0.25 if binary else 0.5
    eye = torch.eye(d, dtype=X.dtype, device=X.device)
    chol = torch.linalg.cholesky(c * prob.gram() + (l2 + 1e-6) * eye)  # [P, d, d]
    b_scale = 1.0 / (c * n)

    def precondition(gW, gb):
        return torch.cholesky_solve(gW, chol), gb * b_scale

    W = X.new_zeros(P, d, k)
    b = X.new_zeros(P, k)
    loss, gW, gb = _loss_grad(prob, W, b, Y, binary)
    history: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    iters = torch.zeros(P, dtype=torch.long, device=X.device)
    active = torch.ones(P, dtype=torch.bool, device=X.device)
    for _ in range(max_iter):
        # two-loop recursion over the stored pairs, with B^-1 as the initial inverse Hessian
        qW, qb = gW.clone(), gb.clone()
        coefs = []
        for sW, sb, yW, yb in reversed(history):
            rho = 1.0 / (_dot(sW, yW) + _dot(sb, yb)).clamp_min(1e-20)
            a = rho * (_dot(sW, qW) + _dot(sb, qb))
            qW, qb = qW - a[:, None, None] * yW, qb - a[:, None] * yb
            coefs.append((a, rho))
        rW, rb = precondition(qW, qb)
        for (sW, sb, yW, yb), (a, rho) in zip(history, reversed(coefs), strict=True):
            beta = rho * (_dot(yW, rW) + _dot(yb, rb))
            rW, rb = rW + (a - beta)[:, None, None] * sW, rb + (a - beta)[:, None] * sb
        stepW, stepb = -rW, -rb
        stepW[~active], stepb[~active] = 0, 0
        new_loss, ngW, ngb = _loss_grad(prob, W + stepW, b + stepb, Y, binary)
        failed = new_loss > loss + 1e-4 * (_dot(gW, stepW) + _dot(gb, stepb))
        if failed.any():  # the bound's own step always descends
            fW, fb = precondition(gW, gb)
            stepW = torch.where(failed[:, None, None], -fW, stepW)
            stepb = torch.where(failed[:, None], -fb, stepb)
            stepW[~active], stepb[~active] = 0, 0
            new_loss, ngW, ngb = _loss_grad(prob, W + stepW, b + stepb, Y, binary)
        history.append((stepW, stepb, ngW - gW, ngb - gb))
        history = history[-memory:]
        W, b, loss, gW, gb = W + stepW, b + stepb, new_loss, ngW, ngb
        iters += active
        # scikit-learn's criterion: the largest gradient entry of the mean loss below tol
        gmax = torch.maximum(gW.abs().flatten(1).amax(1), gb.abs().amax(1)) / n
        active = active & (gmax > tol)
        if not active.any():
            break
    return W, b - (prob.mu.unsqueeze(1) @ W).squeeze(1), iters


def fit_ridge(X: torch.Tensor, y: torch.Tensor, l2: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge regression per probe: ``X`` [P, n, d], ``y`` [P, n] -> W [P, d, 1], b [P, 1]."""
    prob = _Problem(X, l2)
    d = X.shape[-1]
    ym = y.mean(1, keepdim=True)
    rhs, _ = prob.back((y - ym).unsqueeze(-1))
    A = prob.gram() + l2 * torch.eye(d, dtype=X.dtype, device=X.device)
    W = torch.cholesky_solve(rhs, torch.linalg.cholesky(A))
    return W, ym - (prob.mu.unsqueeze(1) @ W).squeeze(1)
