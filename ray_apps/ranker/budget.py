"""The training budget a set of runs shared, in words, for the comparison report."""

from __future__ import annotations

CONVERGED_EPOCHS = 10  # the budget of the project's converged comparison (bench/quality_demo.py --epochs 10)


def budget_note(rows: list[dict]) -> list[str]:
    """A warning under the title when the runs trained for fewer than CONVERGED_EPOCHS epochs: an
    ordering at a short budget (the demo's) is not the ordering at convergence."""
    epochs = {r.get("config", {}).get("epochs") for r in rows}
    if not epochs or None in epochs or max(epochs) >= CONVERGED_EPOCHS:
        return []
    return [
        f"> Measured at a short budget (at most {max(epochs)} epoch(s)): read the ranking below as that budget's. "
        "Orderings change at convergence: the project's converged comparison (3 seeds, up to "
        f"{CONVERGED_EPOCHS} epochs with early stopping, `bench/quality_demo.py`) is in the repository's "
        'bench/README.md, "Current figures".',
        "",
    ]


def budget_in_words(rows: list[dict]) -> str:
    """The training budget and protocol the runs share, in words (or a warning when they differ)."""
    keys = ("epochs", "batch_size", "lr", "early_stop", "monitor", "patience", "lr_decay")
    seeds = sorted({r.get("config", {}).get("seed", 0) for r in rows})
    if any(r.get("config", {}).get("tuned") for r in rows):
        return f"each model with the settings `umair tune` found for it (see each run's metrics.json); seeds {seeds}"
    budgets = {tuple(r.get("config", {}).get(k) for k in keys) for r in rows}
    if len(budgets) != 1:
        return "**the runs were trained with different budgets** (see each run's metrics.json)"
    epochs, batch, lr, early, monitor, patience, decay = budgets.pop()
    protocol = (
        f"up to {epochs} epoch(s) with early stopping on validation {monitor} (patience {patience}, "
        f"learning rate x{decay} after each epoch without improvement, the best epoch's weights tested)"
        if early
        else f"{epochs} epoch(s)"
    )
    return f"every model trained for {protocol} at batch {batch}, Adam lr {lr}; seeds {seeds}"
