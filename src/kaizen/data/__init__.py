"""Data formats: typed records, JSONL / datasets I/O, validation and conversion."""
