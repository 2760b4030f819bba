#!/usr/bin/env python3
"""Writes the fuzz seed corpus: SPEC §2 frames for fuzz_codec, SPEC §4 options for fuzz_options.

Run from anywhere; output is deterministic. tests/unit/protocol_codec_test.cpp checks that
the codec seeds match the encoder byte for byte.
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
TASK_ID = b"0123456789abcdef0123456789abcdef"


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def submit(image: bytes, code: bytes) -> bytes:
    return b"\x00" + TASK_ID + u32(len(image)) + u32(len(code)) + image + code


def submit_ext(image: bytes, code: bytes, options: bytes) -> bytes:
    return (b"\x10" + TASK_ID + u32(len(image)) + u32(len(code)) + u32(len(options))
            + image + code + options)


CODEC = {
    "spec_submit.bin": submit(b"python", b"print(1)\n"),
    "cancel.bin": b"\x02" + TASK_ID,
    "submit_ext.bin": submit_ext(b"python", b"print(input())\n",
                                 b'{"stdin": "hi\\n", "limits": {"wall_ms": 2000}}'),
    "append_out.bin": b"\x01" + TASK_ID + u32(2) + b"1\n",
    "exited.bin": b"\x03" + TASK_ID + u32(0),
}

OPTIONS = {
    "spec_example.json": b"""{
  "stdin": "text",
  "args": ["--flag"],
  "env": {"KEY": "value"},
  "files": [{"path": "input.txt", "content": "...", "base64": false}],
  "limits": {"wall_ms": 2000, "cpu_ms": 1000, "memory_bytes": 67108864,
             "pids": 32, "output_bytes": 65536}
}
""",
    "base64.json": b'{"stdin_base64": "aGkK", "files": [{"path": "d/b.bin", '
                   b'"content": "AAE=", "base64": true}]}',
    "empty.json": b"{}",
}


def write(directory: str, files: dict) -> None:
    target = HERE / "corpus" / directory
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)


if __name__ == "__main__":
    write("codec", CODEC)
    write("options", OPTIONS)
