"""The constraint graph: parameters and regions are nodes, derivations are edges.

Each ``Step`` computes one named value from the values it ``needs``; the graph is evaluated in
topological order (networkx). A step that cannot be satisfied raises ``Infeasible``, which
becomes an LC3xx diagnostic naming every participant's source position; the steps downstream
of it are skipped (their inputs do not exist), so one root cause gives one error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from layoutc.diagnostics.diagnostic import Diagnostics, Related
from layoutc.model.profile import Profile
from layoutc.solve.solver_codes import CODE2RULE


@dataclass(frozen=True, slots=True)
class Step:
    """One derivation. ``inputs`` are the profile paths it reads (its provenance)."""

    name: str
    needs: tuple[str, ...]
    run: Callable[[Mapping[str, Any]], Any]
    inputs: tuple[str, ...] = ()
    rule: str = ""
    source: str = ""


class Infeasible(Exception):
    """A constraint that cannot hold: ``message`` says by how much it misses."""

    def __init__(self, code: str, message: str, *, paths: tuple[str, ...], hint: str, value: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.paths = paths
        self.hint = hint
        self.value = value


@dataclass
class Evaluation:
    values: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    order: list[str] = field(default_factory=list)


def build(steps: tuple[Step, ...]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for step in steps:
        graph.add_node(step.name, step=step)
    for step in steps:
        for need in step.needs:
            graph.add_edge(need, step.name)
    return graph


def evaluate(steps: tuple[Step, ...], profile: Profile, diags: Diagnostics, seed: Mapping[str, Any]) -> Evaluation:
    """Run every step in dependency order; report cycles and infeasible constraints."""
    graph = build(steps)
    result = Evaluation(values=dict(seed))
    missing = sorted(n for n in graph.nodes if "step" not in graph.nodes[n] and n not in seed)
    if missing:
        raise ValueError(f"steps need undefined values: {missing}")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [edge[0] for edge in nx.find_cycle(graph)]
        report_cycle(cycle, graph, profile, diags)
        result.failed.update(graph.nodes)
        return result
    for name in nx.lexicographical_topological_sort(graph):
        if name in seed:
            continue
        step: Step = graph.nodes[name]["step"]
        if any(need in result.failed for need in step.needs):
            result.failed.add(name)
            continue
        try:
            result.values[name] = step.run(result.values)
            result.order.append(name)
        except Infeasible as exc:
            report(exc, profile, diags)
            result.failed.add(name)
    return result


def report(exc: Infeasible, profile: Profile, diags: Diagnostics) -> None:
    first, *others = exc.paths or ("",)
    related = tuple(Related(profile.span(p), f"{p} takes part") for p in others if p in profile.spans)
    diags.error(
        exc.code,
        exc.message,
        span=profile.span(first),
        path=first,
        value=exc.value,
        rule=CODE2RULE[exc.code],
        hint=exc.hint,
        related=related,
    )


def report_cycle(cycle: list[str], graph: nx.DiGraph, profile: Profile, diags: Diagnostics) -> None:
    related = []
    for name in cycle:
        step = graph.nodes[name].get("step")
        inputs = step.inputs if step else ()
        for path in inputs or ("",):
            related.append(Related(profile.span(path), f"'{name}' reads {path or 'the profile'}"))
    diags.error(
        "LC301",
        "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
        span=profile.span(""),
        rule=CODE2RULE["LC301"],
        hint="a value cannot depend on itself; pin one of them",
        related=tuple(related),
    )
