"""Byte layouts of the planificador wire protocol (SPEC §2 and §4).

Pure functions only: no sockets here, so the encoding can be tested without a daemon and
both the threaded and the asyncio client share exactly one implementation.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

# Message type bytes (SPEC §2).
SUBMIT = 0x00
CANCEL = 0x02
SUBMIT_EXT = 0x10
APPEND_OUT = 0x01
APPEND_ERR = 0x02
EXITED = 0x03
REPORT = 0x10
RUNNERS = 0x20  # both ways: docs/protocol.md (planificador's own, not SPEC's)

TASK_ID_SIZE = 32
_ID_END = 1 + TASK_ID_SIZE  # type byte + task id
_SIZED_HEADER = _ID_END + 4  # APPEND_*, REPORT: a u32 length follows the id
_U32_MAX = 0xFFFFFFFF

BytesLike = Union[bytes, bytearray, memoryview]


class MalformedEvent(ValueError):
    """An events frame that does not follow SPEC §2; the client logs and drops it."""


def new_task_id() -> str:
    """A fresh task id: 32 lowercase hex characters (16 random bytes).

    SPEC lets an id be any 32 bytes; hex text keeps ids printable in logs and lets the
    same string be used on the wire and in Python.
    """
    return secrets.token_hex(TASK_ID_SIZE // 2)


def task_id_bytes(task_id: Union[str, bytes]) -> bytes:
    raw = task_id.encode("ascii") if isinstance(task_id, str) else bytes(task_id)
    if len(raw) != TASK_ID_SIZE:
        raise ValueError(f"a task id is exactly {TASK_ID_SIZE} bytes, got {len(raw)}")
    return raw


def _as_bytes(value: Union[str, BytesLike], what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _u32_length(data: bytes, what: str) -> int:
    if len(data) > _U32_MAX:
        raise ValueError(f"{what} of {len(data)} bytes does not fit a u32 length")
    return len(data)


def build_options(
    *,
    stdin: Optional[Union[str, BytesLike]] = None,
    args: Optional[Sequence[str]] = None,
    env: Optional[Mapping[str, str]] = None,
    files: Optional[Mapping[str, Union[str, BytesLike]]] = None,
    limits: Optional[Mapping[str, int]] = None,
) -> dict[str, Any]:
    """The SUBMIT_EXT options object (SPEC §4) for the options that were given.

    Only shapes are checked here (types a JSON encoder could not express, or that are a
    common slip such as args="--flag"); values are the daemon's to judge, and it answers a
    bad one with a rejection (exit code 125) that names the problem.
    """
    options: dict[str, Any] = {}
    if stdin is not None:
        if isinstance(stdin, str):
            options["stdin"] = stdin
        elif isinstance(stdin, (bytes, bytearray, memoryview)):
            # Bytes need not be UTF-8, and a JSON string must be: base64 keeps them exact.
            options["stdin_base64"] = base64.b64encode(bytes(stdin)).decode("ascii")
        else:
            raise TypeError(f"stdin must be str or bytes, not {type(stdin).__name__}")
    if args is not None:
        # A bare string is a sequence of characters; sending each as an argument is
        # never what the caller meant.
        if isinstance(args, (str, bytes)):
            raise TypeError("args must be a sequence of str, not a single string")
        arg_list = list(args)
        for arg in arg_list:
            if not isinstance(arg, str):
                raise TypeError(f"every argument must be str, not {type(arg).__name__}")
        options["args"] = arg_list
    if env is not None:
        env_obj: dict[str, str] = {}
        for name, value in env.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("env must map str to str")
            env_obj[name] = value
        options["env"] = env_obj
    if files is not None:
        file_list: list[dict[str, Any]] = []
        for path, content in files.items():
            if not isinstance(path, str):
                raise TypeError("file paths must be str")
            if isinstance(content, str):
                file_list.append({"path": path, "content": content, "base64": False})
            elif isinstance(content, (bytes, bytearray, memoryview)):
                file_list.append(
                    {
                        "path": path,
                        "content": base64.b64encode(bytes(content)).decode("ascii"),
                        "base64": True,
                    }
                )
            else:
                raise TypeError(
                    f"content of file {path!r} must be str or bytes, not {type(content).__name__}"
                )
        options["files"] = file_list
    if limits is not None:
        limit_obj: dict[str, int] = {}
        for key, value in limits.items():
            # bool is an int subclass; JSON would turn it into true/false.
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("limits must map str to int")
            limit_obj[key] = value
        options["limits"] = limit_obj
    return options


def encode_submit(
    task_id: Union[str, bytes],
    image: str,
    code: Union[str, BytesLike],
    options: Optional[Mapping[str, Any]] = None,
) -> bytes:
    """SUBMIT when options is None, else SUBMIT_EXT with options as compact JSON."""
    raw_id = task_id_bytes(task_id)
    image_bytes = _as_bytes(image, "image")
    code_bytes = _as_bytes(code, "code")
    image_len = _u32_length(image_bytes, "image")
    code_len = _u32_length(code_bytes, "code")
    if options is None:
        return b"".join(
            (bytes([SUBMIT]), raw_id, struct.pack(">II", image_len, code_len), image_bytes, code_bytes)
        )
    # ASCII-only JSON is valid UTF-8 whatever the strings hold.
    options_bytes = json.dumps(dict(options), separators=(",", ":")).encode("ascii")
    options_len = _u32_length(options_bytes, "options")
    return b"".join(
        (
            bytes([SUBMIT_EXT]),
            raw_id,
            struct.pack(">III", image_len, code_len, options_len),
            image_bytes,
            code_bytes,
            options_bytes,
        )
    )


def encode_cancel(task_id: Union[str, bytes]) -> bytes:
    return bytes([CANCEL]) + task_id_bytes(task_id)


def encode_runners(request_id: Union[str, bytes]) -> bytes:
    """RUNNERS request: what the daemon runs (docs/protocol.md)."""
    return bytes([RUNNERS]) + task_id_bytes(request_id)


@dataclass(frozen=True)
class Event:
    """One decoded events frame.

    kind is "stdout", "stderr", "exited", "report" or "runners"; data holds the chunk
    (stdout, stderr), exit_code the EXITED code, report the parsed REPORT object or the
    RUNNERS answer (task_id is then the request's id).
    """

    kind: str
    task_id: bytes
    data: bytes = b""
    exit_code: int = 0
    report: Optional[dict[str, Any]] = None


def decode_event(frame: bytes) -> Event:
    """Decodes one client-bound frame; raises MalformedEvent if it breaks SPEC §2."""
    if len(frame) < _ID_END:
        raise MalformedEvent(f"frame of {len(frame)} bytes is shorter than {_ID_END}")
    kind = frame[0]
    task_id = bytes(frame[1:_ID_END])
    if kind == EXITED:
        if len(frame) != _ID_END + 4:
            raise MalformedEvent(f"EXITED of {len(frame)} bytes, expected {_ID_END + 4}")
        (code,) = struct.unpack_from(">i", frame, _ID_END)
        return Event("exited", task_id, exit_code=code)
    if kind in (APPEND_OUT, APPEND_ERR, REPORT, RUNNERS):
        if len(frame) < _SIZED_HEADER:
            raise MalformedEvent(f"frame of type 0x{kind:02x} has no length field")
        (length,) = struct.unpack_from(">I", frame, _ID_END)
        if _SIZED_HEADER + length != len(frame):
            raise MalformedEvent(
                f"frame of type 0x{kind:02x} declares {length} bytes but carries "
                f"{len(frame) - _SIZED_HEADER}"
            )
        payload = bytes(frame[_SIZED_HEADER:])
        if kind in (REPORT, RUNNERS):
            name = "REPORT" if kind == REPORT else "RUNNERS"
            try:
                report = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise MalformedEvent(f"{name} is not valid JSON: {error}") from None
            if not isinstance(report, dict):
                raise MalformedEvent(f"{name} is not a JSON object")
            return Event("report" if kind == REPORT else "runners", task_id, report=report)
        return Event("stdout" if kind == APPEND_OUT else "stderr", task_id, data=payload)
    raise MalformedEvent(f"unknown event type 0x{kind:02x}")


def hex_prefix(frame: bytes, limit: int = 16) -> str:
    """The first bytes of a frame in hex, for log lines about frames that were dropped."""
    head = bytes(frame[:limit]).hex(" ")
    return head + (" …" if len(frame) > limit else "")
