# Tries to read /etc/shadow and a file the host just wrote (its path is argv[1]).
# Prints what it managed to read; exits 0 when nothing was readable.
import sys

leaked = False
for path in ["/etc/shadow", sys.argv[1]]:
    try:
        with open(path) as secret:
            print(f"{path}: READ {secret.read()!r}")
            leaked = True
    except OSError as error:
        print(f"{path}: refused ({type(error).__name__})")
sys.exit(1 if leaked else 0)
