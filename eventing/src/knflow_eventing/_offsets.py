"""Which offset a consumer may commit, given acks that arrive in any order."""

from __future__ import annotations


class AckTracker:
    """Per-partition bookkeeping of delivered and acked offsets.

    The committed offset is the one after the longest acked prefix of what was delivered, so an ack that
    arrives early never lets the group skip an event whose effect is not stored yet. Each (re)assignment
    of a partition starts a new epoch: acks of deliveries made under an older epoch are ignored, because
    the partition was handed to someone else in between and will be redelivered from its commit.
    """

    def __init__(self) -> None:
        # offset -> acked?, in delivery order (offsets only grow within an epoch)
        self._pending: dict[int, dict[int, bool]] = {}
        self._epochs: dict[int, int] = {}

    def assign(self, partition: int) -> int:
        """Start tracking ``partition`` afresh; return the new epoch."""
        self._pending[partition] = {}
        self._epochs[partition] = self._epochs.get(partition, 0) + 1
        return self._epochs[partition]

    def revoke(self, partition: int) -> None:
        """Stop tracking ``partition``: later acks of its deliveries are ignored."""
        self._pending.pop(partition, None)
        self._epochs[partition] = self._epochs.get(partition, 0) + 1

    def epoch(self, partition: int) -> int:
        """The current epoch of ``partition`` (assigning it if it is new)."""
        if partition not in self._pending:
            return self.assign(partition)
        return self._epochs[partition]

    def delivered(self, partition: int, offset: int) -> int:
        """Record that ``offset`` was handed out; return the epoch to quote when acking it."""
        epoch = self.epoch(partition)
        self._pending[partition][offset] = False
        return epoch

    def ack(self, partition: int, offset: int, epoch: int) -> int | None:
        """Record an ack; return the offset to commit if the acked prefix grew, else None."""
        pending = self._pending.get(partition)
        if pending is None or self._epochs.get(partition) != epoch or offset not in pending:
            return None
        pending[offset] = True
        commit: int | None = None
        while pending:
            first = next(iter(pending))
            if not pending[first]:
                break
            del pending[first]
            commit = first + 1
        return commit

    def outstanding(self, partition: int) -> int:
        """How many deliveries of ``partition`` are not acked yet."""
        return len(self._pending.get(partition, {}))
