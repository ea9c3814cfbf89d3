"""What the redactor costs a worker on the worst text a caller may send: CV_TEXT_MAX_CHARS of
digits and separators, shaped to give phonenumbers' matcher the most candidates, plus an
ordinary CV for scale.

Prints, per text, the best and worst time of `--repeat` runs of Redactor.redact (every pattern,
and one matcher pass per PHONE_REGIONS region plus one for international numbers), the distinct
numbers found, and whether a real number written at the very end of the text was still found (the
matcher stops looking after max_tries non-numbers unless told otherwise).

    python bench/redactor.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.cv.privacy import Redactor, configured_phone_regions
from settings import get_settings
from tests.samples import CV

LAST_NUMBER = " call +44 20 7946 0958"


def hostile_texts(size: int) -> dict[str, str]:
    def repeat(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[: size - len(LAST_NUMBER)]

    shuffled = random.Random(10)
    return {
        "digits": repeat("0123456789"),
        "digits and spaces": repeat("1 2 3 4 5 "),
        "number-shaped groups": repeat("0123456789 "),
        "pairs and dashes": repeat("12-34 "),
        "slashes": repeat("1/"),
        "en dashes": repeat("1\u2013"),
        "national numbers back to back": repeat("020 7946 0958 "),
        "random digits and separators": "".join(
            shuffled.choice("0123456789 -.()/+") for _ in range(size - len(LAST_NUMBER))
        ),
        "ordinary CV, repeated": repeat(CV),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = get_settings().cv_text_max_chars
    regions = configured_phone_regions()
    print(f"CV_TEXT_MAX_CHARS={size}  PHONE_REGIONS={','.join(regions)} ({len(regions) + 1} matcher passes)")
    print(f"{'text':32} {'best s':>7} {'worst s':>8} {'distinct numbers':>17}  last number found")
    for name, body in [("one ordinary CV", CV), *hostile_texts(size).items()]:
        text = body + LAST_NUMBER
        times: list[float] = []
        for _ in range(args.repeat):
            redactor = Redactor(phone_regions=regions)
            started = time.perf_counter()
            hidden = redactor.redact(text)
            times.append(time.perf_counter() - started)
        phones = sum(1 for placeholder in redactor.originals if placeholder.startswith("[PHONE_"))
        last = re.search(r" call (\[PHONE_\d+\])$", hidden)
        found = last is not None and redactor.originals[last.group(1)] == LAST_NUMBER.split("call ")[1]
        print(f"{name:32} {min(times):7.2f} {max(times):8.2f} {phones:17}  {'yes' if found else 'NO'}")


if __name__ == "__main__":
    main()
