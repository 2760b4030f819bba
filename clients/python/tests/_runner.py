"""Runs the client's suite as `unittest discover` does and, when $PLANIFICADOR_TEST_XML names
a file, leaves there a report in GoogleTest's XML shape (one <testcase> per test, with a
<failure> or <skipped> child), so the project's test command counts these tests with the
C++ ones: what ran, passed, failed and was skipped."""

from __future__ import annotations

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path


class RecordingResult(unittest.TextTestResult):
    """A TextTestResult that also keeps each test's outcome and duration."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[tuple[unittest.TestCase, str, str, float]] = []
        self._started = 0.0
        self._failed_by_subtest: set[str] = set()

    def startTest(self, test: unittest.TestCase) -> None:
        self._started = time.monotonic()
        super().startTest(test)

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        self.records.append((test, outcome, detail, time.monotonic() - self._started))

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err) -> None:
        super().addFailure(test, err)
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err) -> None:
        super().addError(test, err)
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "passed")

    def addSubTest(self, test, subtest, err) -> None:
        # A failing subTest fails its test, for which unittest then calls no addSuccess
        # or addFailure: record the test once, as failed, or it would go uncounted.
        super().addSubTest(test, subtest, err)
        if err is not None and test.id() not in self._failed_by_subtest:
            self._failed_by_subtest.add(test.id())
            self._record(test, "failed", f"{subtest}: {self._exc_info_to_string(err, test)}")

    def addUnexpectedSuccess(self, test) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "failed", "unexpected success")


def write_report(path: str, records) -> None:
    failures = sum(1 for _, outcome, _, _ in records if outcome == "failed")
    skipped = sum(1 for _, outcome, _, _ in records if outcome == "skipped")
    root = ElementTree.Element("testsuites", tests=str(len(records)), failures=str(failures),
                               disabled="0", errors="0", name="python_client")
    suite = ElementTree.SubElement(root, "testsuite", name="python_client",
                                   tests=str(len(records)), failures=str(failures),
                                   skipped=str(skipped), errors="0")
    for test, outcome, detail, seconds in records:
        case = ElementTree.SubElement(
            suite, "testcase", name=test.id().rsplit(".", 1)[-1],
            classname=test.id().rsplit(".", 1)[0], status="run",
            result="skipped" if outcome == "skipped" else "completed", time=f"{seconds:.3f}")
        if outcome == "failed":
            ElementTree.SubElement(case, "failure", message=detail.splitlines()[-1] if detail
                                   else "failed").text = detail
        elif outcome == "skipped":
            ElementTree.SubElement(case, "skipped", message=detail)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main() -> int:
    here = Path(__file__).resolve().parent
    suite = unittest.defaultTestLoader.discover(str(here), pattern="test_*.py")
    runner = unittest.TextTestRunner(verbosity=2, resultclass=RecordingResult)
    result = runner.run(suite)
    report = os.environ.get("PLANIFICADOR_TEST_XML")
    if report:
        write_report(report, result.records)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
