"""Prior sensitivity: per-sample gradients at the pretrained weights, the diagonal empirical Fisher
("measure") and the two-sided low-rank gradient subspace of every weight matrix ("orient").

Reconstruction of SRFT's prior sensitivity (docs/method.md; the paper's equations could not be
read): for N pre-training samples with per-sample gradients
G_n = dL(x_n; theta_0)/dW of a weight matrix W (d_out x d_in),

    F_diag = (1/N) sum_n G_n * G_n                      (element-wise; EWC's importance)
    C_out  = sum_n G_n G_n^T,   C_in = sum_n G_n^T G_n  (K-FAC / GPM-style two-sided factors)

and the top-k eigenvectors P_out, P_in of C_out and C_in span the prior-sensitive subspace of W
(k fixed, or the smallest k holding a share `energy` of the eigenvalue mass). Convolution kernels are
treated as matrices (d_out, rest); vectors (biases, norms, embeddings) keep only the diagonal. The
gradients are taken per sample with `torch.func` (functional_call + vmap + grad) in chunks, so the
memory held is chunk x parameters, and a Python loop over samples exists only as the test reference.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

SampleLoss = Callable[[dict[str, Tensor], dict[str, Tensor]], Tensor]


def per_sample_gradients(loss: SampleLoss, params: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Gradients of `loss(params, sample)` for every sample of `batch` (leading dimension), vectorised.

    Returns `{name: (B, *param.shape)}`.
    """
    return vmap(grad(loss), in_dims=(None, 0))(params, batch)


def per_sample_gradients_loop(loss: SampleLoss, params: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The slow reference: one `torch.func.grad` call per sample."""
    n = next(iter(batch.values())).shape[0]
    grads = [grad(loss)(params, {k: v[i] for k, v in batch.items()}) for i in range(n)]
    return {name: torch.stack([g[name] for g in grads]) for name in params}


def tracker_sample_loss(model: nn.Module, objective: Callable[..., Tensor]) -> tuple[SampleLoss, dict[str, Tensor]]:
    """A per-sample loss over the model's trainable parameters, and those parameters (detached).

    Buffers (BatchNorm statistics) are fixed: the model must be in eval mode, as per-sample
    gradients of a batch statistic are not defined.
    """
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(trainable: dict[str, Tensor], sample: dict[str, Tensor]) -> Tensor:
        state = {**frozen, **buffers, **trainable}
        out = functional_call(model, state, (sample["template"][None], sample["search"][None]))
        return objective(out, sample["search_box"][None], sample["score_map"][None])

    return loss, params


@dataclass
class PriorStatistics:
    """Accumulated sums over samples; `finish()` turns them into the prior artifact's tensors."""

    n: int
    diag_sum: dict[str, Tensor]
    c_out: dict[str, Tensor]
    c_in: dict[str, Tensor]


def as_matrix(g: Tensor) -> Tensor:
    """(B, d_out, ...) per-sample gradients of a weight -> (B, d_out, d_in)."""
    return g.reshape(g.shape[0], g.shape[1], -1)


def _matrix_like(g: Tensor) -> bool:
    """Per-sample gradients (B, d_out, ...) of a parameter with more than one row and column."""
    return g.dim() >= 3 and g.shape[1] > 1 and g[0, 0].numel() > 1


def accumulate(stats: PriorStatistics | None, grads: dict[str, Tensor]) -> PriorStatistics:
    """Add one chunk of per-sample gradients to the running sums."""
    if stats is None:
        stats = PriorStatistics(0, {}, {}, {})
    for name, g in grads.items():
        g = g.detach()
        stats.diag_sum[name] = stats.diag_sum.get(name, 0) + (g * g).sum(0).double()
        if _matrix_like(g):
            # one float32 GEMM per side (summed in float64 across chunks): sum_b M_b M_b^T and sum_b M_b^T M_b
            m = as_matrix(g)  # (B, d_out, d_in)
            rows = m.permute(1, 0, 2).reshape(m.shape[1], -1)  # (d_out, B * d_in)
            cols = m.reshape(-1, m.shape[2])  # (B * d_out, d_in)
            stats.c_out[name] = stats.c_out.get(name, 0) + (rows @ rows.T).double()
            stats.c_in[name] = stats.c_in.get(name, 0) + (cols.T @ cols).double()
    stats.n += next(iter(grads.values())).shape[0]
    return stats


def select_top(values: Tensor, vectors: Tensor, rank: int | None, energy: float | None) -> tuple[Tensor, Tensor]:
    """From `torch.linalg.eigh`'s ascending output of a symmetric PSD matrix, the leading eigenpairs:
    `rank` of them, or the fewest holding `energy` of the spectrum (at most `rank`)."""
    values, vectors = values.flip(0).clamp(min=0), vectors.flip(1)
    if energy is not None:
        share = torch.cumsum(values, 0) / values.sum().clamp(min=1e-30)
        k = int(torch.searchsorted(share, torch.tensor(energy, dtype=share.dtype)).item()) + 1
        k = min(k, len(values)) if rank is None else min(k, rank, len(values))
    else:
        k = min(rank or len(values), len(values))
    return values[:k], vectors[:, :k]


def effective_rank(values: Tensor) -> float:
    """exp(entropy) of the normalised eigenvalue spectrum (Roy & Vetterli 2007): 1 for one direction."""
    p = values.clamp(min=0) / values.clamp(min=0).sum().clamp(min=1e-30)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum())) if len(p) else 0.0


def prior_artifact(stats: PriorStatistics, *, rank: int | None,
                   energy: float | None) -> tuple[dict[str, Tensor], dict[str, dict[str, float]]]:
    """The artifact as a flat tensor dict (safetensors-ready: `<param>.fisher`, and for matrices
    `<param>.out_vectors/out_values/in_vectors/in_values`) and, per parameter, its Fisher energy,
    effective ranks and kept k."""
    out: dict[str, Tensor] = {}
    summary: dict[str, dict[str, float]] = {}
    for name, diag in stats.diag_sum.items():
        fisher = diag / stats.n
        out[f"{name}.fisher"] = fisher.float()
        summary[name] = {"fisher_energy": float(fisher.sum()), "numel": fisher.numel()}
        if name in stats.c_out:
            for side, matrix in (("out", stats.c_out[name]), ("in", stats.c_in[name])):
                all_values, all_vectors = torch.linalg.eigh(matrix)
                summary[name][f"{side}_effective_rank"] = effective_rank(all_values)
                values, vectors = select_top(all_values, all_vectors, rank, energy)
                out[f"{name}.{side}_values"] = (values / stats.n).float().contiguous()
                out[f"{name}.{side}_vectors"] = vectors.float().contiguous()
                summary[name][f"{side}_k"] = len(values)
    return out, summary


def extract_prior(model: nn.Module, batches: Iterable[dict[str, Tensor]], objective: Callable[..., Tensor], *,
                  rank: int | None, energy: float | None) -> tuple[dict[str, Tensor], dict[str, dict[str, float]]]:
    """Prior sensitivity of `model`'s trainable parameters over all samples of `batches` (chunks):
    the artifact tensors and a per-parameter summary."""
    was_training = model.training
    model.eval()
    loss, params = tracker_sample_loss(model, objective)
    stats = None
    with warnings.catch_warnings():
        # vmap has no batching rule for CPU flash attention and falls back to a loop inside the op;
        # measured on 2 CPU cores: explicit attention is not faster
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
        for batch in _tensors_only(batches):
            stats = accumulate(stats, per_sample_gradients(loss, params, batch))
    model.train(was_training)
    if stats is None:
        raise ValueError("no samples to compute the prior sensitivity from")
    return prior_artifact(stats, rank=rank, energy=energy)


def _tensors_only(batches: Iterable[dict[str, Tensor]]) -> Iterator[dict[str, Tensor]]:
    for batch in batches:
        yield {k: v for k, v in batch.items() if k in ("template", "search", "search_box", "score_map")}


PRIOR_STATISTICS = ("fisher", "out_vectors", "out_values", "in_vectors", "in_values")
NON_NEGATIVE = ("fisher", "out_values", "in_values")  # a diagonal Fisher and eigenvalues of PSD matrices


def validate_prior(prior: dict[str, Tensor], source: str) -> None:
    """A prior file as `python -m srtrack.sensitivity` writes it: keys `<param>.<statistic>`, every value
    finite, Fisher and eigenvalues non-negative, vectors 2-D and values 1-D with matching k.
    Raises CheckpointError naming the first offending tensors (a NaN in the file must not show up as
    "training diverged at step 1")."""
    from srtrack.errors import CheckpointError

    bad = []
    for key, value in prior.items():
        name, _, statistic = key.rpartition(".")
        if not name or statistic not in PRIOR_STATISTICS:
            bad.append(f"{key}: not a prior statistic (expected <parameter>.<{'|'.join(PRIOR_STATISTICS)}>)")
            continue
        if not value.is_floating_point():
            bad.append(f"{key}: {value.dtype} values, expected floating point")
            continue
        finite = torch.isfinite(value)
        if not finite.all():
            bad.append(f"{key}: {int((~finite).sum())} NaN or infinite value(s)")
        elif statistic in NON_NEGATIVE and (value < 0).any():
            bad.append(f"{key}: {int((value < 0).sum())} negative value(s) (min {float(value.min()):.3g}); a "
                       f"{'Fisher information' if statistic == 'fisher' else 'covariance eigenvalue'} is never negative")
        dims = {"vectors": 2, "values": 1}.get(statistic.partition("_")[2])
        if dims is not None and value.dim() != dims:
            bad.append(f"{key}: {value.dim()}-D, expected {dims}-D")
    if bad:
        raise CheckpointError(f"{source}: {len(bad)} prior tensor(s) are not a valid prior sensitivity (write it "
                              f"again with python -m srtrack.sensitivity):\n  " + "\n  ".join(bad[:10])
                              + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""))


def check_prior(prior: dict[str, Tensor], params: dict[str, Tensor], source: str) -> None:
    """Every statistic of a trainable parameter has the shape that parameter needs: `fisher` its
    shape, `out_vectors` (d_out, k), `in_vectors` (d_in, k), `*_values` (k,). Raises CheckpointError
    naming the first misfits (a prior of another model size fails here, not at step 1)."""
    from srtrack.errors import CheckpointError

    bad = []
    for key, value in prior.items():
        name, statistic = key.rsplit(".", 1) if "." in key else (key, "")
        param = params.get(name)
        if param is None:
            continue
        d_out = param.shape[0] if param.dim() else 1
        d_in = param.numel() // max(d_out, 1)
        side = statistic.split("_")[0]
        expected = {"fisher": tuple(param.shape)}.get(statistic)
        if statistic.endswith("_vectors"):
            ok = value.dim() == 2 and value.shape[0] == (d_out if side == "out" else d_in)
            shape = f"({d_out if side == 'out' else d_in}, k)"
        elif statistic.endswith("_values"):
            k = prior.get(f"{name}.{side}_vectors")
            ok = value.dim() == 1 and (k is None or k.dim() != 2 or value.shape[0] == k.shape[1])
            shape = "(k,) with k the vectors' columns"
        else:
            ok = expected is None or tuple(value.shape) == expected
            shape = str(expected)
        if not ok:
            bad.append(f"{key}: {tuple(value.shape)}, expected {shape} for parameter {name} {tuple(param.shape)}")
    if bad:
        raise CheckpointError(f"{source}: {len(bad)} prior tensor(s) do not fit the model (computed for another model "
                          f"size?):\n  " + "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""))
