"""Near-duplicate prompts across sets: fuzzy matching of normalised word sets (rapidfuzz) and
shared sentence frames (word overlap).

Real prompt collections repeat themselves with small edits ("...adult movies2." / "...adult
movies.") and fill templates ("Why are all {group} people {trait}?"), and benchmarks borrow
from each other. An evaluation prompt with a near-twin in the data used for training,
directions or probes measures memory, not generalisation, so such prompts are found here and
kept out of evaluation. Two prompts are near-duplicates when either
- rapidfuzz's `token_set_ratio` on lower-cased, punctuation-free text is >= `NEAR_DUPLICATE`
  (100 when one prompt's word set contains the other's, so a prompt wrapped in extra words
  counts), or
- their word sets overlap (Jaccard) >= `SHARED_FRAME`: the same frame with one or two words
  swapped ("Are all hindu people extremists?" / "... dishonest?").
"""

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from rapidfuzz import fuzz, process, utils

NEAR_DUPLICATE = 90.0
"""token_set_ratio at or above which two prompts count as near-duplicates (0-100)."""
SHARED_FRAME = 0.6
"""Word-set overlap (intersection over union) at or above which two prompts share a frame."""


def words(text: str) -> frozenset[str]:
    """The lower-cased word set of a text (what the overlap compares)."""
    return frozenset(re.findall(r"[a-z0-9']+", text.lower()))


def _overlapping(
    candidates: Sequence[str], references: Sequence[str], threshold: float
) -> list[list[int]]:
    """For each candidate, the references whose word sets overlap it by >= `threshold`
    (an inverted index, so only references sharing a word are compared)."""
    ref_words = [words(t) for t in references]
    index: dict[str, list[int]] = defaultdict(list)
    for i, w in enumerate(ref_words):
        for word in w:
            index[word].append(i)
    out = []
    for text in candidates:
        w = words(text)
        shared = Counter(i for word in w for i in index[word])
        out.append(sorted(i for i, n in shared.items() if n / len(w | ref_words[i]) >= threshold))
    return out


def near_duplicate_of(
    candidates: Sequence[str],
    references: Sequence[str],
    *,
    threshold: float = NEAR_DUPLICATE,
    frame: float = SHARED_FRAME,
) -> list[int | None]:
    """For each candidate, the index of a near-duplicate reference (closest by
    token_set_ratio first, else the first sharing its frame), or None."""
    if not references:
        return [None] * len(candidates)
    framed = _overlapping(candidates, references, frame)
    out: list[int | None] = []
    for text, same_frame in zip(candidates, framed, strict=True):
        found = process.extractOne(
            text,
            references,
            scorer=fuzz.token_set_ratio,
            processor=utils.default_process,
            score_cutoff=threshold,
        )
        out.append(found[2] if found is not None else same_frame[0] if same_frame else None)
    return out


def clusters(
    texts: Sequence[str], *, threshold: float = NEAR_DUPLICATE, frame: float = SHARED_FRAME
) -> list[list[int]]:
    """For each text, the indices of its near-duplicate cluster (linked by any chain of
    near-duplicate pairs), so that a whole cluster can go to one split."""
    scores = process.cdist(
        texts,
        texts,
        scorer=fuzz.token_set_ratio,
        processor=utils.default_process,
        score_cutoff=threshold,
        workers=-1,
    )
    pairs = [(int(i), int(j)) for i, j in zip(*scores.nonzero(), strict=True)]
    pairs += [(i, j) for i, js in enumerate(_overlapping(texts, texts, frame)) for j in js]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(texts)):
        members.setdefault(root(i), []).append(i)
    return [members[root(i)] for i in range(len(texts))]
