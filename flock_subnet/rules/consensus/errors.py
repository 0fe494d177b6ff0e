"""Errors of the consensus package."""

from flock_subnet.errors import FlockError


class ConsensusInputError(FlockError, ValueError):
    """Epoch or payout inputs are inconsistent (lengths, uids out of range, negative amounts).

    The message names the offending field; fix the input data and run again.
    """
