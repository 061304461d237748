"""Promote a gated challenger, or roll back to the previous champion: the registry's `champion` alias
and the running endpoint move together, through the endpoint's in-place swap (no request dropped).

    umair promote --run RUNS/<run> --lake LAKE [--address auto] [--force "why"]
    umair rollback --runs RUNS --lake LAKE [--address auto]

Order: the endpoint swaps first, then the alias moves, so the alias always names what is served (a
swap that fails leaves both where they were). Without --address only the alias moves; the console
says so. A run is promoted only when its gate.json says so against the current champion (`umair
gate`), or when there is no champion yet, or with --force and a reason (recorded). One promotion or
rollback at a time per runs folder (RUNS/lifecycle.lock).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

from ray_apps.console import setup_console
from ray_apps.lifecycle import registry
from ray_apps.lifecycle.lock import LockHeldError, lifecycle_lock
from ray_apps.settings import add_address_flag
from umair_models import storage


class PromotionRefused(RuntimeError):
    """The run may not become the champion (no accepting gate against the current one, nothing to roll back to)."""


@dataclass(frozen=True)
class Move:
    """What a promotion or rollback did: versions and run folders before and after, and whether the endpoint swapped."""

    before: tuple[str, str] | None
    after: tuple[str, str]
    swapped: bool
    reason: str


def _gate_reason(run_dir: str, current: tuple[str, str] | None, force: str | None) -> str:
    """Why `run_dir` may be promoted over `current`; PromotionRefused when it may not."""
    if force:
        return f"forced by hand: {force}"
    if current is None:
        return "first champion"
    gate_file = storage.join(run_dir, "gate.json")
    if not storage.exists(gate_file):
        raise PromotionRefused(
            f"{run_dir} has not been gated: run `umair gate --champion {current[1]} --challenger {run_dir} --lake LAKE`"
        )
    decision = json.loads(storage.read_text(gate_file))
    if storage.absolute(decision["champion"]) != current[1]:
        raise PromotionRefused(
            f"{run_dir} was gated against {decision['champion']}, but the champion is now {current[1]}: gate it again"
        )
    if not decision["promote"]:
        raise PromotionRefused(f"the gate rejected {run_dir}: {decision['reason']}")
    return f"gate: {decision['reason']}"


def _swap(run_dir: str, lake: str | None, address: str | None) -> bool:
    """Swap the endpoint when told where it runs: a lake, and a Ray address (or this process's Ray)."""
    import ray

    if lake is None or (address is None and not os.environ.get("RAY_ADDRESS") and not ray.is_initialized()):
        return False
    from ray_apps.serve.deploy import swap_keeping_settings

    swap_keeping_settings(run_dir, lake, address)
    return True


def promote(run: str, lake: str | None = None, address: str | None = None, force: str | None = None) -> Move:
    """Make `run` the champion (and swap the endpoint on the Ray cluster at `address` to it)."""
    run_dir = storage.absolute(run)
    with lifecycle_lock(registry.runs_of(run_dir), f"promote {run_dir}"):
        return promote_holding_lock(run_dir, lake, address, force)


def promote_holding_lock(run_dir: str, lake: str | None, address: str | None, force: str | None = None) -> Move:
    """`promote` for a caller that already holds RUNS/lifecycle.lock (`umair cycle`)."""
    runs = registry.runs_of(run_dir)
    current = registry.champion(runs)
    if current and current[1] == run_dir:
        raise PromotionRefused(f"{run_dir} is already the champion (version {current[0]})")
    reason = _gate_reason(run_dir, current, force)
    version = registry.model_version(run_dir)
    swapped = _swap(run_dir, lake, address)
    registry.move_champion(runs, version, "promote", reason)
    return Move(current, (version, run_dir), swapped, reason)


def rollback(runs: str, lake: str | None = None, address: str | None = None, reason: str = "rollback by hand") -> Move:
    """Return the champion alias (and the endpoint) to the champion before the current one."""
    runs = storage.absolute(runs)
    with lifecycle_lock(runs, "rollback"):
        past = registry.history(runs)
        current = registry.champion(runs)
        if current is None or len(past) < 2:
            raise PromotionRefused(f"no previous champion to roll back to in {registry.tracking_uri(runs)}")
        previous = past[-2]
        with registry.client(runs) as c:
            previous_dir = c.get_model_version(registry.MODEL_NAME, previous).source
        swapped = _swap(previous_dir, lake, address)
        registry.move_champion(runs, previous, "rollback", reason)
        return Move(current, (previous, previous_dir), swapped, reason)


def report(verb: str, move: Move) -> None:
    before = f"version {move.before[0]} ({move.before[1]})" if move.before else "no champion"
    print(f"{verb}: champion {before} -> version {move.after[0]} ({move.after[1]}); {move.reason}")
    if move.swapped:
        print(f"{verb}: the endpoint now serves {move.after[1]} (GET /v1/model shows the run)")
    else:
        print(f"{verb}: the alias moved, no endpoint was swapped (give --lake and --address to swap a running one)")


def _run_cli(verb: str, action) -> int:
    setup_console(announce=False)
    try:
        report(verb, action())
    except (PromotionRefused, LockHeldError, registry.RegistryError) as e:
        print(f"{verb}: REFUSED: {e}")
        return 3
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Make a gated run the champion and swap the endpoint to it.")
    p.add_argument("--run", required=True, help="the run folder to promote (RUNS/<run>)")
    p.add_argument("--lake", default=None, help="the lake the endpoint serves from (needed to swap it)")
    p.add_argument(
        "--force", default=None, metavar="REASON", help="promote without an accepting gate; the reason is recorded"
    )
    add_address_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    return _run_cli("promote", lambda: promote(a.run, a.lake, a.address, a.force))


def build_rollback_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Return the champion alias and the endpoint to the previous champion.")
    p.add_argument("--runs", required=True, help="the runs folder whose registry holds the champion")
    p.add_argument("--lake", default=None, help="the lake the endpoint serves from (needed to swap it)")
    p.add_argument("--reason", default="rollback by hand", help="recorded on the registry's versions")
    add_address_flag(p)
    return p


def rollback_main(argv: list[str] | None = None) -> int:
    a = build_rollback_parser().parse_args(argv)
    return _run_cli("rollback", lambda: rollback(a.runs, a.lake, a.address, a.reason))
