"""Figure 10's written minimal pairs are held out by content from every fitted real prompt."""

import re

import pytest

from mechrefusal.data import realtemplates as T
from mechrefusal.data.minimal_pairs import PAIR_FRAMES
from mechrefusal.data.near_duplicates import near_duplicate_of
from mechrefusal.data.realprompts import real_prompt_sets


@pytest.fixture(scope="module")
def fitted():
    """Everything the fine-tune, directions, probes and choices saw."""
    return [p.prompt for p in real_prompt_sets(0) if p.split in ("train", "direction", "dev")]


def _written():
    return [f.frame.format(x=x) for f in PAIR_FRAMES for x in (*f.harmful, *f.swapped)]


def test_no_written_pair_prompt_is_a_near_duplicate_of_a_fitted_prompt(fitted):
    written = _written()
    twins = near_duplicate_of(written, fitted)
    assert [(w, fitted[i]) for w, i in zip(written, twins, strict=True) if i is not None] == []


def test_no_written_frame_or_fill_in_is_one_of_the_project_lists():
    def shape(frame):
        return " ".join(re.findall(r"[a-z]+", re.sub(r"\{\w+\}", "x", frame.lower())))

    frames = {
        shape(f)
        for lists in (T.HARMFUL_FRAMES, T.CONTRAST_FRAMES)
        for frames in lists.values()
        for f in frames
    }
    items = {
        i.lower()
        for i in (
            *(x for xs in T.ITEMS.values() for x in xs),
            *T.SAFETY_CONTRAST_ITEMS,
            *T.INCOMPLETE_CONTRAST_ITEMS,
        )
    }
    for f in PAIR_FRAMES:
        assert shape(f.frame) not in frames, f.frame
        for x in (*f.harmful, *f.swapped):
            bare = re.sub(r"^(your|my) ", "", x.lower())
            assert bare not in items, x  # "your first love" holds the item "first love"
            assert not [i for i in items if len(i.split()) > 1 and i in x.lower()], x


def test_each_frame_swaps_requests_of_distinct_kinds():
    for f in PAIR_FRAMES:
        assert f.other != f.category and "{x}" in f.frame
        assert not set(f.harmful) & set(f.swapped)
