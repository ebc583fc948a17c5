"""A layered drawing of a directed acyclic graph: Sugiyama's method, small enough to read.

1. Layers: each box one layer below the lowest box it takes an arrow from (the longest path
   from the sources). A source is then moved down to just above the first box that uses it,
   so a loss target or a parameter sits beside its consumer instead of at the top.
2. An arrow that spans several layers is cut into one segment per layer by invisible
   waypoints, so every segment joins neighbouring layers and can be ordered like a box.
3. Order within each layer: sweeps down and up, each sorting a layer by the mean position of
   its neighbours in the layer just swept (the barycentre heuristic), keeping the order with
   the fewest crossings seen.
4. Horizontal places: each box is pulled to the mean place of its neighbours, as close as
   the boxes beside it allow. For a fixed order that is an isotonic regression, solved
   exactly by pooling adjacent violators.
5. Routes: each arrow leaves its box's bottom and enters its target's top at its own port,
   spread by where the other end lies, and passes through its waypoints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

import networkx as nx

Point = tuple[float, float]


@dataclass
class Layout:
    width: float
    height: float
    centres: dict[str, Point]  # each box's centre
    routes: list[list[Point]]  # one per arrow, in the order given: start, waypoints, end


def _layers(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    graph = nx.DiGraph()
    graph.add_nodes_from(keys)
    graph.add_edges_from(edges)
    index = {key: i for i, key in enumerate(keys)}
    rank: dict[str, int] = {}
    for key in nx.lexicographical_topological_sort(graph, key=index.__getitem__):
        rank[key] = max((rank[p] + 1 for p in graph.predecessors(key)), default=0)
    for key in keys:
        if graph.in_degree(key) == 0 and graph.out_degree(key) > 0:
            rank[key] = min(rank[s] for s in graph.successors(key)) - 1
    lowest = min(rank.values(), default=0)
    return {key: r - lowest for key, r in rank.items()}


def _crossings(layers: list[list[Hashable]], below: dict[Hashable, list[Hashable]]) -> int:
    total = 0
    for upper, lower in zip(layers, layers[1:]):
        place = {item: i for i, item in enumerate(lower)}
        segments = [(i, place[b]) for i, a in enumerate(upper) for b in below[a]]
        total += sum(1 for n, (a1, b1) in enumerate(segments) for a2, b2 in segments[n + 1:]
                     if (a1 - a2) * (b1 - b2) < 0)
    return total


def _order(layers: list[list[Hashable]], above: dict, below: dict, sweeps: int) -> None:
    """Reorder the layers in place to reduce crossings (barycentre sweeps)."""
    best, fewest = [list(layer) for layer in layers], _crossings(layers, below)
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for i in indices:
            fixed = layers[i - 1] if downward else layers[i + 1]
            place = {item: n for n, item in enumerate(fixed)}
            neighbours = above if downward else below

            def barycentre(item: Hashable, position: int) -> float:
                near = [place[n] for n in neighbours[item] if n in place]
                return sum(near) / len(near) if near else position

            ranked = [(barycentre(item, n), n, item) for n, item in enumerate(layers[i])]
            layers[i] = [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))]
        count = _crossings(layers, below)
        if count < fewest:
            best, fewest = [list(layer) for layer in layers], count
    layers[:] = best


def place_in_order(targets: list[float], gaps: list[float]) -> list[float]:
    """Positions as close as possible (least squares) to `targets`, in order, each at least
    `gaps[i]` after the one before: pool adjacent violators over the offsets."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [sum, count]
    for target, offset in zip(targets, offsets):
        blocks.append([target - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    shifted = [total / count for total, count in blocks for _ in range(int(count))]
    return [s + o for s, o in zip(shifted, offsets)]


def layered_layout(sizes: dict[str, tuple[float, float]], edges: list[tuple[str, str]], *,
                   layer_gap: float = 58, box_gap: float = 28, margin: float = 16,
                   sweeps: int = 12, rounds: int = 12) -> Layout:
    """Place boxes (`sizes`: key -> (width, height), in drawing order) and route `edges`
    (source, target) top to bottom. The graph must have no cycle."""
    keys = list(sizes)
    rank = _layers(keys, edges)
    depth = max(rank.values(), default=-1) + 1
    layers: list[list[Hashable]] = [[] for _ in range(depth)]
    for key in keys:
        layers[rank[key]].append(key)
    above: dict[Hashable, list[Hashable]] = {key: [] for key in keys}
    below: dict[Hashable, list[Hashable]] = {key: [] for key in keys}
    chains: list[list[Hashable]] = []
    width_of: dict[Hashable, float] = {key: size[0] for key, size in sizes.items()}
    for number, (source, target) in enumerate(edges):
        chain: list[Hashable] = [source]
        for level in range(rank[source] + 1, rank[target]):
            waypoint = ("waypoint", number, level)
            layers[level].append(waypoint)
            above[waypoint], below[waypoint] = [], []
            width_of[waypoint] = 6.0
            chain.append(waypoint)
        chain.append(target)
        for upper, lower in zip(chain, chain[1:]):
            below[upper].append(lower)
            above[lower].append(upper)
        chains.append(chain)
    _order(layers, above, below, sweeps)

    x: dict[Hashable, float] = {}
    for layer in layers:
        start = -sum(width_of[item] + box_gap for item in layer) / 2
        for item in layer:
            x[item] = start + width_of[item] / 2
            start += width_of[item] + box_gap
    for round_ in range(rounds):
        sequence = layers if round_ % 2 == 0 else layers[::-1]
        neighbours = above if round_ % 2 == 0 else below
        if round_ >= rounds - 2:  # the last rounds balance both sides
            neighbours = {item: above[item] + below[item] for item in above}
        for layer in sequence:
            targets = [sum(x[n] for n in neighbours[item]) / len(neighbours[item])
                       if neighbours[item] else x[item] for item in layer]
            gaps = [(width_of[a] + width_of[b]) / 2 + box_gap for a, b in zip(layer, layer[1:])]
            for item, position in zip(layer, place_in_order(targets, gaps)):
                x[item] = position

    left = min((x[item] - width_of[item] / 2 for item in x), default=0.0)
    right = max((x[item] + width_of[item] / 2 for item in x), default=0.0)
    heights = [max((sizes[i][1] for i in layer if isinstance(i, str)), default=0.0)
               for layer in layers]
    y_of_layer, top = [], margin
    for height in heights:
        y_of_layer.append(top + height / 2)
        top += height + layer_gap
    shift = margin - left
    centre = {item: (x[item] + shift, y_of_layer[rank[item] if isinstance(item, str)
                                                 else item[2]]) for item in x}

    # Ports: a box's arrows leave (and enter) side by side, ordered by their other end.
    ports: dict[tuple[int, str], float] = {}
    for key in keys:
        width = sizes[key][0]
        for end, neighbour_index in (("out", 1), ("in", -2)):
            mine = [n for n, chain in enumerate(chains)
                    if chain[0 if end == "out" else -1] == key]
            mine.sort(key=lambda n: (centre[chains[n][neighbour_index]][0], n))
            spread = min(14.0, 0.7 * width / max(len(mine), 1))
            for k, n in enumerate(mine):
                ports[(n, end)] = (k - (len(mine) - 1) / 2) * spread
    routes = []
    for n, chain in enumerate(chains):
        (sx, sy), (tx, ty) = centre[chain[0]], centre[chain[-1]]
        points = [(sx + ports[(n, "out")], sy + sizes[chain[0]][1] / 2)]
        points += [centre[waypoint] for waypoint in chain[1:-1]]
        points.append((tx + ports[(n, "in")], ty - sizes[chain[-1]][1] / 2))
        routes.append(points)
    return Layout(width=right - left + 2 * margin, height=top - layer_gap + margin,
                  centres={key: centre[key] for key in keys}, routes=routes)
