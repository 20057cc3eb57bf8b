"""Data sets that ship inside installed packages or are generated, loaded once per process.

Each loader returns a :class:`Dataset` of numpy arrays. Nothing is downloaded:
the scikit-learn data sets used here are bundled with scikit-learn, the text is
a copy of Python's help texts shipped in this package, the others are
generated from a fixed seed.
"""

from __future__ import annotations

import functools
import gzip
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from lr_agent.errors import UnknownNameError

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "shapes": (1, 8, 8),
    "gratings": (1, 8, 8),
    "textures": (1, 8, 8),
    "spots": (1, 8, 8),
    "glyphs": (1, 8, 8),
    "centroids": (1, 8, 8),
    "angles": (1, 8, 8),
    "dashes": (1, 8, 8),
    "strokes": (1, 8, 8),
    "blots": (1, 8, 8),
}
"""Data sets (bundled or generated) whose rows are flattened images: (channels, height, width)."""
TEXT_ALPHABET = " abcdefghijklmnopqrstuvwxyz.,"
"""The characters the ``text`` data set keeps; every other character is one more class."""
TEXT_WINDOW = 12
"""Characters the ``text`` data set shows before the one to predict."""
SEQUENCE_SHAPES = {
    "text": (TEXT_WINDOW, len(TEXT_ALPHABET) + 1),
    "waveforms": (64, 1),
    "adding": (12, 2),
    "majority": (16, 4),
    "sines": (24, 1),
    "brackets": (16, 2),
    "chirps": (48, 1),
    "counting": (20, 3),
    "motifs": (24, 4),
    "pulses": (40, 1),
    "lags": (32, 2),
    "gaps": (12, 5),
    "orbits": (24, 2),
    "decays": (48, 1),
    "bursts": (20, 3),
    "pendulum": (32, 1),
    "tones": (32, 1),
    "stairs": (48, 1),
}
"""Data sets whose rows are flattened sequences: (time steps, features per step)."""


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (samples × features, float32) and targets ``y``.

    ``y`` holds integer class labels for classification and floats for
    regression. ``image_shape`` is set where each row is a flattened image
    (channels, height, width), which the CNN model needs; ``sequence_shape``
    where it is a flattened sequence (time steps, features per step), which the
    ``conv1d``, ``gru``, ``lstm`` and ``transformer`` models need. ``standardise`` is False for features
    that are already on one scale (one-hot characters, the adding problem's values and
    markers); regression targets are standardised in any case.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    image_shape: tuple[int, int, int] | None = None
    sequence_shape: tuple[int, int] | None = None
    standardise: bool = True

    @property
    def num_outputs(self) -> int:
        """Number of classes, or 1 for regression."""
        return int(self.y.max()) + 1 if self.task == CLASSIFICATION else 1


def _sklearn(name: str) -> Dataset:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    bunch = loader()
    task = REGRESSION if name == "diabetes" else CLASSIFICATION
    return Dataset(bunch.data.astype(np.float32), bunch.target, task, IMAGE_SHAPES.get(name))


def _moons() -> Dataset:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=2000, noise=0.25, random_state=0)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _circles() -> Dataset:
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=400, noise=0.15, factor=0.5, random_state=0)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _hastie() -> Dataset:
    from sklearn.datasets import make_hastie_10_2

    x, y = make_hastie_10_2(n_samples=3000, random_state=0)
    return Dataset(x.astype(np.float32), (y > 0).astype(np.int64), CLASSIFICATION)


def _friedman(number: int, noise: float) -> Dataset:
    from sklearn import datasets

    make = getattr(datasets, f"make_friedman{number}")
    x, y = make(n_samples=2000, noise=noise, random_state=0)
    return Dataset(x.astype(np.float32), y, REGRESSION)


def _shapes() -> Dataset:
    """6 classes of 8×8 shapes (bars, diagonals, a ring, a thick plus), shifted by up to a pixel,
    of random brightness (×0.5 to 1.5), noisy."""
    rng = np.random.default_rng(0)
    n = 2400
    templates = np.zeros((6, 8, 8), dtype=np.float32)
    templates[0, 3:5, 1:7] = 1  # horizontal bar
    templates[1, 1:7, 3:5] = 1  # vertical bar
    templates[2][np.arange(1, 7), np.arange(1, 7)] = 1  # diagonal
    templates[3][np.arange(1, 7), np.arange(6, 0, -1)] = 1  # anti-diagonal
    templates[4, 2:6, 2:6] = 1
    templates[4, 3:5, 3:5] = 0  # ring: a 4×4 square's outline
    templates[5, 3:5, 2:6] = templates[5, 2:6, 3:5] = 1  # thick plus: a 4×4 square without its corners
    y = rng.integers(0, 6, n)
    shifts = rng.integers(-1, 2, (n, 2))
    images = np.stack([np.roll(templates[c], tuple(s), axis=(0, 1)) for c, s in zip(y, shifts, strict=True)])
    images *= rng.uniform(0.5, 1.5, (n, 1, 1))
    images += rng.normal(0.0, 0.5, images.shape)
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["shapes"])


def _gratings() -> Dataset:
    """8×8 sine gratings of random frequency and phase, noisy; the class is one of 4 orientations."""
    rng = np.random.default_rng(0)
    n = 2400
    y = rng.integers(0, 4, n)
    angle = y * np.pi / 4 + rng.normal(0.0, 0.15, n)
    frequency = rng.uniform(0.5, 1.5, n)
    phase = rng.uniform(0.0, 2 * np.pi, n)
    rows, cols = np.mgrid[0:8, 0:8]
    direction = np.cos(angle)[:, None, None] * cols + np.sin(angle)[:, None, None] * rows
    images = np.sin(frequency[:, None, None] * direction + phase[:, None, None])
    images += rng.normal(0.0, 1.0, images.shape)
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["gratings"])


def _blobs() -> Dataset:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=3000,
        n_features=20,
        n_informative=12,
        n_classes=5,
        n_clusters_per_class=2,
        class_sep=0.8,
        random_state=0,
    )
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _waveforms() -> Dataset:
    """64-step signals of 4 shapes (sine, square, sawtooth, triangle) with random frequency, phase
    and amplitude, in noise; the class is the shape."""
    rng = np.random.default_rng(0)
    n, steps = 2400, SEQUENCE_SHAPES["waveforms"][0]
    y = rng.integers(0, 4, n)
    cycles = rng.uniform(1.0, 4.0, (n, 1)) * np.arange(steps) / steps + rng.uniform(0.0, 1.0, (n, 1))
    fraction = cycles % 1.0
    shapes = np.stack(
        [
            np.sin(2 * np.pi * cycles),
            np.where(fraction < 0.5, 1.0, -1.0),
            2 * fraction - 1,
            4 * np.abs(fraction - 0.5) - 1,
        ]
    )
    signals = shapes[y, np.arange(n)] * rng.uniform(0.5, 1.5, (n, 1)) + rng.normal(0.0, 0.8, (n, steps))
    return Dataset(signals.astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["waveforms"])


def _text() -> Dataset:
    """Next-character prediction on Python's help texts: the previous 12 characters, one-hot,
    predict the next one (30 classes: ``TEXT_ALPHABET`` and one for any other character).

    The text is ``lr_agent/data/help_texts.txt.gz``: the topics of ``pydoc_data.topics`` (Python
    3.11.7) in name order, lower-cased, runs of white space made one space. A copy ships because
    the standard library's changes with every Python release. The windows are taken at a fixed
    stride, about 108 characters apart, so no two overlap.
    """
    with gzip.open(resources.files("lr_agent") / "data" / "help_texts.txt.gz", "rt", encoding="utf-8") as file:
        text = file.read()
    other = len(TEXT_ALPHABET)
    codes = np.array([TEXT_ALPHABET.find(c) if c in TEXT_ALPHABET else other for c in text])
    n = 4000
    starts = np.linspace(0, len(codes) - TEXT_WINDOW - 1, n).astype(np.int64)
    windows = codes[starts[:, None] + np.arange(TEXT_WINDOW + 1)]
    x = np.eye(other + 1, dtype=np.float32)[windows[:, :-1]].reshape(n, -1)
    return Dataset(x, windows[:, -1], CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["text"], standardise=False)


def _sparse_regression() -> Dataset:
    """A linear target of 10 of 100 features, in noise (600 samples): a wide network overfits it."""
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=600, n_features=100, n_informative=10, noise=20.0, random_state=0)
    return Dataset(x.astype(np.float32), y, REGRESSION)


def _spirals() -> Dataset:
    """Two interleaved spirals of 1.5 turns (2 features, 1000 samples), noisy."""
    rng = np.random.default_rng(0)
    n = 1000
    y = rng.integers(0, 2, n)
    turn = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3 * np.pi
    angle = turn + np.pi * y
    x = np.stack([turn * np.cos(angle), turn * np.sin(angle)], axis=1) + rng.normal(0.0, 0.5, (n, 2))
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _quantiles() -> Dataset:
    """Gaussian points in 6 dimensions; the class is which of 4 shells of equal mass around the
    origin a point lies in (scikit-learn's ``make_gaussian_quantiles``), 2000 samples."""
    from sklearn.datasets import make_gaussian_quantiles

    x, y = make_gaussian_quantiles(n_samples=2000, n_features=6, n_classes=4, random_state=0)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _swiss_roll() -> Dataset:
    """Points on a noisy swiss roll in 3 dimensions; the target is the position along the roll
    (scikit-learn's ``make_swiss_roll``), 2000 samples."""
    from sklearn.datasets import make_swiss_roll

    x, y = make_swiss_roll(n_samples=2000, noise=0.5, random_state=0)
    return Dataset(x.astype(np.float32), y, REGRESSION)


def _adding() -> Dataset:
    """The adding problem: 12 steps of (a value in [0, 1), a marker); two steps are marked, one in
    each half, and the target is the sum of their values plus noise (σ = 0.1). 3000 samples; the
    features are not standardised (the target is, as every regression target)."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["adding"][0]
    values = rng.uniform(0.0, 1.0, (n, steps))
    marks = np.zeros((n, steps))
    first, second = rng.integers(0, steps // 2, n), rng.integers(steps // 2, steps, n)
    marks[np.arange(n), first] = marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], axis=2).reshape(n, -1)
    y = values[np.arange(n), first] + values[np.arange(n), second] + rng.normal(0.0, 0.1, n)
    return Dataset(x.astype(np.float32), y, REGRESSION, sequence_shape=SEQUENCE_SHAPES["adding"], standardise=False)


def _textures() -> Dataset:
    """8×8 noise textures of random contrast; the class is how neighbouring pixels correlate: not
    at all, along rows, along columns, or in both (a 3×3 blur). 2400 samples, noisy."""
    rng = np.random.default_rng(0)
    n = 2400
    y = rng.integers(0, 4, n)
    noise = rng.normal(0.0, 1.0, (n, 10, 10))
    rows = (noise[:, :, :-2] + noise[:, :, 1:-1] + noise[:, :, 2:]) / np.sqrt(3)  # along rows
    cols = (noise[:, :-2] + noise[:, 1:-1] + noise[:, 2:]) / np.sqrt(3)  # along columns
    blur = (cols[:, :, :-2] + cols[:, :, 1:-1] + cols[:, :, 2:]) / np.sqrt(3)
    kinds = np.stack([noise[:, 1:-1, 1:-1], rows[:, 1:-1], cols[:, :, 1:-1], blur])
    images = kinds[y, np.arange(n)] * rng.uniform(0.5, 1.5, (n, 1, 1)) + rng.normal(0.0, 0.5, (n, 8, 8))
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["textures"])


def _s_curve() -> Dataset:
    """Noisy points (σ = 0.3) on an S-shaped surface in 3-D; the target is the position along the S
    (scikit-learn's ``make_s_curve``), 2000 samples."""
    from sklearn.datasets import make_s_curve

    x, y = make_s_curve(n_samples=2000, noise=0.3, random_state=0)
    return Dataset(x.astype(np.float32), y, REGRESSION)


def _checkerboard() -> Dataset:
    """Points in a 4×4 checkerboard, the class the colour of their square; the coordinates are
    seen with noise (σ = 0.15 of a square), so points near an edge are ambiguous. 3000 samples."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0.0, 4.0, (3000, 2))
    y = (np.floor(points).sum(axis=1) % 2).astype(np.int64)
    x = points + rng.normal(0.0, 0.15, points.shape)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _majority() -> Dataset:
    """Sequences of 16 symbols out of 4 (one-hot), each drawn with its own random weights; the
    class is the symbol that occurs most often (sequences with a tie are left out), replaced by
    a random symbol in 10% of the samples (label noise). 3000 samples."""
    rng = np.random.default_rng(0)
    steps, symbols = SEQUENCE_SHAPES["majority"]
    weights = rng.dirichlet(np.ones(symbols), 4000)
    tokens = np.array([rng.choice(symbols, steps, p=w) for w in weights])
    counts = np.stack([(tokens == s).sum(axis=1) for s in range(symbols)], axis=1)
    top = np.sort(counts, axis=1)
    keep = np.flatnonzero(top[:, -1] > top[:, -2])[:3000]
    x = np.eye(symbols, dtype=np.float32)[tokens[keep]].reshape(len(keep), -1)
    y = counts[keep].argmax(axis=1)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] = rng.integers(0, symbols, noisy.sum())
    return Dataset(x, y, CLASSIFICATION, sequence_shape=(steps, symbols), standardise=False)


def _sines() -> Dataset:
    """Forecasting: 24 steps of a sum of two sines (random periods of 6 to 50 steps, amplitudes
    and phases) plus noise (σ = 0.1); the target is the next step's noisy value. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["sines"][0]
    periods = rng.uniform(6.0, 50.0, (n, 2, 1))
    amplitudes = rng.uniform(0.5, 1.5, (n, 2, 1))
    phases = rng.uniform(0.0, 2 * np.pi, (n, 2, 1))
    t = np.arange(steps + 1)
    series = (amplitudes * np.sin(2 * np.pi * t / periods + phases)).sum(axis=1) + rng.normal(0.0, 0.1, (n, steps + 1))
    return Dataset(series[:, :steps].astype(np.float32), series[:, steps], REGRESSION, sequence_shape=(steps, 1))


def _spots() -> Dataset:
    """8×8 images of 1 to 4 blurred spots (σ = 0.8 pixel, brightness 0.6 to 1.4) at random places,
    in noise (σ = 0.3); the class is how many spots there are, less one. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 4, n)
    rows, cols = np.mgrid[0:8, 0:8]
    images = rng.normal(0.0, 0.3, (n, 8, 8))
    for i, count in enumerate(y + 1):
        for r, c, brightness in zip(*rng.uniform(0.5, 6.5, (2, count)), rng.uniform(0.6, 1.4, count), strict=True):
            images[i] += brightness * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 0.8**2))
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["spots"])


def _imbalanced() -> Dataset:
    """Three classes of 80%, 15% and 5% of 3000 samples in 20 features (6 informative, 4 of them
    redundant copies, 3% of the labels flipped): scikit-learn's ``make_classification``."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=3000, n_features=20, n_informative=6, n_redundant=4, n_classes=3,
        weights=[0.8, 0.15, 0.05], flip_y=0.03, class_sep=0.8, random_state=0,
    )  # fmt: skip
    return Dataset(x.astype(np.float32), y.astype(np.int64), CLASSIFICATION)


def _brackets() -> Dataset:
    """Sequences of 16 brackets, one-hot ``(`` or ``)``; the class is whether they are balanced,
    flipped in 10% of the samples (label noise). Half are balanced; of the rest, half have as
    many of each but close one too early, half are a balanced one with a bracket flipped.
    3000 samples."""
    rng = np.random.default_rng(0)
    steps = SEQUENCE_SHAPES["brackets"][0]

    def balanced() -> np.ndarray:
        seq, depth, opened = [], 0, 0
        for position in range(steps):
            left = steps - position
            must_close = depth == left or opened == steps // 2  # as many to close as places left
            opens = not must_close and (depth == 0 or rng.random() < 0.5)
            seq.append(0 if opens else 1)
            depth += 1 if opens else -1
            opened += opens
        return np.array(seq)

    def valid(seq: np.ndarray) -> bool:
        depth = np.cumsum(np.where(seq == 0, 1, -1))
        return bool(depth.min() >= 0 and depth[-1] == 0)

    x, y = [], []
    for i in range(3000):
        if i % 2 == 0:
            seq = balanced()
        elif i % 4 == 1:
            seq = rng.permutation(np.repeat([0, 1], steps // 2))
            while valid(seq):
                seq = rng.permutation(seq)
        else:
            seq = balanced()
            seq[rng.integers(steps)] ^= 1
        x.append(np.eye(2, dtype=np.float32)[seq].reshape(-1))
        y.append(int(valid(seq)))
    y = np.array(y)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] ^= 1
    return Dataset(np.stack(x), y, CLASSIFICATION, sequence_shape=(steps, 2), standardise=False)


def _ripple() -> Dataset:
    """A radial ripple in 4-D: the target is sin(2r) / (1 + r) of the distance r from the origin
    of a point uniform in [-3, 3]^4, with noise (σ = 0.05). 3000 samples."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.0, 3.0, (3000, 4))
    r = np.linalg.norm(x, axis=1)
    y = np.sin(2 * r) / (1 + r) + rng.normal(0.0, 0.05, len(r))
    return Dataset(x.astype(np.float32), y, REGRESSION)


def _glyphs() -> Dataset:
    """10 fixed random 8×8 glyphs (5×5 binary patterns, half their cells on), each drawn shifted by
    up to a pixel either way, at a brightness of 0.5 to 1.5, in noise (σ = 0.5); the class is the
    glyph. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    patterns = rng.random((10, 5, 5)) < 0.5
    y = rng.integers(0, 10, n)
    images = rng.normal(0.0, 0.5, (n, 8, 8))
    for i, (row, col) in enumerate(rng.integers(0, 4, (n, 2))):
        images[i, row : row + 5, col : col + 5] += rng.uniform(0.5, 1.5) * patterns[y[i]]
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["glyphs"])


def _chirps() -> Dataset:
    """48-step chirps in noise (σ = 0.7): a sine whose frequency rises or falls, slowly or fast,
    from a random start and phase; the class is which of the four. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["chirps"][0]
    y = rng.integers(0, 4, n)
    t = np.arange(steps) / steps
    start = rng.uniform(6.0, 8.0, (n, 1))  # cycles per window at the start: 1 to 13 at the end
    sweep = np.where(y % 2 == 0, 1.0, -1.0)[:, None] * np.where(y < 2, 2.0, 5.0)[:, None]
    phase = 2 * np.pi * (start * t + 0.5 * sweep * t**2) + rng.uniform(0.0, 2 * np.pi, (n, 1))
    signals = np.sin(phase) + rng.normal(0.0, 0.7, (n, steps))
    return Dataset(signals.astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["chirps"])


def _peaks() -> Dataset:
    """The "peaks" surface of two variables (three Gaussian bumps and a ripple) uniform in
    [-3, 3]^2, with four more features of pure noise and target noise (σ = 0.3). 3000 samples."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.0, 3.0, (3000, 6))
    a, b = x[:, 0], x[:, 1]
    z = (
        3 * (1 - a) ** 2 * np.exp(-(a**2) - (b + 1) ** 2)
        - 10 * (a / 5 - a**3 - b**5) * np.exp(-(a**2) - b**2)
        - np.exp(-((a + 1) ** 2) - b**2) / 3
    )
    return Dataset(x.astype(np.float32), z + rng.normal(0.0, 0.3, len(z)), REGRESSION)


def _counting() -> Dataset:
    """20 steps of three symbols, one-hot, each step drawn with its own random odds per sequence;
    the target is how many more of the first symbol than the second there are, plus noise
    (σ = 0.5). 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["counting"][0]
    odds = rng.dirichlet(np.ones(3), n)
    tokens = np.array([rng.choice(3, steps, p=p) for p in odds])
    x = np.eye(3, dtype=np.float32)[tokens].reshape(n, -1)
    y = (tokens == 0).sum(1) - (tokens == 1).sum(1) + rng.normal(0.0, 0.5, n)
    return Dataset(x, y, REGRESSION, sequence_shape=(steps, 3), standardise=False)


def _centroids() -> Dataset:
    """8×8 images of one blurred blob (σ = 1 to 1.5 pixels, brightness 0.7 to 1.3) at a random
    place, in noise (σ = 0.3); the target is the blob's column, in pixels. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    centre = rng.uniform(1.5, 5.5, (n, 2))
    sigma = rng.uniform(1.0, 1.5, (n, 1, 1))
    rows, cols = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    distance = (rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2
    images = rng.uniform(0.7, 1.3, (n, 1, 1)) * np.exp(-distance / (2 * sigma**2))
    images += rng.normal(0.0, 0.3, images.shape)
    return Dataset(images.reshape(n, 64).astype(np.float32), centre[:, 1], REGRESSION, IMAGE_SHAPES["centroids"])


MOTIF = (0, 1, 2)
"""The run of symbols whose presence the ``motifs`` data set's class says."""


def _motifs() -> Dataset:
    """24 steps of four symbols, one-hot and uniform; the class is whether the run 0, 1, 2 occurs
    (half the sequences have it put in at a random place, the others are drawn until they lack
    it), with 10% of the labels flipped. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["motifs"][0]
    has = rng.integers(0, 2, n)
    tokens = np.empty((n, steps), dtype=np.int64)
    for i in range(n):
        while True:
            sequence = rng.integers(0, 4, steps)
            if has[i]:
                start = rng.integers(0, steps - len(MOTIF) + 1)
                sequence[start : start + len(MOTIF)] = MOTIF
            if has[i] == _has_motif(sequence):
                break
        tokens[i] = sequence
    y = np.where(rng.random(n) < 0.1, 1 - has, has)
    x = np.eye(4, dtype=np.float32)[tokens].reshape(n, -1)
    return Dataset(x, y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["motifs"], standardise=False)


def _has_motif(sequence: np.ndarray) -> bool:
    """Whether :data:`MOTIF` occurs in ``sequence`` as a run."""
    windows = np.lib.stride_tricks.sliding_window_view(sequence, len(MOTIF))
    return bool((windows == MOTIF).all(axis=1).any())


def _pulses() -> Dataset:
    """40-step signals of one Gaussian pulse (width σ = 1.5 to 6 steps, height 0.5 to 1.5, at a
    random place) in noise (σ = 0.3); the target is the pulse's width σ. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["pulses"][0]
    width = rng.uniform(1.5, 6.0, (n, 1))
    centre = rng.uniform(8.0, steps - 8.0, (n, 1))
    t = np.arange(steps)
    signals = rng.uniform(0.5, 1.5, (n, 1)) * np.exp(-((t - centre) ** 2) / (2 * width**2))
    signals += rng.normal(0.0, 0.3, signals.shape)
    return Dataset(signals.astype(np.float32), width[:, 0], REGRESSION, sequence_shape=SEQUENCE_SHAPES["pulses"])


def _bands() -> Dataset:
    """Gaussian points in 5 dimensions; the class is which third (by quantile) a point's score
    sin(2 x0) + x1 / 2 falls in: two features matter, three are noise. 3000 samples."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (3000, 5))
    score = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1]
    y = np.searchsorted(np.quantile(score, [1 / 3, 2 / 3]), score)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _lags() -> Dataset:
    """32 steps of two channels: white noise, and the same noise 1 to 4 steps later at a random
    gain (0.5 to 1.5) in its own noise (σ = 2); the class is the delay, less one. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["lags"][0]
    y = rng.integers(0, 4, n)
    source = rng.normal(0.0, 1.0, (n, steps + 4))
    echo = np.stack([source[i, 4 - delay : 4 - delay + steps] for i, delay in enumerate(y + 1)])
    echo = rng.uniform(0.5, 1.5, (n, 1)) * echo + rng.normal(0.0, 2.0, (n, steps))
    x = np.stack([source[:, 4:], echo], axis=-1).reshape(n, -1)
    return Dataset(x.astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["lags"])


def _angles() -> Dataset:
    """8×8 images of a blurred line (σ = 0.6 pixel) through a point near the centre at a random
    angle θ, in noise (σ = 0.3); the target is cos 2θ (a line at θ and θ + π is the same). 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    theta = rng.uniform(0.0, np.pi, (n, 1, 1))
    centre = rng.uniform(2.5, 4.5, (n, 2, 1, 1))
    rows, cols = np.mgrid[0:8, 0:8]
    distance = (rows - centre[:, 0]) * np.cos(theta) - (cols - centre[:, 1]) * np.sin(theta)  # from the line
    images = rng.uniform(0.7, 1.3, (n, 1, 1)) * np.exp(-(distance**2) / (2 * 0.6**2))
    images += rng.normal(0.0, 0.3, images.shape)
    y = np.cos(2 * theta[:, 0, 0])
    return Dataset(images.reshape(n, 64).astype(np.float32), y, REGRESSION, IMAGE_SHAPES["angles"])


def _gaps() -> Dataset:
    """12 steps of five symbols, one-hot: symbol 0 exactly twice, at random places, the others
    uniform; the target is how many steps apart the two are (1 to 11), with noise (σ = 1). 3000
    samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["gaps"][0]
    tokens = rng.integers(1, 5, (n, steps))
    places = np.array([rng.choice(steps, 2, replace=False) for _ in range(n)])
    tokens[np.arange(n)[:, None], places] = 0
    x = np.eye(5, dtype=np.float32)[tokens].reshape(n, -1)
    y = np.abs(places[:, 0] - places[:, 1]) + rng.normal(0.0, 1.0, n)
    return Dataset(x, y, REGRESSION, sequence_shape=SEQUENCE_SHAPES["gaps"], standardise=False)


def _rosenbrock() -> Dataset:
    """Points uniform in [-2, 2]^4; the target is log(1 + the Rosenbrock function of the point)
    (sums of 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2), with noise (σ = 0.1). 3000 samples."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, (3000, 4))
    value = (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(1)
    return Dataset(x.astype(np.float32), np.log1p(value) + rng.normal(0.0, 0.1, len(x)), REGRESSION)


def _orbits() -> Dataset:
    """24 steps of a point's (x, y) on a circle about the origin (radius 1 at the start, 0.3 to 0.6
    radians a step), in noise (σ = 0.3); the class is 2 × growing + clockwise: the direction, and
    whether the radius grows or shrinks (by a factor of 1.2 to 1.5 over the sequence). 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["orbits"][0]
    y = rng.integers(0, 4, n)
    clockwise, growing = y % 2 == 1, y // 2 == 1
    speed = rng.uniform(0.3, 0.6, (n, 1)) * np.where(clockwise, -1.0, 1.0)[:, None]
    factor = rng.uniform(1.2, 1.5, (n, 1)) ** np.where(growing, 1.0, -1.0)[:, None]
    t = np.arange(steps) / (steps - 1)
    angle = rng.uniform(0.0, 2 * np.pi, (n, 1)) + speed * np.arange(steps)
    radius = factor**t
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    points += rng.normal(0.0, 0.3, points.shape)
    return Dataset(
        points.reshape(n, -1).astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["orbits"]
    )


def _dashes() -> Dataset:
    """8×8 images of four dashes (3 pixels long, brightness 0.7 to 1.3, at random places, overlaps
    allowed), each horizontal or vertical, in noise (σ = 0.3); the class is how many are
    horizontal (0 to 4, each as often). 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 5, n)
    horizontal = np.argsort(rng.uniform(size=(n, 4)), axis=1) < y[:, None]  # y of the 4, at random
    images = np.zeros((n, 8, 8))
    for i in range(n):
        for is_horizontal in horizontal[i]:
            row, col = rng.integers(0, 8), rng.integers(0, 6)
            brightness = rng.uniform(0.7, 1.3)
            if is_horizontal:
                images[i, row, col : col + 3] += brightness
            else:
                images[i, col : col + 3, row] += brightness
    images += rng.normal(0.0, 0.3, images.shape)
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["dashes"])


def _arm() -> Dataset:
    """A planar arm of three links (lengths 1, 0.8 and 0.6) at joint angles uniform in [-π, π],
    with three more features of noise; the target is the x position of its tip, with noise
    (σ = 0.05). 3000 samples."""
    rng = np.random.default_rng(0)
    joints = rng.uniform(-np.pi, np.pi, (3000, 3))
    tip = (np.array([1.0, 0.8, 0.6]) * np.cos(np.cumsum(joints, axis=1))).sum(1)
    x = np.concatenate([joints, rng.normal(0.0, 1.0, (3000, 3))], axis=1)
    return Dataset(x.astype(np.float32), tip + rng.normal(0.0, 0.05, len(x)), REGRESSION)


def _decays() -> Dataset:
    """48 steps of a damped oscillation exp(-t / τ) sin(ω t + φ) (τ from 4 to 40 steps, log-uniform;
    ω from 0.3 to 1.2 radians a step) in noise (σ = 0.2); the target is log τ. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["decays"][0]
    log_tau = rng.uniform(np.log(4.0), np.log(40.0), (n, 1))
    t = np.arange(steps)
    signals = np.exp(-t / np.exp(log_tau)) * np.sin(
        rng.uniform(0.3, 1.2, (n, 1)) * t + rng.uniform(0, 2 * np.pi, (n, 1))
    )
    signals += rng.normal(0.0, 0.2, signals.shape)
    return Dataset(signals.astype(np.float32), log_tau[:, 0], REGRESSION, sequence_shape=SEQUENCE_SHAPES["decays"])


def _rings() -> Dataset:
    """Points in the plane on four rings about the origin (radius 1, 2, 3 or 4, σ = 0.3 across the
    ring), with four more features of noise; the class is the ring. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 4, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    radius = y + 1.0 + rng.normal(0.0, 0.3, n)
    x = np.column_stack([radius * np.cos(angle), radius * np.sin(angle), rng.normal(0.0, 1.0, (n, 4))])
    return Dataset(x.astype(np.float32), y, CLASSIFICATION)


def _bursts() -> Dataset:
    """20 steps of three channels of noise (σ = 1), one of which carries a burst (σ = 2.5) for 4
    steps; the class is 2 × the channel + whether the burst starts in the second half (6
    classes, each as often). 3000 samples."""
    rng = np.random.default_rng(0)
    n, (steps, channels) = 3000, SEQUENCE_SHAPES["bursts"]
    y = rng.integers(0, 2 * channels, n)
    signals = rng.normal(0.0, 1.0, (n, steps, channels))
    half = steps // 2
    start = rng.integers(0, half - 3, n) + np.where(y % 2 == 1, half, 0)
    for i in range(n):
        signals[i, start[i] : start[i] + 4, y[i] // 2] *= 2.5
    return Dataset(signals.reshape(n, -1).astype(np.float32), y, CLASSIFICATION, sequence_shape=(steps, channels))


def _strokes() -> Dataset:
    """8×8 images of one stroke (4 or 5 pixels, brightness 0.7 to 1.3, at a random place) that is
    horizontal, vertical, diagonal or anti-diagonal (the class), beside two stray pixels, in
    noise (σ = 0.35). 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 4, n)
    directions = np.array([(0, 1), (1, 0), (1, 1), (1, -1)])
    images = np.zeros((n, 8, 8))
    for i in range(n):
        length = rng.integers(4, 6)
        (dr, dc), brightness = directions[y[i]], rng.uniform(0.7, 1.3)
        row = rng.integers(0, 8 - dr * (length - 1))
        col = rng.integers(0, 8 - abs(dc) * (length - 1)) + (length - 1 if dc < 0 else 0)
        for k in range(length):
            images[i, row + dr * k, col + dc * k] += brightness
        images[i, rng.integers(0, 8, 2), rng.integers(0, 8, 2)] += brightness
    images += rng.normal(0.0, 0.35, images.shape)
    return Dataset(images.reshape(n, 64).astype(np.float32), y, CLASSIFICATION, IMAGE_SHAPES["strokes"])


def _pendulum() -> Dataset:
    """32 samples (0.25 s apart) of a damped pendulum's angle, from rest at 0.3 to 2.5 radians
    (the period grows with the swing), in noise (σ = 0.1); the target is the log of its length
    (0.25 to 2.5 m, log-uniform). 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["pendulum"][0]
    log_length = rng.uniform(np.log(0.25), np.log(2.5), n)
    angle, speed = rng.uniform(0.3, 2.5, n), np.zeros(n)
    damping, substeps, dt = rng.uniform(0.05, 0.3, n), 25, 0.01
    angles = np.empty((n, steps))
    for t in range(steps):
        angles[:, t] = angle
        for _ in range(substeps):  # semi-implicit Euler: 25 steps of 0.01 s between samples
            speed += dt * (-9.81 / np.exp(log_length) * np.sin(angle) - damping * speed)
            angle = angle + dt * speed
    angles += rng.normal(0.0, 0.1, angles.shape)
    return Dataset(angles.astype(np.float32), log_length, REGRESSION, sequence_shape=SEQUENCE_SHAPES["pendulum"])


def _tones() -> Dataset:
    """32 steps of a tone (amplitude 0.5 to 1.5, random phase) whose frequency changes once, between
    steps 8 and 24, in noise (σ = 0.5); the class is whether it rises or falls and by a little
    (×1.3) or a lot (×2): 4 classes, each as often. 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["tones"][0]
    y = rng.integers(0, 4, n)
    ratio = np.array([1.3, 2.0, 1 / 1.3, 1 / 2.0])[y]
    first = np.exp(rng.uniform(np.log(0.25), np.log(0.8), n)) / np.sqrt(np.maximum(ratio, 1.0))
    change = rng.integers(8, 25, n)
    t = np.arange(steps)
    frequency = np.where(t < change[:, None], first[:, None], (first * ratio)[:, None])
    phase = np.cumsum(frequency, axis=1) + rng.uniform(0, 2 * np.pi, (n, 1))
    signals = rng.uniform(0.5, 1.5, (n, 1)) * np.sin(phase) + rng.normal(0.0, 0.5, (n, steps))
    return Dataset(signals.astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["tones"])


def _blots() -> Dataset:
    """8×8 images of two blurred blots (σ = 0.7 to 1.2 pixels, brightness 0.6 to 1.4) in noise
    (σ = 0.3); the target is the distance between their centres, in pixels. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    centres = rng.uniform(0.0, 7.0, (n, 2, 2))
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), axis=-1)  # 8 × 8 × (row, col)
    images = np.zeros((n, 8, 8))
    for blot in range(2):
        squared = ((grid[None] - centres[:, None, None, blot]) ** 2).sum(-1)
        width, brightness = rng.uniform(0.7, 1.2, (n, 1, 1)), rng.uniform(0.6, 1.4, (n, 1, 1))
        images += brightness * np.exp(-squared / (2 * width**2))
    images += rng.normal(0.0, 0.3, images.shape)
    distance = np.linalg.norm(centres[:, 0] - centres[:, 1], axis=1)
    return Dataset(images.reshape(n, 64).astype(np.float32), distance, REGRESSION, IMAGE_SHAPES["blots"])


def _stairs() -> Dataset:
    """48 steps of a level that jumps 0 to 4 times (by ±0.6 to ±1.5, at random steps), in noise
    (σ = 0.5) on a slow random drift; the class is the number of jumps (5 classes, each as
    often). 3000 samples."""
    rng = np.random.default_rng(0)
    n, steps = 3000, SEQUENCE_SHAPES["stairs"][0]
    y = rng.integers(0, 5, n)
    signals = np.cumsum(rng.normal(0.0, 0.05, (n, steps)), axis=1) + rng.normal(0.0, 0.5, (n, steps))
    for i in range(n):
        for at in rng.choice(np.arange(4, steps - 4), y[i], replace=False):
            signals[i, at:] += rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.5)
    return Dataset(signals.astype(np.float32), y, CLASSIFICATION, sequence_shape=SEQUENCE_SHAPES["stairs"])


def _ridges() -> Dataset:
    """A sum of four sine ridges in 8-D, sin of a random projection each (scales 1 to 3,
    amplitudes 1, -0.8, 0.6 and 0.4), plus noise (σ = 0.1), of points uniform in [-2, 2]^8; a
    regression. 3000 samples."""
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.uniform(-2.0, 2.0, (n, 8))
    directions = rng.normal(0.0, 1.0, (8, 4))
    directions /= np.linalg.norm(directions, axis=0)
    y = (np.sin(x @ (directions * rng.uniform(1.0, 3.0, 4))) * np.array([1.0, -0.8, 0.6, 0.4])).sum(1)
    y += rng.normal(0.0, 0.1, n)
    return Dataset(x.astype(np.float32), y, REGRESSION)


BUILTIN: dict[str, Callable[[], Dataset]] = {
    "digits": functools.partial(_sklearn, "digits"),
    "wine": functools.partial(_sklearn, "wine"),
    "breast_cancer": functools.partial(_sklearn, "breast_cancer"),
    "iris": functools.partial(_sklearn, "iris"),
    "diabetes": functools.partial(_sklearn, "diabetes"),
    "moons": _moons,
    "friedman": functools.partial(_friedman, 1, noise=1.0),  # 10 features, make_friedman1's default
    "synthetic_classes": _blobs,
    "friedman2": functools.partial(_friedman, 2, noise=50.0),
    "friedman3": functools.partial(_friedman, 3, noise=0.1),
    "circles": _circles,
    "hastie": _hastie,
    "shapes": _shapes,
    "gratings": _gratings,
    "waveforms": _waveforms,
    "text": _text,
    "sparse_regression": _sparse_regression,
    "spirals": _spirals,
    "quantiles": _quantiles,
    "swiss_roll": _swiss_roll,
    "adding": _adding,
    "textures": _textures,
    "s_curve": _s_curve,
    "checkerboard": _checkerboard,
    "majority": _majority,
    "sines": _sines,
    "spots": _spots,
    "imbalanced": _imbalanced,
    "brackets": _brackets,
    "ripple": _ripple,
    "glyphs": _glyphs,
    "chirps": _chirps,
    "peaks": _peaks,
    "counting": _counting,
    "centroids": _centroids,
    "motifs": _motifs,
    "pulses": _pulses,
    "bands": _bands,
    "lags": _lags,
    "angles": _angles,
    "gaps": _gaps,
    "rosenbrock": _rosenbrock,
    "orbits": _orbits,
    "dashes": _dashes,
    "arm": _arm,
    "decays": _decays,
    "rings": _rings,
    "bursts": _bursts,
    "strokes": _strokes,
    "pendulum": _pendulum,
    "tones": _tones,
    "blots": _blots,
    "stairs": _stairs,
    "ridges": _ridges,
}
"""Bundled or generated data sets, by the name a spec's ``[data] source`` uses."""


def import_callable(path: str) -> Callable:
    """Import ``"package.module:function"`` and return the function.

    Raises:
        ValueError: the string is not ``module:function``, or either part does not import.
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:function', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} ({exc})") from exc
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise ValueError(f"{path!r} is not callable")
    return target


@functools.cache
def load(source: str, task: str | None = None) -> Dataset:
    """Load a data set by builtin name or ``module:function``, once per process.

    A user's function takes no argument and returns ``(x, y)`` arrays; ``task``
    (``"classification"`` or ``"regression"``) must then be given.
    """
    if source in BUILTIN:
        return BUILTIN[source]()
    if ":" not in source:
        raise UnknownNameError("data set", source, [*list(BUILTIN), "module:function"])
    x, y = import_callable(source)()
    if task not in TASKS:
        raise ValueError(f"data set {source!r}: task must be one of {TASKS}, got {task!r}")
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.int64 if task == CLASSIFICATION else np.float32)
    return Dataset(x, y, task)
