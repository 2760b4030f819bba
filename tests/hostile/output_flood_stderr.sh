# Writes to stderr without end.
yes >&2
