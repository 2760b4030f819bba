# One 10 MB line: no newline until the very end, written in one call.
import sys

sys.stdout.write("x" * (10 * 1000 * 1000) + "\n")
