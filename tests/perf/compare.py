"""Figures of several runs of tests/perf/bench.py (their --json files) side by side, as the
README's Performance section shows them: each page's p95 and its multiple of the floor (with
the lowest and highest round), at each size, and how the largest size compares with the one
before it: by p95, and by the multiple of the floor (which a busier moment of a shared machine
moves less, since the floor meets it too).

    python tests/perf/compare.py bench-100k.json bench-1m.json bench-10m.json
"""

import json
import sys
from pathlib import Path


def _size(figures):
    orders = figures["machine"]["orders"]
    return f"{orders / 1_000_000:g}M" if orders >= 1_000_000 else f"{orders / 1_000:g}k"


def _cell(page):
    if page is None:
        return ""
    if page.get("x_floor") is None:
        return f"{page['p95']:.1f} ms"
    return f"{page['p95']:.1f} ms, {page['x_floor']:.1f}x ({page['x_floor_low']:.1f}–{page['x_floor_high']:.1f})"


def table(runs):
    sizes = [_size(run) for run in runs]
    names = list(dict.fromkeys(name for run in runs for name in run["pages"]))
    lines = [
        "| page | " + " | ".join(f"{size}: p95, x floor (range)" for size in sizes) + " | queries | "
        + f"p95 {sizes[-1]} / {sizes[-2]} | x floor {sizes[-1]} / {sizes[-2]} |",
        "|---|" + "---:|" * (len(runs) + 3),
    ]
    for name in names:
        pages = [run["pages"].get(name) for run in runs]
        last, before = pages[-1], pages[-2]
        growth = f"{last['p95'] / before['p95']:.2f}" if last and before else ""
        floor_growth = (
            f"{last['x_floor'] / before['x_floor']:.2f}" if last and before and last.get("x_floor") and before.get("x_floor")
            else ""
        )
        queries = last["queries"] if last and last["queries"] is not None else ""
        lines.append(
            f"| {name} | " + " | ".join(_cell(page) for page in pages) + f" | {queries} | {growth} | {floor_growth} |"
        )
    floors = [
        sorted(page["floor_p95"] for page in run["pages"].values() if page.get("floor_p95"))
        for run in runs
    ]
    lines.append(
        "| *the floor's p95 (lowest–highest page)* | "
        + " | ".join(f"{values[0]:.1f}–{values[-1]:.1f} ms" for values in floors)
        + " | | | |"
    )
    return "\n".join(lines)


def main():
    runs = [json.loads(Path(name).read_text()) for name in sys.argv[1:]]
    if len(runs) < 2:
        sys.exit("Give two runs or more, smallest first.")
    print(table(runs))
    for run in runs:
        data, export = run["machine"], run.get("export")
        line = (f"\n{_size(run)} ({run['when']}, load average {data['load'][0]:.1f}): {data['orders']:,} orders, "
                f"{data['payments']:,} payments, {data['operations']:,} operations, {data['audit_events']:,} "
                f"audit events, database {data['database_gib']} GiB.")
        if export:
            line += (f" Export of every payment behind gunicorn: {export['rows']:,} rows in {export['seconds']:.0f} s, "
                     f"worker peak {export['worker_peak_mb']} MB, slowest request meanwhile "
                     f"{max(export['slowest_ms'].values()):.0f} ms.")
        if run.get("load"):
            line += " Load: " + ", ".join(f"{name} {rate:.0f}/s" for name, rate in run["load"].items()) + "."
        print(line)


if __name__ == "__main__":
    main()
