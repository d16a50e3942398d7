#!/usr/bin/env python3
"""Group a callgrind profile's exclusive instruction counts by component.

Usage: benches/profile/group.py PROFILE [PAYS] [-v]
       benches/profile/group.py --perf PERF_DATA [CPU_US_PER_PAY]

PROFILE is a callgrind output file (the pay_cpu bench's FILE.1 with
PAY_BENCH_CALLGRIND=FILE); PAYS divides the counts (instructions per pay).
Reads each function's own (exclusive) count from the file and sorts it into
the first component whose pattern matches its name (`-v` after PAYS also
lists the 60 costliest functions).

With --perf, PERF_DATA is a `perf record -p <switch pid>` file: the shares of
the samples per component (the kernel is a component of its own), and, given
the switch's CPU microseconds per pay (the pay_cpu bench prints it), the
microseconds per pay of each. The patterns are in
COMPONENTS below; a function that matches none is "other".
"""
import re
import sys

COMPONENTS = [
    ("RSA sign and verify (aws-lc bignum, SHA-256 digest, blinding RNG)",
     r"aws_lc_|rsaz_|bn_|BN_|jent_|rol64|sha256_block|tree_jitter|rand_bytes"),
    ("journal: SQLite (incl. JSON index expressions) and the store",
     r"sqlite3|rusqlite|engine::store|^wal|pcache|json[A-Z]|getPage|btree|Vdbe|accessPayload|balance_|pager|fallible_streaming"),
    ("HTTP (hyper, http, httparse, h2)", r"hyper::|^http::|httparse|^h2::|hyper_util"),
    ("allocator (mimalloc)", r"^_?mi_|mimalloc"),
    ("JSON (serde_json)", r"serde_json|serde_core|serde::"),
    ("async runtime (tokio) and sync", r"tokio::|mio::|parking_lot|futex|pthread_|crossbeam|atomic_waker"),
    ("terminal HMAC, header, SHA-256 (sha2, hmac)", r"sha2::|hmac::|terminal::"),
    ("credential scrubbing of gateway answers", r"protocol::scrub"),
    ("protocol: sign strings, form encoding, response parsing", r"protocol::|form_urlencoded|percent_encoding|base64"),
    ("memcpy / memset / string search", r"mem(cpy|move|set|cmp)|str(len|chr|cmp)|StrSearcher|CharSearcher|core::str"),
    ("formatting (core::fmt, String writes)", r"core::fmt|alloc::fmt|fmt::Write|String as core"),
    ("metrics and tracing", r"engine::metrics|tracing|prometheus"),
    ("engine (flows, API, server, cache)", r"engine::"),
]


def self_costs(path):
    """Each function's own (exclusive) Ir, read from the callgrind file: a
    cost line counts for the current fn= unless it follows a calls= line
    (then it is the call's inclusive cost)."""
    names = {}
    costs = {}
    fn = None
    after_calls = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for l in f:
            if l.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", l.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    fn = names.get(m.group(1), m.group(1))
                else:
                    fn = l[3:].rstrip("\n")
                after_calls = False
            elif l.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?", l.rstrip("\n"))
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
            elif l.startswith("calls="):
                after_calls = True
            elif l[:1].isdigit() or l[:1] in "+-*":
                if after_calls:
                    after_calls = False
                    continue
                parts = l.split()
                if len(parts) >= 2 and fn is not None:
                    costs[fn] = costs.get(fn, 0) + int(parts[1])
    return costs


def component(fn):
    for label, pat in COMPONENTS:
        if re.search(pat, fn):
            return label
    return "other"


def perf_main(path, us_per_pay):
    import subprocess
    out = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", "dso,symbol",
         "--stdio", "-g", "none"],
        check=True, capture_output=True, text=True).stdout
    line = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*?)\s*$")
    totals = {}
    for l in out.splitlines():
        m = line.match(l)
        if not m:
            continue
        pct, kind, fn = float(m.group(1)), m.group(3), m.group(4)
        comp = "kernel (system calls, network, fsync, scheduling)" if kind == "k" else component(fn)
        totals[comp] = totals.get(comp, 0.0) + pct
    print("| component | share of the switch's CPU samples | us per pay |")
    print("| --- | ---: | ---: |")
    for comp, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        us = f"{us_per_pay * pct / 100.0:.0f}" if us_per_pay else ""
        print(f"| {comp} | {pct:.1f}% | {us} |")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--perf":
        perf_main(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None)
        return
    pays = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    totals = {}
    grand = 0
    for fn, ir in self_costs(sys.argv[1]).items():
        comp = component(fn)
        totals[comp] = totals.get(comp, 0) + ir
        grand += ir
    print("| component | instructions per pay | share |")
    print("| --- | ---: | ---: |")
    for comp, ir in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {comp} | {ir / pays:,.0f} | {100.0 * ir / grand:.1f}% |")
    print(f"| **total** | **{grand / pays:,.0f}** | 100% |")
    if "-v" in sys.argv:
        for fn, ir in sorted(self_costs(sys.argv[1]).items(), key=lambda kv: -kv[1])[:60]:
            print(f"{ir / pays:12,.0f}  {fn}")


if __name__ == "__main__":
    main()
