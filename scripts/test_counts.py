#!/usr/bin/python3
"""Sums GoogleTest's XML reports: what really ran, passed, failed and was skipped.

    scripts/test_counts.py DIR [DIR ...]

Prints one line per directory and a total, e.g.
    build/test-results: 1033 ran, 1031 passed, 0 failed, 2 skipped (1033 reports)
and exits 1 when a report is unreadable or counts a failure.
"""
import pathlib
import sys
import xml.etree.ElementTree as ElementTree


def counts(directory):
    ran = failed = skipped = reports = 0
    for report in sorted(pathlib.Path(directory).glob("*.xml")):
        root = ElementTree.parse(report).getroot()
        reports += 1
        for case in root.iter("testcase"):
            if case.get("status") == "notrun":
                continue  # DISABLED_: not run, not counted
            ran += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None or case.get("result") == "skipped":
                skipped += 1
    return ran, failed, skipped, reports


def main(directories):
    total = [0, 0, 0, 0]
    broken = False
    for directory in directories:
        try:
            ran, failed, skipped, reports = counts(directory)
        except (OSError, ElementTree.ParseError) as error:
            print(f"{directory}: unreadable report: {error}")
            broken = True
            continue
        print(f"{directory}: {ran} ran, {ran - failed - skipped} passed, {failed} failed, "
              f"{skipped} skipped ({reports} reports)")
        total = [a + b for a, b in zip(total, (ran, failed, skipped, reports))]
    ran, failed, skipped, _ = total
    print(f"planificador: {ran - failed - skipped} passed, {failed} failed, {skipped} skipped "
          f"of {ran} test cases")
    return 1 if broken or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
