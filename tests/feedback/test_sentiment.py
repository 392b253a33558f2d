"""Sentiment ships with its package (no network), and keywords are plain content words."""

from __future__ import annotations

import socket

import pytest

from rapport.feedback import sentiment


def test_the_lexicon_loads_without_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("sentiment tried to reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    sentiment._analyzer.cache_clear()
    good, bad = sentiment.score("Great, friendly and fast!"), sentiment.score("Awful. The worst, I hate it.")
    assert good is not None and good.label == "positive" and good.score > 0.5
    assert bad is not None and bad.label == "negative" and bad.score <= sentiment.STRONGLY_NEGATIVE
    assert sentiment.score("   ") is None


def test_keywords_drop_stop_words_and_rank_by_frequency() -> None:
    text = "The delivery was late. The delivery driver was rude, and the refund is still missing."
    assert sentiment.keywords(text) == ["delivery", "late", "driver", "rude", "refund"]
