"""Streaming text: incremental decoding never shows half a character, stop strings never leak."""

from __future__ import annotations

from flock_subnet.serve.text import IncrementalDecoder, StopMatcher

TEXT = "Grüße, 世界! 🎉 (a [b {c}]) — sort 3 1 2 ✓ done"


def test_incremental_decoding_matches_decoding_everything(tiny_tokenizer):
    ids = tiny_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    decoder = IncrementalDecoder(tiny_tokenizer)
    pieces = [decoder.push(token) for token in ids]
    pieces.append(decoder.flush())
    assert "".join(pieces) == tiny_tokenizer.decode(ids) == TEXT
    assert not any("\ufffd" in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece == "") > 0  # multi-byte characters were held back a token or more


def test_special_tokens_are_not_shown(tiny_tokenizer):
    ids = tiny_tokenizer("<|im_start|>hi<|im_end|>", add_special_tokens=False)["input_ids"]
    decoder = IncrementalDecoder(tiny_tokenizer)
    assert "".join(decoder.push(t) for t in ids) + decoder.flush() == "hi"


def feed_all(matcher: StopMatcher, pieces: list[str]) -> list[str]:
    shown = [matcher.feed(piece) for piece in pieces]
    if not matcher.stopped:
        shown.append(matcher.flush())
    return shown


def test_stop_string_across_pieces_cuts_the_text_before_it():
    matcher = StopMatcher(("END",))
    shown = feed_all(matcher, ["hello E", "N", "D and more", " text"])
    assert matcher.stopped and "".join(shown) == "hello "
    assert shown[:3] == ["hello ", "", ""]


def test_a_held_back_prefix_is_released_when_it_does_not_become_a_stop():
    matcher = StopMatcher(("END",))
    assert matcher.feed("the E") == "the "
    assert matcher.feed("N") == ""
    assert matcher.feed("x") == "ENx"
    assert matcher.feed("EN") == ""
    assert matcher.flush() == "EN" and not matcher.stopped


def test_earliest_of_several_stops_wins_and_nothing_follows():
    matcher = StopMatcher(("b", "abc"))
    assert feed_all(matcher, ["xxab", "c", "more"]) == ["xxa", "", ""]
    assert matcher.stopped and matcher.text == "xxa"


def test_without_stops_everything_passes_through():
    matcher = StopMatcher()
    assert feed_all(matcher, ["a", "", "b"]) == ["a", "", "b", ""]
