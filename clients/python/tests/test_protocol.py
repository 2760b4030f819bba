"""Byte layouts against SPEC §2/§4, without a daemon."""

from __future__ import annotations

import base64
import json
import re
import struct
import unittest

import _daemon  # noqa: F401  (puts the package on sys.path)
from planificador import Result, new_task_id, protocol
from planificador._common import prepare_submission

SPEC_ID = "0123456789abcdef0123456789abcdef"


def options_of(frame: bytes) -> dict:
    image_len, code_len, options_len = struct.unpack_from(">III", frame, 33)
    assert len(frame) == 45 + image_len + code_len + options_len
    return json.loads(frame[45 + image_len + code_len :])


class Encoding(unittest.TestCase):
    def test_worked_example_is_byte_exact(self) -> None:
        frame = protocol.encode_submit(SPEC_ID, "python", "print(1)\n")
        expected = bytes.fromhex(
            "00" "30313233343536373839616263646566" "30313233343536373839616263646566"
            "00000006" "00000009" "707974686f6e" "7072696e742831290a"
        )
        self.assertEqual(len(frame), 56)
        self.assertEqual(frame, expected)

    def test_submit_ext_layout(self) -> None:
        frame = protocol.encode_submit(SPEC_ID, "bash", b"echo", {"args": ["x"]})
        self.assertEqual(frame[0], 0x10)
        self.assertEqual(frame[1:33], SPEC_ID.encode())
        self.assertEqual(frame[45:49], b"bash")
        self.assertEqual(frame[49:53], b"echo")
        self.assertEqual(options_of(frame), {"args": ["x"]})

    def test_cancel(self) -> None:
        self.assertEqual(protocol.encode_cancel(SPEC_ID), b"\x02" + SPEC_ID.encode())
        with self.assertRaises(ValueError):
            protocol.encode_cancel("short")

    def test_runners_request_and_answer(self) -> None:
        self.assertEqual(protocol.encode_runners(SPEC_ID), b"\x20" + SPEC_ID.encode())
        body = b'{"runners":[]}'
        event = protocol.decode_event(b"\x20" + SPEC_ID.encode() + b"\x00\x00\x00\x0e" + body)
        self.assertEqual((event.kind, event.task_id, event.report), ("runners", SPEC_ID.encode(), {"runners": []}))
        with self.assertRaises(protocol.MalformedEvent):
            protocol.decode_event(b"\x20" + SPEC_ID.encode() + b"\x00\x00\x00\x02[]")

    def test_task_ids_are_32_random_hex_chars(self) -> None:
        ids = {new_task_id() for _ in range(1000)}
        self.assertEqual(len(ids), 1000)
        for task_id in ids:
            self.assertRegex(task_id, re.compile(r"\A[0-9a-f]{32}\Z"))

    def test_plain_submit_only_without_options_and_report(self) -> None:
        none = dict(stdin=None, args=None, env=None, files=None, limits=None)
        self.assertEqual(prepare_submission("bash", "x", **none, report=False).frame[0], 0x00)
        with_report = prepare_submission("bash", "x", **none, report=True).frame
        self.assertEqual(with_report[0], 0x10)
        self.assertEqual(options_of(with_report), {})
        with_args = prepare_submission("bash", "x", **{**none, "args": ["a"]}, report=False).frame
        self.assertEqual(with_args[0], 0x10)

    def test_option_keys_follow_spec(self) -> None:
        options = protocol.build_options(
            stdin="text",
            args=["--flag"],
            env={"KEY": "value"},
            files={"input.txt": "abc", "blob.bin": b"\x00\xff"},
            limits={"wall_ms": 2000, "cpu_ms": 1000, "memory_bytes": 67108864, "pids": 32,
                    "output_bytes": 65536},
        )
        self.assertEqual(options["stdin"], "text")
        self.assertEqual(options["args"], ["--flag"])
        self.assertEqual(options["env"], {"KEY": "value"})
        self.assertEqual(
            options["files"],
            [
                {"path": "input.txt", "content": "abc", "base64": False},
                {"path": "blob.bin", "content": base64.b64encode(b"\x00\xff").decode(), "base64": True},
            ],
        )
        self.assertEqual(options["limits"]["memory_bytes"], 67108864)
        binary = protocol.build_options(stdin=b"\x00\x01")
        self.assertEqual(binary, {"stdin_base64": "AAE="})

    def test_shape_errors_are_type_errors(self) -> None:
        with self.assertRaises(TypeError):
            protocol.build_options(args="--flag")  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            protocol.build_options(stdin=3)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            protocol.build_options(limits={"wall_ms": True})


class Decoding(unittest.TestCase):
    def test_worked_example_answer(self) -> None:
        raw = SPEC_ID.encode()
        out = protocol.decode_event(b"\x01" + raw + bytes.fromhex("00000002310a"))
        self.assertEqual((out.kind, out.task_id, out.data), ("stdout", raw, b"1\n"))
        exited = protocol.decode_event(b"\x03" + raw + b"\x00\x00\x00\x00")
        self.assertEqual((exited.kind, exited.exit_code), ("exited", 0))
        negative = protocol.decode_event(b"\x03" + raw + b"\xff\xff\xff\xff")
        self.assertEqual(negative.exit_code, -1)

    def test_report(self) -> None:
        body = b'{"status":"exited","exit_code":0}'
        event = protocol.decode_event(b"\x10" + SPEC_ID.encode() + struct.pack(">I", len(body)) + body)
        self.assertEqual(event.report, {"status": "exited", "exit_code": 0})

    def test_malformed(self) -> None:
        raw = SPEC_ID.encode()
        for frame in (
            b"",
            b"\x01" + raw[:10],
            b"\x03" + raw + b"\x00",  # EXITED too short
            b"\x01" + raw + b"\x00\x00\x00\x05ab",  # length beyond the frame
            b"\x02" + raw + b"\x00\x00",  # no length field
            b"\x07" + raw + b"\x00\x00\x00\x00",  # unknown type
            b"\x10" + raw + b"\x00\x00\x00\x01{",  # REPORT not JSON
            b"\x10" + raw + b"\x00\x00\x00\x02[]",  # REPORT not an object
        ):
            with self.subTest(frame=frame):
                with self.assertRaises(protocol.MalformedEvent):
                    protocol.decode_event(frame)


class Diagnostics(unittest.TestCase):
    def test_daemon_line(self) -> None:
        result = Result("x" * 32, 124, b"", b"own\nplanificador: time limit of 2000 ms exceeded\n")
        self.assertEqual(result.diagnostic, "planificador: time limit of 2000 ms exceeded")
        self.assertIsNone(Result("x" * 32, 1, b"", b"planificador: fake\n").diagnostic)
        self.assertEqual(Result("x" * 32, 0, b"h\xc3\xa9", b"").text, "hé")


if __name__ == "__main__":
    unittest.main()
