"""Symbolic dimensions for static shape inference.

A dimension is an `int` or a `Sym`: a polynomial with integer coefficients over symbols
named in the spec (`batch`, `seq`). Polynomials are what shape rules need: flatten multiplies
dims (`batch*8*7*7` → `392*batch`), reshape's -1 divides them back, convolution adds
constants. Where a result is not a polynomial (a strided convolution over a symbolic
height), the rule gets a fresh opaque symbol named by the expression, so it still prints well
and compares equal only to itself.
"""
from __future__ import annotations

from typing import Union

Monomial = tuple  # sorted symbol names; () is the constant term


class Sym:
    """A polynomial dimension; immutable and hashable, compares equal by its terms."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Monomial, int]) -> None:
        self.terms = tuple(sorted((m, c) for m, c in terms.items() if c != 0))

    @staticmethod
    def symbol(name: str) -> "Sym":
        return Sym({(name,): 1})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sym):
            return self.terms == other.terms
        return False

    def __hash__(self) -> int:
        return hash(self.terms)

    def _terms(self) -> dict[Monomial, int]:
        return dict(self.terms)

    def __add__(self, other: "DimLike") -> "Dim":
        terms = self._terms()
        for m, c in _as_terms(other).items():
            terms[m] = terms.get(m, 0) + c
        return _simplify(terms)

    __radd__ = __add__

    def __neg__(self) -> "Dim":
        return _simplify({m: -c for m, c in self.terms})

    def __sub__(self, other: "DimLike") -> "Dim":
        return self + (-other)

    def __rsub__(self, other: "DimLike") -> "Dim":
        return other + (-self)

    def __mul__(self, other: "DimLike") -> "Dim":
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in _as_terms(other).items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return _simplify(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: "DimLike") -> "Dim":
        """Exact division by an int or by a single-term polynomial, else an opaque symbol."""
        if isinstance(other, int):
            if other != 0 and all(c % other == 0 for _, c in self.terms):
                return _simplify({m: c // other for m, c in self.terms})
        elif isinstance(other, Sym) and len(other.terms) == 1:
            (dm, dc), = other.terms
            result: dict[Monomial, int] = {}
            for m, c in self.terms:
                rest = list(m)
                try:
                    for name in dm:
                        rest.remove(name)
                except ValueError:
                    break
                if c % dc:
                    break
                result[tuple(rest)] = c // dc
            else:
                return _simplify(result)
        divisor = f"({other})" if isinstance(other, Sym) and len(other.terms) > 1 else str(other)
        dividend = f"({self})" if len(self.terms) > 1 else str(self)
        return Sym.symbol(f"{dividend}//{divisor}")

    def __str__(self) -> str:
        parts = []
        for m, c in sorted(self.terms, key=lambda t: (-len(t[0]), t[0])):
            body = "*".join(m)
            if not m:
                text = str(abs(c))
            elif abs(c) == 1:
                text = body
            else:
                text = f"{abs(c)}*{body}"
            sign = "-" if c < 0 else "+"
            parts.append((sign, text))
        if not parts:
            return "0"
        first_sign, first = parts[0]
        out = ("-" if first_sign == "-" else "") + first
        for sign, text in parts[1:]:
            out += f" {sign} {text}"
        return out

    __repr__ = __str__

    def evaluate(self, bindings: dict[str, int]) -> int | None:
        """The value under `bindings`, or None if a symbol is unbound."""
        total = 0
        for m, c in self.terms:
            value = c
            for name in m:
                if name not in bindings:
                    return None
                value *= bindings[name]
            total += value
        return total


Dim = Union[int, Sym]
DimLike = Union[int, Sym]
Shape = tuple  # of Dim


def _as_terms(value: DimLike) -> dict[Monomial, int]:
    if isinstance(value, Sym):
        return value._terms()
    return {(): int(value)}


def _simplify(terms: dict[Monomial, int]) -> Dim:
    terms = {m: c for m, c in terms.items() if c != 0}
    if not terms:
        return 0
    if set(terms) == {()}:
        return terms[()]
    return Sym(terms)


def dim_from_spec(value: int | str) -> Dim:
    return Sym.symbol(value) if isinstance(value, str) else value


def is_known(dim: Dim) -> bool:
    return isinstance(dim, int)


def product(dims: "tuple[Dim, ...] | list[Dim]") -> Dim:
    total: Dim = 1
    for dim in dims:
        total = dim * total
    return total


def format_shape(shape: Shape) -> str:
    """`(batch, 3)`; a 1-tuple keeps its comma out: `(3)` reads better as `(3,)`."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(a: Shape, b: Shape) -> Shape | None:
    """numpy's broadcasting over symbolic dims; None if the shapes do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def evaluate_shape(shape: Shape, bindings: dict[str, int]) -> tuple[int, ...] | None:
    out = []
    for dim in shape:
        value = dim.evaluate(bindings) if isinstance(dim, Sym) else dim
        if value is None:
            return None
        out.append(value)
    return tuple(out)
