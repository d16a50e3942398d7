#!/usr/bin/env python3
"""Parsing and the summary for benches/suite.sh (Python 3, standard library only).

Every subcommand reads one raw output of a suite step, checks its shape and
prints the figure the script needs on stdout; on a malformed input it prints
why on stderr and exits 1, so the script can name the step that failed.

    suite.py exe NAME < cargo-messages.json   path of the executable target NAME
    suite.py signbench FILE                   sign/s of `loadgen sign-bench --json`
    suite.py openssl FILE                     sign/s of `openssl speed rsa2048`
    suite.py paycpu FILE                      P2 from the pay_cpu bench's output
    suite.py stair REPORT.json                highest passing rate of a staircase
    suite.py p99 REPORT.json                  total.latency_us.p99 (microseconds)
    suite.py echo FILE                        address from `LISTENING addr`
    suite.py wrk FILE                         Requests/sec of wrk
    suite.py tps REPORT.json                  total.tps of a loadgen report
    suite.py summary OUT_DIR                  suite.json and the printed lines
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

GOALS = {
    "P2": ("<=", 1.25, ""),
    "P3": (">=", 0.65, ""),
    "P4": ("<=", 2.0, " ms"),
    "P7": (">=", 0.85, ""),
}


class Bad(Exception):
    """A raw output that does not have the expected shape."""


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise Bad(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise Bad(f"{path}: not JSON ({e})") from None


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        raise Bad(f"{path}: missing") from None


def num(obj, *keys, where=""):
    """obj[k1][k2]... as a float; Bad when missing or not a number."""
    cur = obj
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            raise Bad(f"{where}: no {'.'.join(keys)}")
        cur = cur[k]
    if isinstance(cur, bool) or not isinstance(cur, (int, float)):
        raise Bad(f"{where}: {'.'.join(keys)} is not a number ({cur!r})")
    return float(cur)


# --- one figure per raw output -------------------------------------------

def exe(name, stream):
    """The last executable cargo reported for a target called `name`."""
    found = None
    for line in stream:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") != "compiler-artifact" or not m.get("executable"):
            continue
        if m.get("target", {}).get("name") == name:
            found = m["executable"]
    if not found:
        raise Bad(f"cargo reported no executable named {name}")
    return found


def signbench(path):
    j = load_json(path)
    s = num(j, "sign_per_sec", where=path)
    v = num(j, "verify_per_sec", where=path)
    if j.get("threads") != 1 or s <= 0 or v <= 0:
        raise Bad(f"{path}: expected threads 1 and positive rates: {j}")
    return {"sign_per_sec": s, "verify_per_sec": v, "backend": j.get("backend"),
            "seconds": j.get("seconds")}


def openssl(path):
    """`openssl speed rsa2048`: the sign/s column of the `rsa 2048 bits` row.

    OpenSSL 1.1 and 3.0 print `sign verify sign/s verify/s`; 3.2 and later
    add encrypt and decrypt columns. The header names the column."""
    text = read_text(path)
    header = None
    for line in text.splitlines():
        if "sign/s" in line and "verify/s" in line:
            header = line.split()
            continue
        m = re.match(r"\s*rsa\s+2048\s+bits?\s+(.*)$", line)
        if m and header:
            vals = m.group(1).split()
            # the header's words and the row's values line up from the right
            col = len(vals) - len(header) + header.index("sign/s")
            if col < 0:
                break
            try:
                return float(vals[col])
            except (IndexError, ValueError):
                break
    raise Bad(f"{path}: no `rsa 2048 bits` row with a sign/s column")


PAYCPU_SIGN = re.compile(
    r"sign \(RSA2-2048, ([^,]+), thread CPU time\): ([\d.]+) us; verify: ([\d.]+) us; "
    r"sign\+verify: ([\d.]+) us")
PAYCPU_RATIO = re.compile(r"ratio CPU per pay / \(sign \+ verify\): ([\d.]+)")
PAYCPU_PER_PAY = re.compile(r"switch CPU per successful pay: ([\d.]+) us")
PAYCPU_SWITCH = re.compile(r"switch: (\d+) successful pays in ([\d.]+) s \((\d+)/s\)")


def paycpu(path):
    text = read_text(path)
    r = PAYCPU_RATIO.search(text)
    if not r:
        raise Bad(f"{path}: no `ratio CPU per pay / (sign + verify): N` line")
    out = {"ratio": float(r.group(1))}
    m = PAYCPU_SIGN.search(text)
    if m:
        out.update(backend=m.group(1), sign_us=float(m.group(2)),
                   verify_us=float(m.group(3)), sign_verify_us=float(m.group(4)))
    m = PAYCPU_PER_PAY.search(text)
    if m:
        out["cpu_per_pay_us"] = float(m.group(1))
    m = PAYCPU_SWITCH.search(text)
    if m:
        out.update(pays=int(m.group(1)), seconds=float(m.group(2)),
                   pays_per_sec=int(m.group(3)))
    return out


def stair(path):
    """The staircase of a report: the highest passing step, the first failing
    one, whether the last step was the configured maximum (then the rate is
    a lower bound)."""
    j = load_json(path)
    steps = j.get("staircase")
    if not isinstance(steps, list) or not steps:
        raise Bad(f"{path}: no staircase steps")
    for s in steps:
        for k in ("rate", "achieved_tps", "requests", "error_pct", "p99_us"):
            num(s, k, where=path)
        if not isinstance(s.get("passed"), bool):
            raise Bad(f"{path}: a step without `passed`")
    passing = [s for s in steps if s["passed"]]
    failing = [s for s in steps if not s["passed"]]
    best = passing[-1] if passing else None
    return {
        "steps": steps,
        "best_rate": best["rate"] if best else 0.0,
        "best": best,
        "broke": failing[0] if failing else None,
        "verdict": j.get("verdict"),
        "audit": audit_brief(j.get("audit")),
        "processes": j.get("processes"),
        "target": (j.get("target") or {}).get("kind"),
    }


def audit_brief(a):
    if not isinstance(a, dict):
        return None
    return {k: a.get(k) for k in ("checked", "matched", "missing", "duplicate",
                                  "conflicting", "pending", "passed", "seconds")}


def run_report(path):
    """A fixed-rate loadgen report: what the suite quotes of it."""
    j = load_json(path)
    tot = j.get("total")
    lat = num(j, "total", "latency_us", "p99", where=path)
    gen = j.get("generator") or {}
    lag = gen.get("send_lag_us") or {}
    return {
        "requests": num(j, "total", "requests", where=path),
        "errors": num(j, "total", "errors", where=path),
        "error_pct": num(j, "total", "error_pct", where=path),
        "tps": num(j, "total", "tps", where=path),
        "p50_us": (tot.get("latency_us") or {}).get("p50"),
        "p99_us": lat,
        "send_lag_p99_us": lag.get("p99"),
        "send_lag_max_us": lag.get("max"),
        "behind": gen.get("behind"),
        "verdict": j.get("verdict"),
        "audit": audit_brief(j.get("audit")),
        "duration_secs": j.get("duration_secs"),
        # the first second's slowest request: a start-up stall shows here
        "first_second_max_us": ((j.get("series") or [{}])[0] or {}).get("max_us"),
        "target": (j.get("target") or {}).get("kind"),
        "processes": j.get("processes"),
    }


def echo(path):
    m = re.search(r"LISTENING\s+(\S+)", read_text(path))
    if not m:
        raise Bad(f"{path}: no `LISTENING addr` line")
    return m.group(1)


def wrk(path):
    text = read_text(path)
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if not m:
        raise Bad(f"{path}: no `Requests/sec:` line")
    out = {"req_per_sec": float(m.group(1))}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        out["requests"] = int(m.group(1))
    e = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(e.group(1)) if e else 0
    e = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = e.group(1).strip() if e else None
    return out


# --- the summary ---------------------------------------------------------

def read_params(path):
    p = {}
    for line in read_text(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            p[k.strip()] = v.strip()
    return p


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git(root, *args):
    try:
        r = subprocess.run(["git", "-C", root, *args], capture_output=True,
                           text=True, timeout=10, check=False)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def verdict(name, value):
    op, goal, _ = GOALS[name]
    if value is None:
        return None
    return value <= goal if op == "<=" else value >= goal


def fmt_rate(x):
    return f"{x:,.0f}".replace(",", " ")


def summary(out):
    raw = os.path.join(out, "raw")
    p = read_params(os.path.join(raw, "params.txt"))
    cores = int(p["cores"])
    doc = {
        "schema": "payswitch-bench-suite/1",
        "date": p.get("started_at"),
        "finished_at": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpu_model": cpu_model(),
            "cores": cores,
            "online_cpus": os.cpu_count(),
            "kernel": platform.release(),
            "loadavg_start": p.get("loadavg_start"),
            "loadavg_end": p.get("loadavg_end"),
        },
        "git": {
            "commit": git(p["root"], "rev-parse", "HEAD"),
            "dirty": bool(git(p["root"], "status", "--porcelain", "--untracked-files=no")),
        },
        "settings": {k: p[k] for k in sorted(p) if k.startswith("cfg_")},
        "profile": p.get("profile"),
        "quick": p.get("quick") == "1",
        "build_secs": float(p.get("build_secs", "0")),
        "step_secs": {k[len("secs_"):]: float(v) for k, v in p.items() if k.startswith("secs_")},
        "wall_secs": float(p.get("wall_secs", "0")),
        "ratios": {},
        "inputs": {},
        # staircases whose first step failed and that ran a second time
        "retried": sorted(k[len("retried_"):] for k in p if k.startswith("retried_")),
    }
    inputs = doc["inputs"]
    ratios = doc["ratios"]

    sb = signbench(os.path.join(raw, "sign-bench.json"))
    inputs["sign_bench"] = sb
    sign = sb["sign_per_sec"]
    if os.path.exists(os.path.join(raw, "openssl.txt")):
        o = openssl(os.path.join(raw, "openssl.txt"))
        inputs["openssl_speed"] = {"sign_per_sec": o, "loadgen_over_openssl": sign / o}
    else:
        inputs["openssl_speed"] = None

    pc = paycpu(os.path.join(raw, "pay_cpu.txt"))
    inputs["pay_cpu"] = pc
    ratios["P2"] = pc["ratio"]

    limit = cores * sign / 2.0
    sw = stair(os.path.join(raw, "p3-switch", "report.json"))
    gw = stair(os.path.join(raw, "p3-gateway", "report.json"))
    for key, s, name in (("staircase_switch", sw, "p3-switch"),
                         ("staircase_gateway_only", gw, "p3-gateway")):
        s["ratio"] = s["best_rate"] / limit
        s["second_try"] = name in doc["retried"]
        s["max_reached"] = s["broke"] is None
        inputs[key] = s
    inputs["signing_limit_pays_per_sec"] = limit
    ratios["P3"] = sw["ratio"]
    ratios["P3_gateway_only"] = gw["ratio"]

    s4 = run_report(os.path.join(raw, "p4-switch", "report.json"))
    g4 = run_report(os.path.join(raw, "p4-gateway", "report.json"))
    inputs["p4"] = {"rate": float(p["p4_rate"]), "switch": s4, "gateway_only": g4}
    ratios["P4"] = (s4["p99_us"] - g4["p99_us"]) / 1000.0

    closed = run_report(os.path.join(raw, "p7-loadgen-closed", "report.json"))
    p7 = {"endpoint": p.get("echo_addr"), "loadgen_closed": closed, "wrk": None}
    if os.path.exists(os.path.join(raw, "wrk.txt")):
        p7["wrk"] = wrk(os.path.join(raw, "wrk.txt"))
        ratios["P7"] = closed["tps"] / p7["wrk"]["req_per_sec"]
    else:
        ratios["P7"] = None
    inputs["p7"] = p7
    lag = run_report(os.path.join(raw, "lag-open", "report.json"))
    lag["rate"] = float(p["lag_rate"])
    inputs["open_model_send_lag"] = lag

    doc["goals"] = {}
    for name in ("P2", "P3", "P4", "P7"):
        op, goal, unit = GOALS[name]
        doc["goals"][name] = {"op": op, "goal": goal, "unit": unit.strip() or None,
                              "ok": verdict(name, ratios[name])}

    with open(os.path.join(out, "suite.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    # --- the printed lines ---
    lines = []

    def ratio_line(name, value, text):
        op, goal, unit = GOALS[name]
        ok = "ok" if verdict(name, value) else "MISS"
        goal_text = f"goal {op} {goal:g}{unit}"
        lines.append(f"{name} {text:<11} {goal_text:<15} {ok}")

    ratio_line("P2", ratios["P2"], f"{ratios['P2']:.2f}")
    mark = " (max reached)" if sw["max_reached"] else ""
    ratio_line("P3", ratios["P3"], f"{ratios['P3']:.2f}" + mark)
    ratio_line("P4", ratios["P4"], f"{ratios['P4']:.1f} ms")
    if ratios["P7"] is None:
        lines.append("P7 skipped (wrk not installed)")
    else:
        ratio_line("P7", ratios["P7"], f"{ratios['P7']:.2f}")

    lines.append("inputs:")
    o = inputs["openssl_speed"]
    lines.append(
        f"  sign-bench, 1 thread, {sb['backend']}: {fmt_rate(sign)} sign/s, "
        f"{fmt_rate(sb['verify_per_sec'])} verify/s"
        + (f"; openssl speed rsa2048: {fmt_rate(o['sign_per_sec'])} sign/s "
           f"(loadgen / openssl {o['loadgen_over_openssl']:.2f})" if o else
           "; openssl not installed"))
    if "sign_verify_us" in pc:
        lines.append(
            f"  P2 pay_cpu: switch CPU per pay {pc.get('cpu_per_pay_us', 0):.1f} us / "
            f"sign+verify {pc['sign_verify_us']:.1f} us (sign {pc['sign_us']:.1f}, verify "
            f"{pc['verify_us']:.1f}); {pc.get('pays_per_sec', 0)} pays/s")
    lines.append(
        f"  P3 signing limit: {cores} cores x {fmt_rate(sign)} sign/s / 2 = "
        f"{fmt_rate(limit)} pays/s")
    for label, s in (("P3 switch", sw), ("   gateway-only", gw)):
        b, k = s["best"], s["broke"]
        if b:
            txt = f"  {label}: highest passing {fmt_rate(s['best_rate'])}/s = {s['ratio']:.2f}"
        else:
            txt = f"  {label}: NO step passed"
        if b:
            txt += f" (p99 {b['p99_us'] / 1000:.1f} ms)"
        if k:
            txt += (f"; {fmt_rate(k['rate'])}/s broke (p99 {k['p99_us'] / 1000:.1f} ms, "
                    f"errors {k['error_pct']:g}%)")
        else:
            txt += "; every step passed, the configured max was reached (a lower bound)"
        if s["second_try"]:
            txt += " (second try: the first try's warm-up step failed)"
        a = s["audit"]
        if a:
            txt += f"; audit {a.get('matched')}/{a.get('checked')}"
        lines.append(txt)
    lines.append(
        f"  P4 at {fmt_rate(float(p['p4_rate']))} pays/s: p99 switch {s4['p99_us'] / 1000:.2f} ms "
        f"(errors {s4['error_pct']:g}%), gateway-only {g4['p99_us'] / 1000:.2f} ms "
        f"(errors {g4['error_pct']:g}%); slowest in the first second: "
        f"{(s4['first_second_max_us'] or 0) / 1000:.1f} ms and "
        f"{(g4['first_second_max_us'] or 0) / 1000:.1f} ms")
    if ratios["P4"] < 0:
        lines.append("  P4 is negative: the gateway-only run had the higher p99, i.e. noise "
                     "(another load on the machine, the gateway-only start-up stall): run again")
    txt = f"  P7 trivial endpoint {p.get('echo_addr')}: loadgen closed model, " \
          f"{p.get('cfg_p7_connections')} terminals: {fmt_rate(closed['tps'])} req/s"
    if p7["wrk"]:
        txt += (f"; wrk -t1 -c{p.get('cfg_p7_connections')}: "
                f"{fmt_rate(p7['wrk']['req_per_sec'])} req/s")
    lines.append(txt)
    lag_p99 = lag["send_lag_p99_us"]
    lines.append(
        f"  open-model send lag at {fmt_rate(lag['rate'])}/s: p99 "
        + (f"{lag_p99 / 1000:.2f} ms" if lag_p99 is not None else "not reported")
        + f" (goal <= 1 ms: {'ok' if lag_p99 is not None and lag_p99 <= 1000 else 'MISS'}); "
        f"achieved {fmt_rate(lag['tps'])}/s"
        + ("; the generator fell behind" if lag["behind"] else ""))
    m = doc["machine"]
    commit = doc["git"]["commit"] or "unknown"
    lines.append(
        f"  machine: {m['cpu_model']}, {cores} cores, load average {m['loadavg_start']} "
        f"at the start, {m['loadavg_end']} at the end; commit {commit[:12]}"
        + (" (tree modified)" if doc["git"]["dirty"] else ""))
    lines.append(
        f"  {doc['date']}, wall {doc['wall_secs']:.0f} s (build {doc['build_secs']:.0f} s); "
        f"{os.path.join(out, 'suite.json')}")
    print("\n".join(lines))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "exe":
            print(exe(args[0], sys.stdin))
        elif cmd == "signbench":
            print(f"{signbench(args[0])['sign_per_sec']:.1f}")
        elif cmd == "openssl":
            print(f"{openssl(args[0]):.1f}")
        elif cmd == "paycpu":
            print(f"{paycpu(args[0])['ratio']:.2f}")
        elif cmd == "stair":
            print(f"{stair(args[0])['best_rate']:.0f}")
        elif cmd == "p99":
            print(f"{run_report(args[0])['p99_us']:.0f}")
        elif cmd == "tps":
            print(f"{run_report(args[0])['tps']:.1f}")
        elif cmd == "echo":
            print(echo(args[0]))
        elif cmd == "wrk":
            print(f"{wrk(args[0])['req_per_sec']:.1f}")
        elif cmd == "summary":
            summary(args[0])
        else:
            print(f"suite.py: unknown command {cmd}", file=sys.stderr)
            return 2
    except Bad as e:
        print(f"suite.py {cmd}: {e}", file=sys.stderr)
        return 1
    except (IndexError, KeyError, ValueError) as e:
        print(f"suite.py {cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
