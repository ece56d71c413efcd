"""Progress: a progress bar with counts on a terminal, one plain line per operation otherwise."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from catalog import catalog  # noqa: E402

from lagosync.applier.run import progress_bar  # noqa: E402


def test_progress_bar_fills_with_the_count():
    assert progress_bar(0, 4, "x", width=8, columns=20) == "[--------] 0/4 x    "
    assert progress_bar(2, 4, "x", width=8).startswith("[####----] 2/4 x")
    assert progress_bar(4, 4, "done", width=8).startswith("[########] 4/4 done")
    assert progress_bar(3, 23, "m", width=23).startswith("[###--------------------]  3/23 m")
    assert len(progress_bar(1, 2, "a very long message " * 10)) == 100  # never wraps the line


def test_plain_output_has_one_line_per_operation(lago, capsys):
    lago.desired = catalog(1)
    result = lago.apply()
    lines = [line for line in lago.out if line.startswith("[")]
    assert len(lines) == len(result.outcomes) == 15
    assert [line.split("]")[0] for line in lines] == [f"[{i}/15" for i in range(1, 16)]
    # independent operations run concurrently, so lines come in the order they end
    assert "created subscription 'sub_org_0'" in {line.split("] ", 1)[1] for line in lines}
    assert capsys.readouterr().out == ""  # no bar drawn when the output is not a terminal


def test_terminal_output_redraws_one_bar_and_prints_failures_in_full(lago, capsys):
    from lagosync.applier import ApplyFailed
    from lagosync.emulator import Faults

    lago.desired = catalog(1)
    faults = Faults(script=["500"] * 20, match=lambda m, p: m == "POST" and p.endswith("/coupons"))
    try:
        lago.apply(faults, tty=True)
    except ApplyFailed:
        pass
    else:
        raise AssertionError("the coupon creates must fail")
    drawn = capsys.readouterr().out
    frames = drawn.split("\r")[1:]
    assert len(frames) == 13  # 15 operations, 2 failed
    assert all(f.startswith("[") and "/15 created " in f and len(f.rstrip("\n")) == 100 for f in frames)
    assert drawn.endswith("\n") and "\n\n" not in drawn
    assert not [line for line in lago.out if line.startswith("[") and " created " in line]
    failed = [line for line in lago.out if line.startswith("[") and "failed: coupon:" in line]
    assert len(failed) == 2  # each failure is a full line of its own, not overwritten by the bar
    # the bar counts every operation once, in order, whichever finishes last (a failure or not)
    drawn_counts = [int(f.split("] ", 1)[1].split("/", 1)[0]) for f in frames]
    failed_counts = [int(line[1:].split("/", 1)[0]) for line in failed]
    assert drawn_counts == sorted(drawn_counts)
    assert sorted(drawn_counts + failed_counts) == list(range(1, 16))
    if 15 in drawn_counts:
        assert frames[-1].startswith("[" + "#" * 24 + "] 15/15 created ")
