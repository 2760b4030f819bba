"""CURVE keys: the files planctl keygen writes are read as the daemon reads them (no daemon)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import zmq

import _daemon
import planificador
from planificador import curve


class KeyFiles(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="plan-py-keys-"))

    def tearDown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def test_planctl_keygen_files(self) -> None:
        planctl = _daemon.BIN / "planctl"
        if not os.access(planctl, os.X_OK):
            self.skipTest(f"{planctl} is not built")
        for name in ("daemon", "client"):
            subprocess.run([str(planctl), "keygen", str(self.dir / name)], check=True,
                           capture_output=True)
        keys = planificador.CurveKeys.from_files(self.dir / "daemon.pub", self.dir / "client.key")
        self.assertEqual(keys.server_key, curve.load_public_key(self.dir / "daemon.pub"))
        self.assertEqual(keys.public_key, curve.load_public_key(str(self.dir / "client.pub")))
        self.assertEqual(zmq.curve_public(keys.secret_key.encode()).decode(), keys.public_key)
        self.assertNotIn(keys.secret_key, repr(keys))

    def test_formats_and_mistakes(self) -> None:
        public, secret = (k.decode() for k in zmq.curve_keypair())
        other_public, _ = (k.decode() for k in zmq.curve_keypair())
        pair = self.write("c.key", f'# a comment\n  public-key = "{public}"\nsecret-key={secret}\n')
        self.assertEqual(curve.load_key_pair(pair), (public, secret))
        mismatched = self.write("m.key", f'public-key = "{other_public}"\nsecret-key = "{secret}"\n')
        with self.assertRaisesRegex(ValueError, "is not the one secret-key implies"):
            curve.load_key_pair(mismatched)
        bad = self.write("b.key", f'public-key = "{public}"\nsecret-key = "short"\n')
        with self.assertRaisesRegex(ValueError, r"b\.key:2: secret-key is not a Z85 key"):
            curve.load_key_pair(bad)
        with self.assertRaisesRegex(ValueError, "expected both public-key and secret-key"):
            curve.load_key_pair(self.write("half.key", f'public-key = "{public}"\n'))
        allow = self.write("allow.pub", f"# clients\n{public} alice\n\n#\n{other_public}\tbob\n")
        self.assertEqual(curve.load_public_keys(allow), [public, other_public])
        with self.assertRaisesRegex(ValueError, "expected one public key, found 2"):
            curve.load_public_key(allow)
        with self.assertRaisesRegex(ValueError, r"x\.pub:1: not a Z85 public key"):
            curve.load_public_keys(self.write("x.pub", "not-a-key\n"))
        with self.assertRaises(FileNotFoundError):
            planificador.CurveKeys.from_files(self.dir / "missing.pub", pair)

    def test_keys_given_directly(self) -> None:
        server, _ = (k.decode() for k in zmq.curve_keypair())
        public, secret = (k.decode() for k in zmq.curve_keypair())
        with self.assertRaisesRegex(ValueError, "server_key is not a Z85 key"):
            planificador.CurveKeys("x" * 39, public, secret)
        with self.assertRaisesRegex(ValueError, "public_key is not the one secret_key implies"):
            planificador.CurveKeys(server, server, secret)
        with self.assertRaises(TypeError):
            planificador.Client(endpoint="tcp://127.0.0.1:1", curve=(server, public))  # type: ignore[arg-type]
        with planificador.Client(endpoint="tcp://127.0.0.1:1", curve=[server, public, secret]) as client:
            self.assertEqual(client.curve, planificador.CurveKeys(server, public, secret))


if __name__ == "__main__":
    unittest.main()
