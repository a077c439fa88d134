"""Branch and price on ports: nodes of column generation's own master, with ports fixed.

Column generation's bound (placer.colgen) is the Dantzig-Wolfe dual: each piece (a
workload, or the workloads sharing a port) convexified alone, the rules that tie them
priced. Where its master LP buys a port in part (say 0.69 of a $200,000 port to XLA, the
rest of that codebase on Nvidia), it pays a share of the port for a share of the
capacity the port opens, which no plan can do: that is most of the gap left on the
generated 1,000-workload fleets (with the ports' costs set to zero they are proven
within 0.05 % in 10 s; BENCHMARKS.md, forty-fifth session).

So the tree branches on such a port: forbidden (its variable at 0) or bought (at 1).
Every plan keeps one side, so the lower child's bound is a bound on the fleet, and
neither child's master can buy that port in part. It grows inside the master column
generation left: a node's LP uses only the columns that keep its ports (Master.fix,
its coupling rows relaxed at a price until its columns meet them), its rounds price
the pieces with the ports fixed, starting from its parent's prices and bound (a bound
on the parent is one on each child). Every column any node finds is an integer solution
of one piece of the fleet itself, so the master in integers after the tree searches
over all of them, first over the lowest leaf's LP (placer.solve).

A node takes a few rounds where a solve of the fleet takes its whole pipeline: seed 1 of
the generated 1,000-workload fleets, after its 4 s of rounds, cb0003's XLA port
forbidden 2.5 s ($20,120,860 -> $20,170,057), bought 2.5 s ($20,137,243), then Neuron
also bought 1.6 s ($20,146,590): the bounds the forty-fifth session's whole solves of
10-20 s each gave.

Of a port's two children the side the LP leans to is solved first, in half the time
left at most; the other's rounds stop once its bound passes the first's (or any
leaf's), since a leaf above another is not branched on. Either goes on should it
become the lowest leaf, its rounds stopped so or cut by the clock, while a full round
fits (PortNode.unfinished). At 10 s a first child ran to the tree's deadline and left
its sibling none, and the tree's bound was the root's: 4 of 5 trees on seed 1 in the
forty-ninth session.
Most full rounds here price the pieces sharing ports without a search, where their port
sets' covers meet a floor (colgen.Master.price). Seed 0 at 30 s: the same four nodes
and bounds in 6.1 s, not 10.9 s (BENCHMARKS.md, forty-seventh session).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from placer.colgen import ColumnGeneration, Master, generate_columns

# A port's share in a master LP counts as in part between this and 1 minus it (below
# it, the LP's own tolerance).
PORT_IN_PART = 1e-4
# Fleets of at most this many workloads are not branched on: their whole model is searched
# after their neighbourhoods (solve.LNS_ABOVE_WORKLOADS), which proves many in 60 s.
SMALL_FLEET_WORKLOADS = 200
# Two children are solved where the time left holds two nodes, each as long as the
# last branching's slower child, or before any this share of the root's rounds (the
# 1,000-workload fleets: rounds of 3.3-6 s, children 1-2.5 s since the forty-seventh
# session; 0.4 grew more trees at 20 s, which helped seeds 1 and 3 and cost seeds 4 and
# 5, 7 of 12 runs within 0.1 % against 6, and at 30 s 4 of 6 against 5: not kept).
NODE_OF_ROOT = 0.7


@dataclass(eq=False)  # a node is itself: compared by identity
class PortNode:
    """Some ports fixed, and what the master's rounds found there."""

    fixed: dict[int, int]          # port variable -> 1 (bought) or 0 (forbidden)
    bound: float                   # solver units: a bound on every plan keeping `fixed`
    duals: np.ndarray | None       # its master LP's last prices (its children start there)
    shares: np.ndarray | None      # per port, what its master LP buys of it
    time_s: float = 0.0
    rounds: int = 0
    cut_by_time: bool = False      # its rounds ended by the wall clock
    # its rounds stopped once its bound passed a leaf's known lower, or the clock cut
    # them: they go on if it becomes the lowest leaf, where a full round fits
    unfinished: bool = False


@dataclass
class PortTree:
    """The nodes grown from column generation's root; every plan is in one leaf."""

    root: PortNode
    leaves: list[PortNode]
    nodes: list[PortNode]          # those solved after the root, in order
    # why it stopped: gap limit, no port in part, time limit or stopped
    stop_reason: str = ""
    # the wall clock ended it or a node's rounds: another run may end elsewhere
    cut_by_time: bool = False

    @property
    def bound(self) -> float:
        """The lowest leaf's bound: one on every plan (solver units)."""
        return min(node.bound for node in self.leaves)

    @property
    def lowest(self) -> PortNode:
        return min(self.leaves, key=lambda node: node.bound)


def port_to_branch_on(shares: np.ndarray | None, ports: np.ndarray, cost: np.ndarray
                      ) -> int | None:
    """The port variable a master LP buys most in part: its cost times the share it lacks
    of whole or none (on a tie the first); None where it buys none in part."""
    if shares is None:
        return None
    part = np.flatnonzero(in_part(shares))
    if len(part) == 0:
        return None
    lacking = np.minimum(shares[part], 1 - shares[part])
    return int(ports[part[np.argmax(cost[part] * lacking)]])


def in_part(shares: np.ndarray) -> np.ndarray:
    """A mask of the ports a master LP buys in part, of their `shares` (NaN: none)."""
    return np.nan_to_num(np.minimum(shares, 1 - shares)) > PORT_IN_PART


def solve_node(master: Master, fixed: dict[int, int], parent: PortNode, ports: np.ndarray,
               hint: np.ndarray, deadline: float, workers: int,
               should_stop: Callable[[], bool], full_round_s: float,
               stop_above: float = math.inf) -> PortNode:
    """Node `fixed` of `parent`: the master's rounds with its ports fixed, from the
    parent's prices and bound (a bound of the parent's is one of each child's), until
    their end or until the bound passes `stop_above` (unfinished). `parent` may be the
    node itself, unfinished: its rounds go on. Leaves the master's variables fixed so."""
    started = time.perf_counter()
    master.fix(fixed)
    node = PortNode(dict(fixed), parent.bound, parent.duals, None)
    if parent.fixed == fixed:
        node.time_s, node.rounds = parent.time_s, parent.rounds
    if parent.duals is None:
        return node
    # a column that keeps the ports fixed for each piece holding one, at the parent's
    # prices: the parent's may all buy what the node forbids, or the other way round
    pieces = np.unique(master.piece_of[np.fromiter(fixed, dtype=np.int64)])
    priced = master.price(parent.duals, hint, workers, deadline, should_stop=should_stop,
                          searched=pieces)
    if priced is not None:
        master.add_priced(priced)
    generated = generate_columns(master, parent.duals, parent.bound, hint, math.inf, deadline,
                                 workers, should_stop, full_round_s=full_round_s,
                                 stop_above=stop_above)
    node.bound = max(parent.bound, generated.bound)
    node.duals = parent.duals if generated.duals is None else generated.duals
    node.shares = _shares(master, generated, ports)
    node.time_s += time.perf_counter() - started
    node.rounds += generated.rounds
    node.cut_by_time = generated.cut_by_time
    node.unfinished = generated.stopped_above or (generated.cut_by_time and not should_stop())
    return node


def tree_fits(root: ColumnGeneration, seconds: float) -> bool:
    """Whether a tree may grow from column generation's `root` in `seconds`: a master
    LP to branch on, and time for two nodes."""
    return root.weights is not None and root.duals is not None \
        and two_nodes_fit(root.time_s, seconds)


def two_nodes_fit(root_s: float, seconds: float) -> bool:
    """Whether `seconds` hold two nodes, each NODE_OF_ROOT of the root's `root_s`."""
    return seconds >= 2 * NODE_OF_ROOT * root_s


def grow_port_tree(master: Master, root: ColumnGeneration, ports: np.ndarray,
                   cost: np.ndarray, hint: np.ndarray, deadline: float, workers: int,
                   should_stop: Callable[[], bool], best: float, gap: float = 0.0
                   ) -> PortTree:
    """The tree from column generation's `root`, best-first: the lowest leaf branched on
    the port its master LP buys most in part (`ports`: the port variables, `cost`: their
    prices). Until the lowest leaf's bound is within `gap` of `best` (the cheapest plan
    known, solver units), that leaf buys no port in part, or there is no time left for
    two nodes (each as long as the last branching's slower child). The master is left
    with no variable fixed."""
    first = PortNode({}, root.bound, root.duals, _shares(master, root, ports),
                     root.time_s, root.rounds)
    tree = PortTree(first, [first], [])
    full_round_s = root.full_rounds_s / max(1, root.full_rounds)
    node_s = NODE_OF_ROOT * root.time_s  # until two nodes have taken theirs
    try:
        while True:
            lowest = tree.lowest
            port = None if lowest.unfinished \
                else port_to_branch_on(lowest.shares, ports, cost)
            tree.stop_reason = "stopped" if should_stop() \
                else "gap limit" if lowest.bound >= best - gap * abs(best) \
                else _nothing_to_do(lowest, port) \
                or ("time limit" if deadline - time.perf_counter()
                    < (full_round_s if lowest.unfinished else 2 * node_s) else "")
            if tree.stop_reason:
                break
            tree.leaves.remove(lowest)
            others = min((leaf.bound for leaf in tree.leaves), default=math.inf)
            if lowest.unfinished:
                # the lowest leaf now: its rounds go on, up to the next lowest
                resumed = solve_node(master, lowest.fixed, lowest, ports, hint, deadline,
                                     workers, should_stop, full_round_s, others)
                tree.nodes[tree.nodes.index(lowest)] = resumed
                tree.leaves.append(resumed)
                tree.cut_by_time |= resumed.cut_by_time
                continue
            assert port is not None and lowest.shares is not None
            children = []
            # the side the LP leans to first, to its end (or up to a leaf known lower) in
            # half the time left at most (the tree's bound is the lower child's: one that
            # ran to the deadline left its sibling none); the other until it passes that
            sides = _sides(float(lowest.shares[np.flatnonzero(ports == port)[0]]))
            for first, value in zip((True, False), sides, strict=True):
                now = time.perf_counter()
                ends = now + (deadline - now) / 2 if first else deadline
                child = solve_node(master, lowest.fixed | {port: value}, lowest, ports, hint,
                                   ends, workers, should_stop, full_round_s, others)
                others = min(others, child.bound)
                children.append(child)
            tree.nodes += children
            tree.leaves += children
            tree.cut_by_time |= any(child.cut_by_time for child in children)
            node_s = max(child.time_s for child in children)
    finally:
        master.fix({})
    tree.cut_by_time |= tree.stop_reason == "time limit"
    return tree


def _nothing_to_do(lowest: PortNode, port: int | None) -> str:
    """Why the lowest leaf can be neither branched on (`port`: none) nor resumed: its LP
    buys no port in part, or it has no LP (its rounds cut before one: the clock's)."""
    if port is not None or lowest.unfinished:
        return ""
    return "no port in part" if lowest.shares is not None else "time limit"


def _sides(share: float) -> tuple[int, int]:
    """A port's two sides, bought (1) first where the LP buys half of it or more."""
    return (1, 0) if share >= 0.5 else (0, 1)


def _shares(master: Master, generated: ColumnGeneration, ports: np.ndarray
            ) -> np.ndarray | None:
    if generated.weights is None:
        return None
    return master.lp_values(generated.weights, ports)
