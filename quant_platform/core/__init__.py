"""Small shared primitives: canonical JSON, content hashing, UTC time helpers."""
