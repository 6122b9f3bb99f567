"""The matching engine (worker side: imports pandas, numpy and rapidfuzz)."""

from matchq.matching.engine import MatchSummary, TooManyMatches, run_match

__all__ = ["MatchSummary", "TooManyMatches", "run_match"]
