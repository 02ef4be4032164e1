"""Near-duplicate prompts across sets, by fuzzy matching of normalised word sets (rapidfuzz).

Real prompt collections repeat themselves with small edits ("...adult movies2." / "...adult
movies."), and benchmarks borrow from each other. An evaluation prompt with a near-twin in the
data used for training, directions or probes measures memory, not generalisation, so such
prompts are found here and kept out of evaluation. The score is rapidfuzz's
`token_set_ratio` on lower-cased, punctuation-free text: 100 when one prompt's word set
contains the other's, so a prompt wrapped in extra words still counts as a twin.
"""

from collections.abc import Sequence

from rapidfuzz import fuzz, process, utils

NEAR_DUPLICATE = 90.0
"""token_set_ratio at or above which two prompts count as near-duplicates (0-100)."""


def near_duplicate_of(
    candidates: Sequence[str], references: Sequence[str], *, threshold: float = NEAR_DUPLICATE
) -> list[int | None]:
    """For each candidate, the index of its closest reference at or above `threshold`, or None."""
    if not references:
        return [None] * len(candidates)
    out: list[int | None] = []
    for text in candidates:
        found = process.extractOne(
            text,
            references,
            scorer=fuzz.token_set_ratio,
            processor=utils.default_process,
            score_cutoff=threshold,
        )
        out.append(None if found is None else found[2])
    return out
