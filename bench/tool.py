#!/usr/bin/env python3
"""bench/run's helpers, standard library only.

  tool.py port                          a free TCP port on 127.0.0.1
  tool.py wait PORT [SECONDS]           wait until PORT accepts connections
  tool.py probe PORT PATH STATUS [COOKIE] [NAME:VALUE]   one GET; exit 1 unless STATUS
  tool.py logins PORT N OUT             N logins via GET /login; session ids to OUT
  tool.py rss PID                       VmRSS and VmHWM of PID, kB, as JSON
  tool.py idle PORT PID N PATH          RSS with N idle keep-alive connections
  tool.py upload PORT PID MB PATH COOKIE   stream MB through the gateway; RSS growth
  tool.py report RUNS.jsonl OUT.json META.json   the table, printed and written
  tool.py markdown RESULTS.json         the results as Markdown (bench/README.md)
"""

import http.client
import json
import socket
import statistics
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(port, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def probe(port, path, status, cookie=None, header=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Cookie": f"sessiongate={cookie}"} if cookie else {}
    if header:
        name, _, value = header.partition(":")
        headers[name] = value
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status != status:
        sys.exit(f"probe 127.0.0.1:{port}{path}: got {resp.status}, expected {status}")


def logins(port, n, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ids = []
    for _ in range(n):
        conn.request("GET", "/login")
        resp = conn.getresponse()
        resp.read()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie" and value.startswith("sessiongate="):
                ids.append(value.split(";", 1)[0].split("=", 1)[1])
    if len(ids) != n:
        sys.exit(f"logins: {len(ids)} sessions created out of {n}")
    with open(out, "w") as f:
        f.write("\n".join(ids) + "\n")


def rss(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def idle(port, pid, n, path):
    """Opens N connections, sends one keep-alive request on each, reads the
    answer, and leaves them open: the gateway now holds N idle connections."""
    before = rss(pid)
    socks = []
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("idle: connection closed before an answer")
            data += chunk
    time.sleep(0.5)
    during = rss(pid)
    for s in socks:
        s.close()
    print(json.dumps({
        "connections": n,
        "rss_before_kb": before["VmRSS"],
        "rss_with_idle_kb": during["VmRSS"],
        "per_connection_bytes": round((during["VmRSS"] - before["VmRSS"]) * 1024 / n),
    }))


def upload(port, pid, mb, path, cookie):
    """POSTs MB megabytes with a Content-Length, 64 KiB at a time, and
    reports the peak-RSS (VmHWM) growth of the gateway across the upload."""
    before = rss(pid)
    total = mb * 1024 * 1024
    chunk = b"\0" * 65536
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("POST", path)
    conn.putheader("Content-Length", str(total))
    conn.putheader("Content-Type", "application/octet-stream")
    if cookie:
        conn.putheader("Cookie", f"sessiongate={cookie}")
    conn.endheaders()
    started = time.monotonic()
    sent = 0
    while sent < total:
        conn.send(chunk)
        sent += len(chunk)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.monotonic() - started
    after = rss(pid)
    print(json.dumps({
        "megabytes": mb,
        "status": resp.status,
        "seconds": round(elapsed, 2),
        "hwm_before_kb": before["VmHWM"],
        "hwm_after_kb": after["VmHWM"],
        "hwm_growth_kb": after["VmHWM"] - before["VmHWM"],
        "rss_after_kb": after["VmRSS"],
    }))


def med(values):
    return statistics.median(values) if values else None


def cpu_per_request(runs):
    """Median over rounds of the proxy's CPU microseconds per request."""
    per = [r["cpu_ticks"] / r["hz"] * 1e6 / r["wrk"]["requests"]
           for r in runs if r.get("hz") and r["wrk"]["requests"]]
    return round(med(per), 2) if per else None


def fmt_v(v):
    return "-" if v is None else format(v, ".3f") if isinstance(v, float) else str(v)


def issue_targets(table, mem):
    """Each row of issue 18's target table, from one run."""
    out = []
    valid, public = table.get("valid", {}), table.get("public", {})

    def get(scen, target, key):
        return (scen.get(target) or {}).get(key)

    def row(name, value, target, met, nginx=None, haproxy=None):
        out.append({"row": name, "value": value, "nginx": nginx, "haproxy": haproxy,
                    "target": target, "met": None if value is None else met})

    for name, t, bar in (("valid, Redis, touch 60s, log on: x nginx", "sg-redis-touch", 1.0),
                         ("valid, Redis, touch 60s, log on, client_cache: x nginx", "sg-redis-cache", 1.0),
                         ("valid, Redis, touch 0s: x nginx", "sg-redis", 0.7),
                         ("public route (sg-redis): x nginx", None, 1.0)):
        scen = public if t is None else valid
        t = t or "sg-redis"
        v = get(scen, t, "ratio_to_nginx")
        row(name, v, f">= {bar}", v is not None and v >= bar,
            1.0 if "nginx" in scen else None, get(scen, "haproxy", "ratio_to_nginx"))
    ng = get(valid, "nginx", "cpu_us_per_request")
    for t in ("sg-redis", "sg-redis-touch", "sg-redis-cache"):
        v = get(valid, t, "cpu_us_per_request")
        ratio = round(v / ng, 3) if v and ng else None
        row(f"CPU per valid request ({t}): x nginx", ratio, "<= 1.25",
            ratio is not None and ratio <= 1.25, 1.0 if ng else None,
            round(get(valid, "haproxy", "cpu_us_per_request") / ng, 3)
            if ng and get(valid, "haproxy", "cpu_us_per_request") else None)
    for t in ("sg-redis", "sg-redis-touch", "sg-redis-cache"):
        v = get(valid, t, "p999_ms")
        n = get(valid, "nginx", "p999_ms")
        row(f"p99.9 ms, valid ({t})", v, "<= nginx's",
            v is not None and n is not None and v <= n, n, get(valid, "haproxy", "p999_ms"))
    idle = mem.get("idle")
    v = idle["per_connection_bytes"] if idle else None
    row("memory per idle keep-alive connection, bytes", v, "<= 12288", v is not None and v <= 12288,
        (mem.get("idle_nginx") or {}).get("per_connection_bytes"),
        (mem.get("idle_haproxy") or {}).get("per_connection_bytes"))
    on, off = get(valid, "sg-redis-log", "cpu_us_per_request"), get(valid, "sg-redis", "cpu_us_per_request")
    v = round(on / off - 1, 3) if on and off else None
    row("access log on vs off: CPU/request (+fraction)", v, "<= 0.05", v is not None and v <= 0.05)
    return out


def report(runs_path, out_path, meta_path):
    runs = [json.loads(line) for line in open(runs_path) if line.strip()]
    meta = json.load(open(meta_path))
    scenarios = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    table = {}
    lines = []
    for scenario in scenarios:
        rows = [r for r in runs if r["scenario"] == scenario]
        targets = []
        for r in rows:
            if r["target"] not in targets:
                targets.append(r["target"])
        by_round = {}
        for r in rows:
            r["rps"] = r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6)
            by_round.setdefault(r["round"], {})[r["target"]] = r
        lines.append(f"\n== {scenario} ==")
        lines.append(f"{'target':<14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
                     f"{'errors':>8}{'redis/req':>10}{'evalsha/req':>12}{'x direct':>10}{'x nginx':>9}"
                     f"{'x haproxy':>10}{'cpu us/req':>11}{'p99-direct':>11}")
        table[scenario] = {}
        for t in targets:
            mine = [r for r in rows if r["target"] == t]
            rps = [r["rps"] for r in mine]
            vs_direct, vs_nginx, vs_haproxy, p99_added = [], [], [], []
            for r in mine:
                rnd = by_round[r["round"]]
                if "direct" in rnd:
                    vs_direct.append(r["rps"] / rnd["direct"]["rps"])
                    p99_added.append((r["wrk"]["p99_us"] - rnd["direct"]["wrk"]["p99_us"]) / 1000)
                if "nginx" in rnd:
                    vs_nginx.append(r["rps"] / rnd["nginx"]["rps"])
                if "haproxy" in rnd:
                    vs_haproxy.append(r["rps"] / rnd["haproxy"]["rps"])
            reqs = sum(r["wrk"]["requests"] for r in mine)
            errors = sum(r["wrk"][k] for r in mine for k in
                         ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
            cmds = sum(r.get("redis_commands", 0) for r in mine)
            evals = sum(r.get("redis_evalsha", 0) for r in mine)
            row = {
                "rounds": len(mine),
                "rps_median": round(med(rps)),
                "rps_all": [round(x) for x in rps],
                "p50_ms": med([r["wrk"]["p50_us"] for r in mine]) / 1000,
                "p99_ms": med([r["wrk"]["p99_us"] for r in mine]) / 1000,
                "p999_ms": med([r["wrk"]["p999_us"] for r in mine]) / 1000,
                "errors": errors,
                "requests": reqs,
                "redis_commands_per_request": round(cmds / reqs, 3) if reqs else None,
                "redis_evalsha_per_request": round(evals / reqs, 3) if reqs else None,
                "ratio_to_direct": round(med(vs_direct), 3) if vs_direct else None,
                "ratio_to_nginx": round(med(vs_nginx), 3) if vs_nginx else None,
                "ratio_to_haproxy": round(med(vs_haproxy), 3) if vs_haproxy else None,
                # The proxy process's CPU time (user + system, every thread)
                # per completed request; for direct, the upstream's.
                "cpu_us_per_request": cpu_per_request(mine),
                "p99_added_over_direct_ms": round(med(p99_added), 3) if p99_added else None,
            }
            table[scenario][t] = row

            def fmt(v, spec):
                return format(v, spec) if v is not None else format("-", spec.split(".")[0])
            lines.append(
                f"{t:<14}{row['rps_median']:>10}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}"
                f"{row['p999_ms']:>10.3f}{errors:>8}{fmt(row['redis_commands_per_request'], '>10.2f')}"
                f"{fmt(row['redis_evalsha_per_request'], '>12.2f')}"
                f"{fmt(row['ratio_to_direct'], '>10.3f')}{fmt(row['ratio_to_nginx'], '>9.3f')}"
                f"{fmt(row['ratio_to_haproxy'], '>10.3f')}{fmt(row['cpu_us_per_request'], '>11.2f')}"
                f"{fmt(row['p99_added_over_direct_ms'], '>11.3f')}")
    mem = {k: v for k, v in (meta.get("memory") or {}).items() if v}
    bars = {}
    valid = table.get("valid", {})
    if "sg-redis" in valid:
        bars["sg_redis_rps_ge_nginx"] = (valid["sg-redis"]["ratio_to_nginx"] or 0) >= 1.0
    check = table.get("check", {})
    for t in ("sg-memory-check", "sg-redis-check", "sg-redis-cache-check"):
        if t in check:
            bars[f"{t}_rps_ge_1_5x_nginx"] = (check[t]["ratio_to_nginx"] or 0) >= 1.5
    lat = table.get("latency", {})
    if "sg-redis" in lat:
        added = lat["sg-redis"]["p99_added_over_direct_ms"]
        # Below zero, direct's own tail (its load core) dominates: no verdict.
        bars["p99_added_le_0_3ms (1 conn)"] = None if added is None or added < 0 else added <= 0.3
    if "idle" in mem:
        bars["rss_1000_idle_le_32mb"] = mem["idle"]["rss_with_idle_kb"] <= 32 * 1024
        lines.append(f"\n== memory ==\nRSS with {mem['idle']['connections']} idle keep-alive connections: "
                     f"{mem['idle']['rss_with_idle_kb'] / 1024:.1f} MB "
                     f"(before: {mem['idle']['rss_before_kb'] / 1024:.1f} MB, "
                     f"{mem['idle']['per_connection_bytes']} bytes/connection)")
    if "idle_nginx" in mem:
        lines.append(f"nginx (reference), same test: {mem['idle_nginx']['rss_with_idle_kb'] / 1024:.1f} MB "
                     f"({mem['idle_nginx']['per_connection_bytes']} bytes/connection)")
    if "upload" in mem:
        bars["upload_500mb_growth_lt_8mb"] = mem["upload"]["hwm_growth_kb"] < 8 * 1024
        lines.append(f"500 MB upload: status {mem['upload']['status']} in {mem['upload']['seconds']} s, "
                     f"peak RSS growth {mem['upload']['hwm_growth_kb'] / 1024:.1f} MB")
    if "idle_haproxy" in mem:
        lines.append(f"haproxy (reference), same test: {mem['idle_haproxy']['rss_with_idle_kb'] / 1024:.1f} MB "
                     f"({mem['idle_haproxy']['per_connection_bytes']} bytes/connection)")
    targets = issue_targets(table, mem)
    lines.append("\n== issue 18 targets ==")
    lines.append(f"{'row':<46}{'sessiongate':>14}{'nginx':>10}{'haproxy':>10}{'target':>14}  verdict")
    for t in targets:
        lines.append(f"{t['row']:<46}{fmt_v(t['value']):>14}{fmt_v(t.get('nginx')):>10}"
                     f"{fmt_v(t.get('haproxy')):>10}{t['target']:>14}  "
                     f"{'-' if t['met'] is None else 'met' if t['met'] else 'NOT met'}")
    meta["targets"] = targets
    lines.append("\n== bars ==")
    for k, v in bars.items():
        lines.append(f"{k:<32}{'inconclusive' if v is None else 'met' if v else 'NOT met'}")
    text = "\n".join(lines)
    print(text)
    meta["bars"] = bars
    meta["results"] = table
    meta["runs"] = runs
    with open(out_path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def markdown(results_path):
    """The results of a latest.json as Markdown tables, for bench/README.md."""
    d = json.load(open(results_path))
    out = []
    m = d["method"]
    out.append(f"Run {d['date']} at {d['git']}: {m['rounds']} rounds x {m['duration_s']} s, "
               f"wrk {m['threads']} threads x {m['connections']} connections "
               f"(latency: 1 x 1), {m['sessions']} sessions.")
    for scenario, rows in d["results"].items():
        out.append(f"\n**{scenario}**\n")
        out.append("| target | req/s | p50 ms | p99 ms | p99.9 ms | errors | Redis cmds/req "
                   "| × direct | × nginx | × haproxy | CPU µs/req | p99 − direct ms |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t, r in rows.items():
            def f(v, spec=".3f"):
                return "–" if v is None else format(v, spec)
            out.append(f"| {t} | {r['rps_median']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                       f"{r['p999_ms']:.3f} | {r['errors']} | {f(r['redis_commands_per_request'], '.2f')} | "
                       f"{f(r['ratio_to_direct'])} | {f(r['ratio_to_nginx'])} | "
                       f"{f(r.get('ratio_to_haproxy'))} | {f(r.get('cpu_us_per_request'), '.2f')} | "
                       f"{f(r['p99_added_over_direct_ms'])} |")
    mem = d.get("memory") or {}
    if mem.get("idle"):
        i = mem["idle"]
        out.append(f"\nRSS with {i['connections']} idle keep-alive connections: "
                   f"{i['rss_with_idle_kb'] / 1024:.1f} MB (from {i['rss_before_kb'] / 1024:.1f} MB; "
                   f"{i['per_connection_bytes']} bytes/connection).")
    if mem.get("idle_nginx"):
        i = mem["idle_nginx"]
        out.append(f"nginx, same test: {i['rss_with_idle_kb'] / 1024:.1f} MB "
                   f"({i['per_connection_bytes']} bytes/connection).")
    if mem.get("upload"):
        u = mem["upload"]
        out.append(f"500 MB upload through the gateway: {u['status']} in {u['seconds']} s, "
                   f"peak RSS (VmHWM) growth {u['hwm_growth_kb'] / 1024:.1f} MB.")
    if mem.get("idle_haproxy"):
        i = mem["idle_haproxy"]
        out.append(f"haproxy, same test: {i['rss_with_idle_kb'] / 1024:.1f} MB "
                   f"({i['per_connection_bytes']} bytes/connection).")
    if d.get("targets"):
        out.append("\n| issue 18 target | sessiongate | nginx | haproxy | target | |\n|---|---:|---:|---:|---:|---|")
        for t in d["targets"]:
            verdict = "–" if t["met"] is None else "met" if t["met"] else "**not met**"
            out.append(f"| {t['row']} | {fmt_v(t['value'])} | {fmt_v(t.get('nginx'))} | "
                       f"{fmt_v(t.get('haproxy'))} | {t['target']} | {verdict} |")
    if d.get("bars"):
        out.append("\n| bar | |\n|---|---|")
        for k, v in d["bars"].items():
            out.append(f"| {k} | {'inconclusive' if v is None else 'met' if v else '**not met**'} |")
    print("\n".join(out))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "port":
        print(free_port())
    elif cmd == "wait":
        wait(int(args[0]), float(args[1]) if len(args) > 1 else 15.0)
    elif cmd == "probe":
        probe(int(args[0]), args[1], int(args[2]), args[3] if len(args) > 3 and args[3] else None,
              args[4] if len(args) > 4 else None)
    elif cmd == "logins":
        logins(int(args[0]), int(args[1]), args[2])
    elif cmd == "rss":
        print(json.dumps(rss(int(args[0]))))
    elif cmd == "idle":
        idle(int(args[0]), int(args[1]), int(args[2]), args[3])
    elif cmd == "upload":
        upload(int(args[0]), int(args[1]), int(args[2]), args[3], args[4] if len(args) > 4 else None)
    elif cmd == "markdown":
        markdown(args[0])
    elif cmd == "report":
        report(args[0], args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
