"""Sentiment (VADER, whose lexicon ships inside the package) and keywords (a stop-word filter)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

# VADER's own recommended cut-offs on the compound score.
POSITIVE, NEGATIVE = 0.05, -0.05
STRONGLY_NEGATIVE = -0.5  # opens a follow-up even without a low score

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few
    for from further get got had hadn't has hasn't have haven't having he her here hers herself him himself his how
    i i'm i've if in into is isn't it it's its itself just let's me more most much my myself no nor not of off on
    once only or other ought our ours ourselves out over own really same she should shouldn't so some such than
    that that's the their theirs them themselves then there there's these they they're this those through to too
    under until up very was wasn't we we're were weren't what when where which while who whom why will with won't
    would wouldn't you you're your yours yourself yourselves also still even thank thanks us one would like""".split()
)
WORD = re.compile(r"[a-zA-ZÀ-ÿ][a-zA-ZÀ-ÿ'-]+")


@dataclass(frozen=True)
class Scored:
    score: float
    label: str
    keywords: list[str]


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # reads the lexicon file from the package, once


def label_for(compound: float) -> str:
    if compound >= POSITIVE:
        return "positive"
    if compound <= NEGATIVE:
        return "negative"
    return "neutral"


def keywords(text: str, limit: int = 5) -> list[str]:
    """The most frequent content words, first occurrence breaking ties."""
    words = [w.lower().strip("'-") for w in WORD.findall(text)]
    counts = Counter(w for w in words if len(w) > 2 and w not in STOP_WORDS)
    return [w for w, _ in counts.most_common(limit)]


def score(text: str) -> Scored | None:
    text = (text or "").strip()
    if not text:
        return None
    compound = float(_analyzer().polarity_scores(text)["compound"])
    return Scored(compound, label_for(compound), keywords(text))
