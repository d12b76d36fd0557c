"""The perturbation table of the cell-key method: (true count, cell key) -> noise.

For every true count ``c`` the table holds a probability distribution of the noise ``v``; a cell key
``K`` in ``[0, N)`` picks the noise by inverse transform (``K / N`` plays the role of a uniform random number, so a
cell's noise is fixed by its set of participants). Properties, each kept by a test:

- **maximum noise D**: ``|v| <= D``;
- **no negative counts**: ``c + v >= 0``;
- **0 stays 0**: ``c = 0`` always gets ``v = 0``;
- **zero mean per count**: ``E[v | c] = 0`` for every count;
- **fixed variance V** for every count ``c >= D`` (the same symmetric distribution: a normal shape, discretized on
  ``-D..D`` with its spread chosen so that the variance is exactly V); a count below D cannot go lower than 0, so its
  distribution is the same shape restricted to ``-c..D`` and exponentially tilted back to mean zero (its variance is
  smaller than V).

The threshold rule (no positive count below k is ever shown) is applied on top of the perturbed count, by
:mod:`access.disclosure.cells`. Probabilities are turned into integer thresholds on ``[0, N)`` once, so a lookup
is exact integer arithmetic: the same on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from access.disclosure.keys import KEY_MODULUS

_BISECTION_STEPS = 200


def uniform_variance(max_noise: int) -> float:
    """The largest variance a noise on ``-D..D`` can have with a normal shape: that of the uniform distribution."""
    return max_noise * (max_noise + 1) / 3.0


def _weights(support: range, spread: float, tilt: float = 0.0) -> list[float]:
    """Normalised ``exp(-v^2 / (2 spread^2) + tilt * v)`` over ``support`` (computed in log space)."""
    if math.isinf(spread):
        logs = [tilt * v for v in support]
    else:
        logs = [-(v * v) / (2.0 * spread * spread) + tilt * v for v in support]
    top = max(logs)
    raw = [math.exp(value - top) for value in logs]
    total = sum(raw)
    return [w / total for w in raw]


def _moments(support: range, probabilities: list[float]) -> tuple[float, float]:
    mean = sum(v * p for v, p in zip(support, probabilities, strict=True))
    variance = sum((v - mean) ** 2 * p for v, p in zip(support, probabilities, strict=True))
    return mean, variance


def _spread_for(max_noise: int, variance: float) -> float:
    """The spread of the normal shape on ``-D..D`` whose variance is ``variance`` (infinite = uniform)."""
    if variance >= uniform_variance(max_noise):
        return math.inf
    support = range(-max_noise, max_noise + 1)
    low, high = 1e-6, 1e6
    for _ in range(_BISECTION_STEPS):
        middle = math.sqrt(low * high)
        if _moments(support, _weights(support, middle))[1] < variance:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def _zero_mean(support: range, spread: float) -> list[float]:
    """The normal shape on ``support`` tilted so that its mean is exactly zero (support holds both signs)."""
    low, high = -50.0, 50.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if _moments(support, _weights(support, spread, middle))[0] < 0.0:
            low = middle
        else:
            high = middle
    return _weights(support, spread, (low + high) / 2.0)


@dataclass(frozen=True)
class NoiseRow:
    """The noise distribution of one true count: ``noises[i]`` is taken when ``key < thresholds[i]``."""

    noises: tuple[int, ...]
    probabilities: tuple[float, ...]
    thresholds: tuple[int, ...]

    def pick(self, cell_key: int) -> int:
        key = cell_key % KEY_MODULUS
        for noise, threshold in zip(self.noises, self.thresholds, strict=True):
            if key < threshold:
                return noise
        return self.noises[-1]


def _row(support: range, probabilities: list[float]) -> NoiseRow:
    thresholds: list[int] = []
    cumulative = 0.0
    for probability in probabilities:
        cumulative += probability
        thresholds.append(min(KEY_MODULUS, round(cumulative * KEY_MODULUS)))
    thresholds[-1] = KEY_MODULUS
    return NoiseRow(tuple(support), tuple(probabilities), tuple(thresholds))


@dataclass(frozen=True)
class PerturbationTable:
    """The noise of every count for a maximum noise D and a variance V (see the module docstring)."""

    max_noise: int
    variance: float
    rows: tuple[NoiseRow, ...]  # rows[c] for c = 0..D; every count from D on uses rows[D]

    def row(self, count: int) -> NoiseRow:
        if count < 0:
            raise ValueError("counts are never negative")
        return self.rows[min(count, self.max_noise)]

    def noise(self, count: int, cell_key: int) -> int:
        """The noise added to ``count`` for a cell with ``cell_key``."""
        return self.row(count).pick(cell_key)

    def perturb(self, count: int, cell_key: int) -> int:
        """``count`` plus its noise (never negative; 0 stays 0)."""
        return count + self.noise(count, cell_key)

    def distribution(self, count: int) -> dict[int, float]:
        """Noise -> probability for ``count`` (documentation and tests)."""
        row = self.row(count)
        return dict(zip(row.noises, row.probabilities, strict=True))


@lru_cache(maxsize=32)
def perturbation_table(max_noise: int, variance: float) -> PerturbationTable:
    """The table for maximum noise D >= 1 and variance 0 < V (V above the uniform's variance means uniform)."""
    if max_noise < 1:
        raise ValueError("the maximum noise D must be at least 1")
    if not variance > 0:
        raise ValueError("the noise variance V must be positive")
    spread = _spread_for(max_noise, variance)
    rows = [_row(range(1), [1.0])]
    for count in range(1, max_noise + 1):
        support = range(-count, max_noise + 1)
        probabilities = _weights(support, spread) if count >= max_noise else _zero_mean(support, spread)
        rows.append(_row(support, probabilities))
    return PerturbationTable(max_noise=max_noise, variance=float(variance), rows=tuple(rows))
