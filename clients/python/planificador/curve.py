"""CURVE (ZeroMQ RFC 26) keys for the daemon's sockets (docs/protocol.md, "CURVE on the
daemon's own sockets"), and the key files `planctl keygen NAME` writes:

    NAME.key   # planificador CURVE key pair of NAME: keep it secret
               public-key = "<40 Z85 characters>"
               secret-key = "<40 Z85 characters>"
    NAME.pub   # planificador CURVE public key of NAME
               <40 Z85 characters>

The files are read as src/transport/curve_keys.cpp reads them, so a file the daemon
accepts is accepted here, and the same mistakes are reported with the same path:line.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import zmq
import zmq.utils.z85

KEY_CHARS = 40  # a 32-byte key in Z85

PathLike = Union[str, "os.PathLike[str]"]


def is_key(text: str) -> bool:
    """True when text is a 32-byte key in Z85 (40 characters of the Z85 alphabet)."""
    if not isinstance(text, str) or len(text) != KEY_CHARS:
        return False
    try:
        return len(zmq.utils.z85.decode(text.encode("ascii"))) == 32
    except (ValueError, KeyError, UnicodeEncodeError, struct.error):
        return False


@dataclass(frozen=True)
class CurveKeys:
    """The keys a client needs: the daemon's public key and the client's own key pair,
    each as 40 Z85 characters. Pass it (or a 3-tuple in this order) as Client(curve=…)."""

    server_key: str
    public_key: str
    secret_key: str

    def __post_init__(self) -> None:
        for name in ("server_key", "public_key", "secret_key"):
            if not is_key(getattr(self, name)):
                raise ValueError(f"curve {name} is not a Z85 key of {KEY_CHARS} characters")
        derived = zmq.curve_public(self.secret_key.encode("ascii")).decode("ascii")
        if derived != self.public_key:
            raise ValueError("curve public_key is not the one secret_key implies")

    @classmethod
    def from_files(cls, server_public: PathLike, client_key: PathLike) -> "CurveKeys":
        """Reads the daemon's NAME.pub and the client's NAME.key (both as planctl keygen
        writes them). OSError if a file cannot be read, ValueError naming the file and
        line if one does not hold what it should."""
        server_key = load_public_key(server_public)
        public_key, secret_key = load_key_pair(client_key)
        return cls(server_key, public_key, secret_key)

    def apply(self, socket: zmq.Socket) -> None:
        """Makes `socket` a CURVE client of the daemon; call it before connect()."""
        socket.setsockopt(zmq.CURVE_SERVERKEY, self.server_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, self.public_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_SECRETKEY, self.secret_key.encode("ascii"))

    def __repr__(self) -> str:  # never print a secret key into a log
        return f"CurveKeys(server_key={self.server_key!r}, public_key={self.public_key!r}, secret_key=…)"


CurveArgument = Union[CurveKeys, Tuple[str, str, str], Sequence[str], None]


def as_curve_keys(curve: CurveArgument) -> "CurveKeys | None":
    """curve= as given to a client: None, CurveKeys, or (server_key, public_key, secret_key)."""
    if curve is None or isinstance(curve, CurveKeys):
        return curve
    if isinstance(curve, (str, bytes)):
        raise TypeError("curve= takes CurveKeys or (server_key, public_key, secret_key), not a string")
    keys = tuple(curve)
    if len(keys) != 3:
        raise TypeError(f"curve= takes three keys (server, client public, client secret), got {len(keys)}")
    return CurveKeys(*keys)


def _read_lines(path: PathLike) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read().splitlines()


def _assigned(line: str, name: str) -> str:
    """The value of `name = "value"` (quotes optional); "" when line is not that."""
    line = line.strip(" \t\r")
    if not line.startswith(name):
        return ""
    line = line[len(name):].strip(" \t\r")
    if not line.startswith("="):
        return ""
    line = line[1:].strip(" \t\r")
    if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
        line = line[1:-1]
    return line


def load_key_pair(path: PathLike) -> tuple[str, str]:
    """(public key, secret key) from a NAME.key file of planctl keygen."""
    keys = {"public-key": "", "secret-key": ""}
    for number, line in enumerate(_read_lines(path), start=1):
        for name in keys:
            value = _assigned(line, name)
            if value:
                if not is_key(value):
                    raise ValueError(f"{path}:{number}: {name} is not a Z85 key of {KEY_CHARS} characters")
                keys[name] = value
    if not keys["public-key"] or not keys["secret-key"]:
        raise ValueError(f"{path}: expected both public-key and secret-key (write one with planctl keygen)")
    derived = zmq.curve_public(keys["secret-key"].encode("ascii")).decode("ascii")
    if derived != keys["public-key"]:
        raise ValueError(f"{path}: public-key is not the one secret-key implies")
    return keys["public-key"], keys["secret-key"]


def load_public_keys(path: PathLike) -> list[str]:
    """Every public key of a NAME.pub file or of an allow-list (one key per line)."""
    keys = []
    for number, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip(" \t\r")
        # '#' is a Z85 digit: a comment is '#' then a blank (a key holds none), and what
        # follows a key after a blank is a name for the reader.
        if not line or line == "#" or line.startswith("# ") or line.startswith("#\t"):
            continue
        line = line.split(None, 1)[0]
        if not is_key(line):
            raise ValueError(f"{path}:{number}: not a Z85 public key of {KEY_CHARS} characters")
        keys.append(line)
    return keys


def load_public_key(path: PathLike) -> str:
    """The one public key of a NAME.pub file."""
    keys = load_public_keys(path)
    if len(keys) != 1:
        raise ValueError(f"{path}: expected one public key, found {len(keys)}")
    return keys[0]
