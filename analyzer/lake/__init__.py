"""The lake: store layout, atomic append-only segments, the writer lock, compaction."""
