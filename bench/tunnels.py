#!/usr/bin/env python3
"""10,000 idle WebSocket tunnels on one gateway: memory and CPU (SPEC §10).

    python3 bench/tunnels.py [N] [--bin PATH] [--idle SECONDS]

Starts redis-server (no persistence), a WebSocket upstream (this script, a
child process: it accepts every handshake and then stays silent), and the
gateway (`sessiongate run`, Redis store), all on free ports of 127.0.0.1 in
a temporary directory; logs N sessions in (one per tunnel, through a public
/login route whose upstream answers `Sessiongate-Login`, one user per
session), opens one
WebSocket per session on a protected route, waits, and reports as JSON:

- the gateway's RSS before and with the tunnels open, and per tunnel;
- the gateway's CPU time (utime + stime from /proc) over an idle window;
- Redis commands processed over that window (idle tunnels cost no store
  traffic: none are expected);
- how long closing all N sessions' tunnels took (ended through the store:
  every session is deleted from Redis and the gateways notified).

Every process it starts is ended by PID on exit. Needs redis-server and
`ulimit -n` above 2*N (the gateway holds two sockets per tunnel).
"""

import asyncio
import base64
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def note(text):
    print(f"[tunnels] {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def proc(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return rss, cpu


def redis_commands(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "stats"],
                         capture_output=True, text=True, check=True).stdout
    return int(next(l.split(":")[1] for l in out.splitlines()
                    if l.startswith("total_commands_processed:")))


# --- the upstream: accepts every WebSocket handshake, then stays silent ---

async def upstream_conn(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # a port probe
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
               for l in lines[1:] if ":" in l}
    if path.startswith("/login"):
        user = path.partition("user=")[2] or "bench"
        writer.write(f"HTTP/1.1 200 OK\r\nSessiongate-Login: user={user}\r\n"
                     "Connection: close\r\nContent-Length: 2\r\n\r\nok".encode())
        await writer.drain()
        writer.close()
        return
    elif "sec-websocket-key" in headers:
        accept = base64.b64encode(hashlib.sha1(
            headers["sec-websocket-key"].encode() + GUID).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        await writer.drain()
        while await reader.read(4096):
            pass
        writer.close()
        return
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass


def run_upstream(port):
    async def main():
        server = await asyncio.start_server(upstream_conn, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()
    asyncio.run(main())


# --- the clients ---

async def login(port, user):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /login?user={user} HTTP/1.1\r\nHost: bench\r\n"
                 "Connection: close\r\n\r\n".encode())
    head = (await reader.read()).decode("latin-1")
    writer.close()
    for line in head.split("\r\n"):
        if line.lower().startswith("set-cookie: sessiongate="):
            return line.split(":", 1)[1].strip().split(";", 1)[0]
    sys.exit(f"login failed: {head[:200]}")


async def tunnel(port, cookie, opened):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"upgrade refused: {head[:100]}")
    opened.append((reader, writer))


async def closed(conn):
    reader, _ = conn
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass


async def bench(n, gw, gw_pid, rds, idle):
    sem = asyncio.Semaphore(20)

    async def bounded(coro):
        async with sem:
            return await coro

    note(f"logging {n} sessions in")
    # One user per session: a login lists its user's sessions (SPEC §9).
    cookies = await asyncio.gather(*(bounded(login(gw, f"u{i}")) for i in range(n)))
    note(f"opening {n} tunnels")
    await asyncio.sleep(1)
    rss_before, _ = proc(gw_pid)
    opened = []
    started = time.monotonic()
    await asyncio.gather(*(bounded(tunnel(gw, c, opened)) for c in cookies))
    open_seconds = time.monotonic() - started
    await asyncio.sleep(2)
    rss_open, cpu0 = proc(gw_pid)
    note(f"{n} tunnels open; idle for {idle} s")
    cmds0 = redis_commands(rds)
    await asyncio.sleep(idle)
    rss_idle, cpu1 = proc(gw_pid)
    # Redis counts the INFO we send: subtract our own.
    store_ops = redis_commands(rds) - cmds0 - 1
    # End every session in the store at once: the gateway hears nothing (a
    # store-side delete is no logout), so this measures the deadline path
    # only when TTLs run out; instead, log every session out through the
    # gateway and time until every tunnel is closed.
    note("logging every session out")
    started = time.monotonic()
    async def logout(cookie):
        r, w = await asyncio.open_connection("127.0.0.1", gw)
        w.write((f"GET /.sessiongate/logout HTTP/1.1\r\nHost: bench\r\n"
                 f"Cookie: {cookie}\r\nConnection: close\r\n\r\n").encode())
        await r.read()
        w.close()
    await asyncio.gather(*(bounded(logout(c)) for c in cookies))
    logged_out = time.monotonic() - started
    await asyncio.wait_for(asyncio.gather(*(closed(c) for c in opened)), 30)
    all_closed = time.monotonic() - started
    return {
        "tunnels": n,
        "open_seconds": round(open_seconds, 2),
        "rss_before_kb": rss_before,
        "rss_open_kb": rss_open,
        "rss_after_idle_kb": rss_idle,
        "per_tunnel_bytes": round((rss_open - rss_before) * 1024 / n),
        "idle_seconds": idle,
        "idle_cpu_seconds": round(cpu1 - cpu0, 3),
        "idle_store_commands": store_ops,
        "logout_all_seconds": round(logged_out, 2),
        "all_closed_seconds": round(all_closed, 2),
    }


def main():
    args = sys.argv[1:]
    n, binary, idle = 10000, None, 10
    while args:
        a = args.pop(0)
        if a == "--bin":
            binary = args.pop(0)
        elif a == "--idle":
            idle = int(args.pop(0))
        else:
            n = int(a)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = binary or os.path.join(root, "target/release/sessiongate")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * n + 64:
        sys.exit(f"ulimit -n is {soft}: the gateway needs {2 * n + 64} for {n} tunnels")
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed (apt-get install -y redis-server redis-tools)")
    tmp = tempfile.mkdtemp(prefix="sg-tunnels-")
    children = []
    try:
        rds, up, gw, adm = free_port(), free_port(), free_port(), free_port()
        children.append(subprocess.Popen(
            ["redis-server", "--port", str(rds), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL))
        wait_port(rds)
        children.append(subprocess.Popen([sys.executable, __file__, "--upstream", str(up)]))
        wait_port(up)
        config = os.path.join(tmp, "sessiongate.toml")
        with open(config, "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1:{gw}"
[admin]
listen = "127.0.0.1:{adm}"
[log]
access_log = false
[store]
url = "redis://127.0.0.1:{rds}"
op_timeout = "2s"
[session]
idle_timeout = "1h"
[upstream]
url = "http://127.0.0.1:{up}"
[[route]]
name = "login"
path = "/login"
public = true
""")
        env = dict(os.environ, SESSIONGATE_LOG="error")
        gateway = subprocess.Popen([binary, "run", "--config", config], env=env)
        children.append(gateway)
        wait_port(gw)
        result = asyncio.run(bench(n, gw, gateway.pid, rds, idle))
        result["binary"] = os.path.relpath(binary, root)
        print(json.dumps(result, indent=2))
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--upstream":
        run_upstream(int(sys.argv[2]))
    else:
        main()
