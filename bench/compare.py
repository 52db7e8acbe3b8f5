#!/usr/bin/env python3
"""Tandem vs redis-server 7.0.15, measured in the same run on the same machine.

Every figure is a ratio Tandem/Redis (or both absolute values where the target is absolute),
taken as the median of repeated pairs that alternate the two servers. Run from the repository
root after `cargo build --release`:

    python3 bench/compare.py [--quick] [--out bench/results.md]

Needs redis-server, redis-cli and redis-benchmark (Debian's redis-server and redis-tools).
Everything runs on 127.0.0.1, on free ports, in temporary directories; every process started is
stopped by PID.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.environ.get("TANDEM_BIN") or os.path.join(ROOT, "target", "release", "tandem-server")
REDIS = shutil.which("redis-server")
BENCH = shutil.which("redis-benchmark")
CLI = shutil.which("redis-cli")
TESTS = "set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100,mset"


PORTS = None  # (lo, hi) from --ports: every server started listens inside this window


def free_port():
    """A free port: any, or the next free one inside --ports (agents sharing a machine keep to
    their own windows)."""
    global PORTS
    if PORTS is None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p
    lo, hi, nxt = PORTS
    for i in range(hi - lo + 1):
        p = lo + (nxt - lo + i) % (hi - lo + 1)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        PORTS = (lo, hi, p + 1 if p < hi else lo)
        return p
    raise RuntimeError("no free port in the --ports window")


class Server:
    def __init__(self, kind, extra=(), cpus=None):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        self.port = free_port()
        exe = TANDEM if kind == "tandem" else REDIS
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
                "--enable-debug-command", "yes", "--appendonly", "no"] + list(extra)
        self.log = open(os.path.join(self.dir, "log"), "w")
        if cpus is not None:
            args = ["taskset", "-c", cpus] + args
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{kind} did not start")

    def cmd(self, *args):
        """One command over a kept connection (no redis-cli process per call: forking one every
        few ms would itself disturb the latencies measured)."""
        if getattr(self, "conn", None) is None:
            self.conn = Resp(self.port)
        try:
            return self.conn.call(*args)
        except OSError:
            self.conn = None
            raise

    def info(self, section):
        d = {}
        for line in self.cmd("INFO", section).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                d[k] = v
        return d

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_rps(srv, pipeline, n, tests=TESTS, extra=(), client_cpus=None):
    """redis-benchmark's requests/s per test (`-c 50`), optionally pinned to `client_cpus`."""
    cmd = [BENCH, "-p", str(srv.port), "-q", "-n", str(n), "-c", "50", "-P", str(pipeline), "-t", tests, "--csv"] + list(extra)
    if client_cpus is not None:
        cmd = ["taskset", "-c", client_cpus] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    res = {}
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] != "test":
            try:
                res[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return res


class Resp:
    """A minimal RESP client: replies come back as text (errors prefixed with "(error) ")."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""

    def call(self, *args):
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in (str(x).encode() for x in args))
        self.s.sendall(req)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+" or kind == b":":
            return rest
        if kind == b"-":
            return "(error) " + rest
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return ""
            while len(self.buf) < n + 2:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise OSError("connection closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            return "\n".join(self._reply() for _ in range(max(int(rest), 0)))
        raise OSError("bad reply " + repr(line))


PROBE = os.path.join(ROOT, "target", "release", "examples", "latency-probe")


class Probe:
    """bench/latency_probe.rs in its own process: `SET probe:<i> x` every 0.5 ms over one
    connection; `finish` returns max and p99 round trip (ms) and the count."""

    def __init__(self, port):
        self.p = subprocess.Popen([PROBE, str(port), "500"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def finish(self):
        out, _ = self.p.communicate(input="", timeout=60)
        mx, p99, n = out.split()
        return {"max": float(mx), "p99": float(p99), "n": int(n)}


def idle_probe(srv, seconds=1.0):
    """The probe's worst and p99 latency with nothing else happening on the server, polled the
    same way as during the measured phase: the floor of what this machine can show."""
    probe = Probe(srv.port)
    t0 = time.time()
    while time.time() - t0 < seconds:
        srv.info("persistence")
        time.sleep(0.01)
    return probe.finish()


def busy_probe(srv, seconds=2.0):
    """The same floor while every core runs a SCHED_IDLE busy loop (no syscalls, nothing to
    do with the server): on this VM a woken thread then still waits 1.5-4 ms now and then,
    whatever its priority. A full sync on one machine keeps both cores busy (the master's
    walk and the replica's load), so this is the floor that sync latencies meet here."""
    burners = [subprocess.Popen(["chrt", "-i", "0", "sh", "-c", "while :; do :; done"])
               for _ in range(os.cpu_count() or 2)]
    try:
        return idle_probe(srv, seconds)
    finally:
        for b in burners:
            b.kill()
            b.wait()


def bgsave_figures(kind, keys):
    return background_job_figures(kind, keys, [], "BGSAVE", "rdb_bgsave_in_progress")


def aofrw_figures(kind, keys):
    """The same during BGREWRITEAOF (appendonly yes, everysec)."""
    return background_job_figures(kind, keys, ["--appendonly", "yes", "--appendfsync", "everysec"],
                                  "BGREWRITEAOF", "aof_rewrite_in_progress")


def background_job_figures(kind, keys, extra, command, in_progress):
    """Worst and p99 SET latency of the probe, and the extra memory, while `command` snapshots
    a `keys`-key dataset (until INFO persistence's `in_progress` field drops to 0)."""
    srv = Server(kind, extra=extra)
    try:
        srv.cmd("DEBUG", "POPULATE", str(keys), "key", "100")
        time.sleep(0.5)
        base_rss = srv.rss()
        idle = idle_probe(srv)
        probe = Probe(srv.port)
        time.sleep(0.3)
        peak = base_rss
        t0 = time.time()
        srv.cmd(command)
        while True:
            peak = max(peak, srv.rss() + child_rss(srv.proc.pid))
            if srv.info("persistence").get(in_progress) == "0" and time.time() - t0 > 0.2:
                break
            time.sleep(0.01)
        elapsed = time.time() - t0
        lat = probe.finish()
        return {"max_ms": lat["max"], "p99_ms": lat["p99"], "extra_mem_pct": (peak - base_rss) * 100.0 / max(base_rss, 1),
                "seconds": elapsed, "idle_max_ms": idle["max"]}
    finally:
        srv.stop()


def aof_set_rate(kind, fsync, pipeline, n):
    """redis-benchmark SET requests/s with the AOF on and `appendfsync fsync`."""
    srv = Server(kind, extra=["--appendonly", "yes", "--appendfsync", fsync])
    try:
        return bench_rps(srv, pipeline, n, tests="set", extra=["-r", "100000"])
    finally:
        srv.stop()


def report_aof(say, rounds, keys, n):
    for fsync in ("everysec", "always"):
        for pipeline in (1, 16):
            d = alternate(rounds, lambda kind: aof_set_rate(kind, fsync, pipeline, n))
            pairs = list(zip([x.get("SET", 0) for x in d["tandem"]], [x.get("SET", 0) for x in d["redis"]]))
            say(f"## SET with appendonly yes, appendfsync {fsync}: redis-benchmark -c 50 -P {pipeline} -n {n} ({rounds} rounds)")
            table(say, ["SET requests/s"], d, lambda x: [f"{med(x, 'SET'):.0f}"])
            say(f"ratio tandem/redis: {median_ratio(pairs):.2f}")
            say()
    rw = alternate(rounds, lambda kind: aofrw_figures(kind, keys))
    say(f"## BGREWRITEAOF of {keys} keys while a client writes ({rounds} rounds; SET every 0.5 ms from a native probe)")
    table(say, ["worst SET", "p99 SET", "worst SET, idle server (floor)", "extra memory (% of RSS)", "seconds"], rw,
          lambda d: [f"{med(d, 'max_ms'):.2f} ms", f"{med(d, 'p99_ms'):.2f} ms", f"{med(d, 'idle_max_ms'):.2f} ms",
                     f"{med(d, 'extra_mem_pct'):.1f}%", f"{med(d, 'seconds'):.2f}"])


def child_rss(pid):
    """RSS of a fork child (Redis's BGSAVE), counted as the snapshot's extra memory."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for c in f.read().split():
                    with open(f"/proc/{c}/status") as g:
                        for line in g:
                            if line.startswith("VmRSS:"):
                                # Shared copy-on-write pages are counted by both: report only private.
                                pass
                    with open(f"/proc/{c}/smaps_rollup") as g:
                        for line in g:
                            if line.startswith("Private_Dirty:"):
                                total += int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return total


def full_sync_seconds(kind, keys, diskless, pinned=False):
    """Time for a fresh replica to sync, and the master's latency meanwhile. `pinned` puts the
    master on CPU 0 and the replica on CPU 1 (the nearest this 2-core machine comes to two
    machines: the replica's load no longer takes the master's cores)."""
    master = Server(kind, ["--repl-diskless-sync", "yes" if diskless else "no", "--repl-diskless-sync-delay", "0"],
                    cpus="0" if pinned else None)
    replica = None
    try:
        master.cmd("DEBUG", "POPULATE", str(keys), "key", "100")
        idle = idle_probe(master)
        busy = busy_probe(master)
        probe = Probe(master.port)
        t0 = time.time()
        replica = Server(kind, ["--replicaof", "127.0.0.1", str(master.port)], cpus="1" if pinned else None)
        while replica.info("replication").get("master_link_status") != "up":
            time.sleep(0.01)
            if time.time() - t0 > 300:
                raise RuntimeError("sync did not finish")
        secs = time.time() - t0
        lat = probe.finish()
        return {"seconds": secs, "master_max_ms": lat["max"], "master_p99_ms": lat["p99"], "idle_max_ms": idle["max"],
                "busy_max_ms": busy["max"]}
    finally:
        master.stop()
        if replica:
            replica.stop()


def rdb_load_seconds(kind, keys):
    srv = Server(kind)
    srv.cmd("DEBUG", "POPULATE", str(keys), "key", "100")
    srv.cmd("SAVE")
    path = os.path.join(srv.dir, "dump.rdb")
    keep = tempfile.mkdtemp(prefix="bench-rdb-")
    shutil.copy(path, os.path.join(keep, "dump.rdb"))
    srv.stop()
    port = free_port()
    exe = TANDEM if kind == "tandem" else REDIS
    t0 = time.time()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", keep],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=keep)
    while True:
        try:
            out = subprocess.run([CLI, "-p", str(port), "DBSIZE"], capture_output=True, text=True).stdout.strip()
            if out == str(keys):
                break
        except Exception:
            pass
        time.sleep(0.005)
    secs = time.time() - t0
    p.kill()
    p.wait()
    shutil.rmtree(keep, ignore_errors=True)
    return secs


class RawInfo:
    """INFO replication over one raw connection (fast enough to sample every few ms)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))

    def field(self, name):
        self.s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += self.s.recv(65536)
        head, rest = buf.split(b"\r\n", 1)
        need = int(head[1:])
        while len(rest) < need + 2:
            rest += self.s.recv(65536)
        for line in rest[:need].decode().splitlines():
            if line.startswith(name + ":"):
                return int(line.split(":", 1)[1])
        return 0


def replica_lag(kind, rate, seconds):
    """Replica lag while the master takes `rate` SETs per second, paced in 10 ms batches:
    offset difference (bytes) and time for the replica to reach each master offset (ms)."""
    master = Server(kind)
    replica = Server(kind, ["--replicaof", "127.0.0.1", str(master.port)])
    try:
        t0 = time.time()
        while replica.info("replication").get("master_link_status") != "up":
            time.sleep(0.01)
            if time.time() - t0 > 60:
                raise RuntimeError("replica did not sync")
        stop = threading.Event()

        def writer():
            w = socket.create_connection(("127.0.0.1", master.port))
            w.setblocking(False)
            per_batch = max(rate // 100, 1)
            i = 0
            next_t = time.perf_counter()
            while not stop.is_set():
                batch = b"".join(
                    b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$8\r\nxxxxxxxx\r\n" % (len(k), k)
                    for k in (f"lag:{(i + j) % 100000}".encode() for j in range(per_batch)))
                i += per_batch
                view = memoryview(batch)
                while view and not stop.is_set():
                    try:
                        n = w.send(view)
                        view = view[n:]
                    except BlockingIOError:
                        pass
                    try:
                        while w.recv(1 << 20):
                            pass
                    except BlockingIOError:
                        pass
                next_t += 0.01
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            w.close()

        t = threading.Thread(target=writer)
        t.start()
        mi, ri = RawInfo(master.port), RawInfo(replica.port)
        msamples, rsamples, diffs = [], [], []
        end = time.time() + seconds
        time.sleep(0.5)
        while time.time() < end:
            now = time.perf_counter()
            mo = mi.field("master_repl_offset")
            ro = ri.field("slave_repl_offset")
            msamples.append((now, mo))
            rsamples.append((time.perf_counter(), ro))
            diffs.append(mo - ro)
            time.sleep(0.002)
        stop.set()
        t.join()
        lags = []
        j = 0
        for (tm, off) in msamples:
            while j < len(rsamples) and rsamples[j][1] < off:
                j += 1
            if j < len(rsamples):
                lags.append(max(0.0, (rsamples[j][0] - tm) * 1000))
        lags.sort()
        diffs.sort()
        pick = lambda xs, q: xs[min(len(xs) - 1, int(len(xs) * q))] if xs else 0
        return {"p50_ms": pick(lags, 0.5), "p99_ms": pick(lags, 0.99), "max_ms": lags[-1] if lags else 0,
                "p99_bytes": pick(diffs, 0.99), "samples": len(lags)}
    finally:
        replica.stop()
        master.stop()


EVALSHA_SCRIPT = "local v = redis.call('get', KEYS[1]); return redis.call('incr', KEYS[2])"


def report_evalsha(say, rounds, n):
    """A small cached script (a GET and an INCR) by EVALSHA at -c 50, as lock libraries and
    rate limiters run them."""
    d = {"redis": [], "tandem": []}
    for r in range(rounds):
        for kind in ("redis", "tandem") if r % 2 == 0 else ("tandem", "redis"):
            srv = Server(kind)
            sha = srv.cmd("SCRIPT", "LOAD", EVALSHA_SCRIPT)
            cmd = [BENCH, "-p", str(srv.port), "-q", "-n", str(n), "-c", "50", "--csv",
                   "EVALSHA", sha, "2", "bench:k", "bench:counter"]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
            srv.stop()
            for line in out.splitlines():
                parts = [p.strip('"') for p in line.split(",")]
                if len(parts) >= 2 and parts[0].upper().startswith("EVALSHA"):
                    d[kind].append(float(parts[1]))
    say(f"## EVALSHA of a GET + INCR script, redis-benchmark -c 50 -n {n} (requests/s)")
    say(f"redis {statistics.median(d['redis']):.0f}, tandem {statistics.median(d['tandem']):.0f}, "
        f"ratio {median_ratio(list(zip(d['tandem'], d['redis']))):.2f}")
    say()


def median_ratio(pairs):
    return statistics.median(t / r for t, r in pairs if r)


def growth_latency(kind, keys):
    """Worst and p99 SET latency of the probe while one pipelined client inserts `keys` new
    keys (random names from a space 20 times larger): the cost of table growth."""
    srv = Server(kind)
    try:
        probe = Probe(srv.port)
        t0 = time.time()
        subprocess.run([BENCH, "-p", str(srv.port), "-q", "-t", "set", "-n", str(keys), "-r", str(keys * 20),
                        "-d", "10", "-c", "1", "-P", "32"], capture_output=True, timeout=1800)
        secs = time.time() - t0
        lat = probe.finish()
        return {"max_ms": lat["max"], "p99_ms": lat["p99"], "seconds": secs, "dbsize": int(srv.cmd("DBSIZE") or 0)}
    finally:
        srv.stop()


def report_growth(say, rounds, keys):
    g = alternate(rounds, lambda kind: growth_latency(kind, keys))
    say(f"## Inserting {keys} keys from one pipelined client (-c 1 -P 32) while the probe writes ({rounds} rounds)")
    table(say, ["worst SET", "p99 SET", "keys at the end", "seconds"], g,
          lambda d: [f"{med(d, 'max_ms'):.2f} ms", f"{med(d, 'p99_ms'):.2f} ms", f"{med(d, 'dbsize'):.0f}",
                     f"{med(d, 'seconds'):.1f}"])


def scaling(kind, cpus, n=1_000_000):
    """SET and GET rates at -P 16 with the server pinned to `cpus` and redis-benchmark to CPU 1
    (on a 2-CPU machine the 2-CPU server shares CPU 1 with the client)."""
    srv = Server(kind, cpus=cpus)
    try:
        return bench_rps(srv, 16, n, tests="set,get", extra=["-r", "100000"], client_cpus="1")
    finally:
        srv.stop()


def report_scaling(say, rounds):
    say(f"## Scaling: -P 16 SET/GET with the server on CPU 0 only vs CPUs 0-1 (client on CPU 1), {rounds} rounds")
    one = alternate(rounds, lambda kind: scaling(kind, "0"))
    two = alternate(rounds, lambda kind: scaling(kind, "0,1"))
    for test in ("SET", "GET"):
        say(f"{test}:")
        table(say, ["1 CPU", "2 CPUs", "2/1"], {k: (one[k], two[k]) for k in one},
              lambda d: [f"{med(d[0], test):.0f}", f"{med(d[1], test):.0f}", f"{med(d[1], test) / med(d[0], test):.2f}"])


def per_command(kind, pipeline, n, tests=TESTS, user=None):
    """redis-benchmark -c 50 at `pipeline`, one test at a time on one server: requests/s and
    the server's CPU time (user+sys from /proc) per operation, for each test. LRANGE's LPUSH
    fill is counted in its operations, as redis-benchmark runs it. With `user` (ACL SETUSER
    rules, see ACL_USERS) the clients log in as that user instead of the default one."""
    srv = Server(kind)
    out = {}
    try:
        login = acl_login(srv.cmd, user)
        for test in tests.split(","):
            c0 = srv.cpu_seconds()
            res = bench_rps(srv, pipeline, n, tests=test, extra=["-r", "100000"] + login)
            cpu = srv.cpu_seconds() - c0
            for name, rps in res.items():
                out[name] = {"rps": rps, "cpu_us": cpu * 1e6 / (n * max(len(res), 1))}
    finally:
        srv.stop()
    return out


def eviction(kind, pipeline, n, maxmemory):
    """SETs of 100-byte values into 1M random keys under `maxmemory` (allkeys-lru), so that
    nearly every write evicts: requests/s, server CPU per operation, evicted keys, and
    used_memory at the end against the limit."""
    srv = Server(kind, extra=["--maxmemory", str(maxmemory), "--maxmemory-policy", "allkeys-lru"])
    try:
        c0 = srv.cpu_seconds()
        res = bench_rps(srv, pipeline, n, tests="set", extra=["-r", "1000000", "-d", "100"])
        cpu = srv.cpu_seconds() - c0
        stats, mem = srv.info("stats"), srv.info("memory")
        return {"rps": res.get("SET", 0.0), "cpu_us": cpu * 1e6 / n,
                "evicted": int(stats["evicted_keys"]), "used": int(mem["used_memory"])}
    finally:
        srv.stop()


def report_eviction(say, rounds, n, maxmemory=32 << 20, pipelines=(1, 16)):
    """Writes under maxmemory: the eviction check runs before every command."""
    for pipeline in pipelines:
        d = alternate(rounds, lambda kind: eviction(kind, pipeline, n, maxmemory))
        say(f"## SET under maxmemory {maxmemory >> 20} MB (allkeys-lru, -c 50 -P {pipeline} -n {n} -r 1000000 -d 100; {rounds} rounds)")
        say("| server | req/s | CPU µs/op | evicted keys | used_memory at the end / maxmemory |")
        say("|---|---|---|---|---|")
        for kind in ("redis", "tandem"):
            say(f"| {kind} | {med(d[kind], 'rps'):.0f} | {med(d[kind], 'cpu_us'):.2f} | {med(d[kind], 'evicted'):.0f} "
                f"| {med(d[kind], 'used') / maxmemory:.3f} |")
        rps = median_ratio([(t["rps"], r["rps"]) for t, r in zip(d["tandem"], d["redis"])])
        cpu = median_ratio([(t["cpu_us"], r["cpu_us"]) for t, r in zip(d["tandem"], d["redis"])])
        say(f"ratio tandem/redis: throughput {rps:.2f}, CPU per op {cpu:.2f}")
        say()


def report_hotpath(say, rounds, n, pipelines=(1, 16)):
    """Throughput and server CPU per operation of every benchmarked command, both servers
    alternating, medians of the per-pair ratios."""
    for pipeline in pipelines:
        d = alternate(rounds, lambda kind: per_command(kind, pipeline, n))
        say(f"## redis-benchmark -c 50 -P {pipeline} -n {n} -r 100000, one test at a time ({rounds} rounds)")
        say("| test | redis req/s | tandem req/s | ratio | redis CPU µs/op | tandem CPU µs/op | CPU ratio |")
        say("|---|---|---|---|---|---|---|")
        for test in d["redis"][0]:
            if not all(test in x for x in d["redis"] + d["tandem"]):
                continue
            col = lambda kind, f: [x[test][f] for x in d[kind]]
            rps = median_ratio(list(zip(col("tandem", "rps"), col("redis", "rps"))))
            cpu = median_ratio(list(zip(col("tandem", "cpu_us"), col("redis", "cpu_us"))))
            say(f"| {test} | {statistics.median(col('redis', 'rps')):.0f} | {statistics.median(col('tandem', 'rps')):.0f} | {rps:.2f} "
                f"| {statistics.median(col('redis', 'cpu_us')):.2f} | {statistics.median(col('tandem', 'cpu_us')):.2f} | {cpu:.2f} |")
        say()


def instructions_per_op(kind, n, tests="set,get", user=None):
    """Instructions the server executes per operation for a fixed workload (redis-benchmark
    -c 50 -P 16 -r 100000, `n` requests per test) under callgrind: counters are zeroed once
    the server answers and dumped after the workload, so startup is not counted. Repeatable
    on a loaded machine, unlike wall-clock figures. `user` as for per_command."""
    d = tempfile.mkdtemp(prefix=f"bench-cg-{kind}-")
    port = free_port()
    exe = TANDEM if kind == "tandem" else REDIS
    out = os.path.join(d, "cg.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", exe, "--port", str(port),
                          "--bind", "127.0.0.1", "--save", "", "--dir", d, "--appendonly", "no",
                          # callgrind_control finds the server by its command line, which a
                          # process title written over argv hides.
                          "--set-proc-title", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
    try:
        deadline = time.time() + 60
        while subprocess.run([CLI, "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() != "PONG":
            if time.time() > deadline:
                raise RuntimeError(f"{kind} did not start under valgrind")
            time.sleep(0.2)
        login = acl_login(lambda *a: subprocess.run([CLI, "-p", str(port)] + [str(x) for x in a],
                                                    capture_output=True, text=True, timeout=60).stdout.strip(), user)
        subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True, timeout=60)
        subprocess.run([BENCH, "-p", str(port), "-q", "-n", str(n), "-c", "50", "-P", "16", "-t", tests, "-r", "100000"]
                       + login, capture_output=True, timeout=1800)
        subprocess.run(["callgrind_control", "-d", str(p.pid)], capture_output=True, timeout=60)
        total = 0
        for f in os.listdir(d):
            if f.startswith("cg.out."):
                with open(os.path.join(d, f)) as fh:
                    for line in fh:
                        if line.startswith("summary:"):
                            total += int(line.split()[1])
        return total / (n * len(tests.split(",")))
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


def report_instructions(say, n):
    for tests in ("set,get", "incr,lpush,lpop,sadd,hset,zadd"):
        r, t = instructions_per_op("redis", n, tests), instructions_per_op("tandem", n, tests)
        say(f"## Instructions per operation under callgrind ({tests}, -c 50 -P 16, {n} requests each)")
        say(f"redis {r:.0f}, tandem {t:.0f}, ratio {t / r:.2f}")
        say()


# (label, ACL SETUSER rules of the user redis-benchmark logs in as; None: the default user).
# redis-benchmark's SET and GET use the keys key:__rand_int__, so the last user's third
# pattern is the one that matches.
ACL_USERS = [
    ("default user", None),
    ("+@all ~*", ["+@all", "~*"]),
    ("+@all ~session:* ~cache:* ~key:*", ["+@all", "~session:*", "~cache:*", "~key:*"]),
]


def acl_login(cmd, user):
    """Creates the ACL user `bench` with the rules `user` through `cmd` (a function sending
    one command) and returns redis-benchmark's arguments to log in as it ([] for the
    default user)."""
    if user is None:
        return []
    reply = cmd("ACL", "SETUSER", "bench", "on", ">benchpw", *user)
    if reply != "OK":
        raise RuntimeError(f"ACL SETUSER: {reply}")
    return ["--user", "bench", "-a", "benchpw"]


def report_acl(say, rounds, n, pipelines=(1, 16)):
    """The cost of the permission check on SET and GET: each server with the default user, a
    user allowed everything, and a user limited to key patterns; throughput, CPU per operation
    and instructions per operation under callgrind."""
    for pipeline in pipelines:
        say(f"## ACL users: redis-benchmark -c 50 -P {pipeline} -n {n} -r 100000 set,get ({rounds} rounds)")
        say("| user | test | redis req/s | tandem req/s | ratio | redis CPU µs/op | tandem CPU µs/op | CPU ratio |")
        say("|---|---|---|---|---|---|---|---|")
        for label, user in ACL_USERS:
            d = alternate(rounds, lambda kind: per_command(kind, pipeline, n, tests="set,get", user=user))
            for test in ("SET", "GET"):
                col = lambda kind, f: [x[test][f] for x in d[kind]]
                rps = median_ratio(list(zip(col("tandem", "rps"), col("redis", "rps"))))
                cpu = median_ratio(list(zip(col("tandem", "cpu_us"), col("redis", "cpu_us"))))
                say(f"| {label} | {test} | {statistics.median(col('redis', 'rps')):.0f} | {statistics.median(col('tandem', 'rps')):.0f} "
                    f"| {rps:.2f} | {statistics.median(col('redis', 'cpu_us')):.2f} | {statistics.median(col('tandem', 'cpu_us')):.2f} | {cpu:.2f} |")
        say()
    say(f"## ACL users: instructions per operation under callgrind (set,get, -c 50 -P 16, {n // 2} requests each)")
    say("| user | redis | tandem | ratio |")
    say("|---|---|---|---|")
    for label, user in ACL_USERS:
        r = instructions_per_op("redis", n // 2, "set,get", user)
        t = instructions_per_op("tandem", n // 2, "set,get", user)
        say(f"| {label} | {r:.0f} | {t:.0f} | {t / r:.2f} |")
    say()


# (label, server options, redis-benchmark command with __rand_int__ keys)
SETTLE_SECONDS = 12

MEMORY_CASES = [
    ("strings, 100-byte values", [], ["SET", "s:__rand_int__", "x" * 100]),
    ("strings, 100-byte values, with TTL", [], ["SET", "s:__rand_int__", "x" * 100, "EX", "100000"]),
    ("strings, 10-byte values", [], ["SET", "s:__rand_int__", "x" * 10]),
    ("integers", [], ["SET", "n:__rand_int__", "123456789012"]),
    ("hashes of 5 fields (listpack)", [], ["HSET", "h:__rand_int__"] + [w for i in range(5) for w in (f"field{i}", f"value{i}")]),
    ("hashes of 5 fields (hashtable)", ["--hash-max-listpack-entries", "0"],
     ["HSET", "h:__rand_int__"] + [w for i in range(5) for w in (f"field{i}", f"value{i}")]),
    ("sets of 5 integers (intset)", [], ["SADD", "i:__rand_int__", "1", "2", "3", "4", "5"]),
    ("sets of 5 strings (hashtable)", [], ["SADD", "t:__rand_int__"] + [f"member{i}" for i in range(5)]),
    ("sorted sets of 5 members (listpack)", [], ["ZADD", "z:__rand_int__"] + [w for i in range(5) for w in (str(i), f"member{i}")]),
    ("sorted sets of 5 members (skiplist)", ["--zset-max-listpack-entries", "0"],
     ["ZADD", "z:__rand_int__"] + [w for i in range(5) for w in (str(i), f"member{i}")]),
]


def memory_per_key(kind, extra, command, keys):
    """used_memory and RSS growth per key after `keys` random-key writes of `command`."""
    srv = Server(kind, extra=extra)
    try:
        base_used, base_rss = int(srv.info("memory")["used_memory"]), srv.rss()
        subprocess.run([BENCH, "-p", str(srv.port), "-q", "-n", str(keys), "-r", str(keys), "-c", "50", "-P", "16"] + command,
                       capture_output=True, timeout=900)
        time.sleep(0.5)
        dbsize = max(int(srv.cmd("DBSIZE") or 1), 1)
        used, rss = int(srv.info("memory")["used_memory"]), srv.rss()
        # Both allocators keep freed pages for up to 10 s (jemalloc's dirty decay, purged by
        # its background threads with jemalloc-bg-thread yes): the RSS a server settles at.
        time.sleep(SETTLE_SECONDS)
        return {"used": (used - base_used) / dbsize, "rss": (rss - base_rss) / dbsize,
                "settled": (srv.rss() - base_rss) / dbsize, "keys": dbsize}
    finally:
        srv.stop()


def memory_header(say):
    say(f"(bytes per key; RSS: 0.5 s after the last write; settled RSS: {SETTLE_SECONDS} s later)")
    say("| dataset | redis used | tandem used | ratio | redis RSS | tandem RSS | RSS ratio "
        "| redis settled RSS | tandem settled RSS | settled ratio |")
    say("|---|---|---|---|---|---|---|---|---|---|")


def memory_row(label, col):
    """A table row: `col(kind, field)` gives the per-round figures of 'used', 'rss' and
    'settled'; medians of each and of the per-pair ratios."""
    cells = [label]
    for field in ("used", "rss", "settled"):
        cells += [f"{statistics.median(col('redis', field)):.0f}", f"{statistics.median(col('tandem', field)):.0f}",
                  f"{median_ratio(list(zip(col('tandem', field), col('redis', field)))):.2f}"]
    return "| " + " | ".join(cells) + " |"


def report_memory(say, rounds, keys, cases=None):
    say(f"## Memory per key ({keys} writes of random keys out of {keys}; growth of used_memory and RSS / DBSIZE; {rounds} rounds)")
    memory_header(say)
    for label, extra, command in MEMORY_CASES:
        if cases and not any(label.startswith(c) for c in cases.split(",")):
            continue
        d = alternate(rounds, lambda kind: memory_per_key(kind, extra, command, keys))
        col = lambda kind, f: [x[f] for x in d[kind]]
        say(memory_row(label, col))
    say()


# Stream entries: 3 field-value pairs, the same fields in every entry (as an event log writes
# them), IDs generated by the server.
STREAM_ENTRY = ["f1", "v1", "f2", "v2", "f3", "v3"]


def stream_memory(kind, entries, consumers):
    """used_memory and RSS growth per entry of one stream after `entries` XADDs; then per pending
    entry once a group's `consumers` consumers have read them all with XREADGROUP COUNT 100 >
    (an entry is then in the group's PEL and in its consumer's); then, with one consumer, per
    key of `entries` / 10 streams of one entry each."""
    srv = Server(kind)
    used = lambda: int(srv.info("memory")["used_memory"])
    run = lambda n, *cmd: subprocess.run([BENCH, "-p", str(srv.port), "-q", "-n", str(n), "-c", "50", "-P", "16"] + list(cmd),
                                         capture_output=True, timeout=900)
    try:
        time.sleep(0.3)
        u0, r0 = used(), srv.rss()
        run(entries, "XADD", "s", "*", *STREAM_ENTRY)
        time.sleep(0.5)
        u1, r1 = used(), srv.rss()
        out = {"entry_used": (u1 - u0) / int(srv.cmd("XLEN", "s")), "entry_rss": (r1 - r0) / int(srv.cmd("XLEN", "s"))}
        srv.cmd("XGROUP", "CREATE", "s", "g", "0")
        consumer = ["-r", str(consumers), "c:__rand_int__"] if consumers > 1 else ["c"]
        run(entries // 100, *consumer[:-1], "XREADGROUP", "GROUP", "g", consumer[-1], "COUNT", "100", "STREAMS", "s", ">")
        while srv.cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "1000", "STREAMS", "s", ">"):
            pass
        time.sleep(0.5)
        u2, r2 = used(), srv.rss()
        pending = int(srv.cmd("XPENDING", "s", "g").splitlines()[0])
        out.update(pel_used=(u2 - u1) / pending, pel_rss=(r2 - r1) / pending)
        if consumers == 1:
            run(entries // 10, "-r", str(entries // 10), "XADD", "x:__rand_int__", "*", *STREAM_ENTRY)
            time.sleep(0.5)
            streams = max(int(srv.cmd("DBSIZE")) - 1, 1)
            out.update(key_used=(used() - u2) / streams, key_rss=(srv.rss() - r2) / streams)
        return out
    finally:
        srv.stop()


def report_stream_memory(say, rounds, entries):
    say(f"## Stream memory ({entries} XADDs of 3 field-value pairs to one stream, then all of them read into a group's PEL; "
        f"{entries // 10} streams of one entry; growth of used_memory and RSS; {rounds} rounds)")
    say("| dataset | redis used B | tandem used B | ratio | redis RSS B | tandem RSS B | RSS ratio |")
    say("|---|---|---|---|---|---|---|")
    one = alternate(rounds, lambda kind: stream_memory(kind, entries, 1))
    ten = alternate(rounds, lambda kind: stream_memory(kind, entries, 10))
    for label, d, f in [("per entry of one stream", one, "entry"), ("per pending entry, 1 consumer", one, "pel"),
                        ("per pending entry, 10 consumers", ten, "pel"), ("per stream of one entry", one, "key")]:
        col = lambda kind, x: [r[f + "_" + x] for r in d[kind]]
        say(f"| {label} | {statistics.median(col('redis', 'used')):.0f} | {statistics.median(col('tandem', 'used')):.0f} "
            f"| {median_ratio(list(zip(col('tandem', 'used'), col('redis', 'used')))):.2f} "
            f"| {statistics.median(col('redis', 'rss')):.0f} | {statistics.median(col('tandem', 'rss')):.0f} "
            f"| {median_ratio(list(zip(col('tandem', 'rss'), col('redis', 'rss')))):.2f} |")
    say()


def hll_memory(kind, keys, elements=50):
    """used_memory and RSS growth per key of `keys` HyperLogLogs of `elements` random elements
    each (sparse: ~160-byte strings), then per key once each is made dense (PFDEBUG TODENSE,
    12 KB strings) for a tenth of them."""
    srv = Server(kind)
    used = lambda: int(srv.info("memory")["used_memory"])
    rng = random.Random(1)

    def pipeline(commands):
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            f = s.makefile("rb")
            for i in range(0, len(commands), 500):
                batch = commands[i:i + 500]
                s.sendall(b"".join(resp_command(c) for c in batch))
                for _ in batch:
                    if f.readline()[:1] == b"-":
                        raise RuntimeError(f"{kind}: error reply to {batch[0][:2]}")

    try:
        time.sleep(0.3)
        u0, r0 = used(), srv.rss()
        pipeline([["PFADD", f"hll:{k}"] + [f"e{rng.randrange(10 ** 9)}" for _ in range(elements)] for k in range(keys)])
        time.sleep(0.5)
        u1, r1 = used(), srv.rss()
        time.sleep(SETTLE_SECONDS)
        out = {"sparse_used": (u1 - u0) / keys, "sparse_rss": (r1 - r0) / keys,
               "sparse_settled": (srv.rss() - r0) / keys}
        u1, r1 = used(), srv.rss()
        dense = keys // 10
        pipeline([["PFADD", f"dense:{k}"] + [f"e{rng.randrange(10 ** 9)}" for _ in range(elements)] for k in range(dense)]
                 + [["PFDEBUG", "TODENSE", f"dense:{k}"] for k in range(dense)])
        time.sleep(0.5)
        out.update(dense_used=(used() - u1) / dense, dense_rss=(srv.rss() - r1) / dense)
        time.sleep(SETTLE_SECONDS)
        out.update(dense_settled=(srv.rss() - r1) / dense)
        return out
    finally:
        srv.stop()


def resp_command(args):
    """One command in RESP."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def report_hll_memory(say, rounds, keys):
    say(f"## HyperLogLog memory ({keys} keys of 50 random elements each (sparse), then {keys // 10} more made dense "
        f"with PFDEBUG TODENSE; growth of used_memory and RSS per key; {rounds} rounds)")
    memory_header(say)
    d = alternate(rounds, lambda kind: hll_memory(kind, keys))
    for label, f in [("per sparse HLL key", "sparse"), ("per dense HLL key", "dense")]:
        col = lambda kind, x: [r[f + "_" + x] for r in d[kind]]
        say(memory_row(label, col))
    say()


def connection_memory(kind, conns):
    """RSS growth per idle connection with `conns` clients connected (each sent one PING)."""
    srv = Server(kind, extra=["--maxclients", str(conns + 100)])
    socks = []
    try:
        time.sleep(0.3)
        base = srv.rss()
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"PING\r\n")
            socks.append(s)
        for s in socks:
            s.recv(16)
        time.sleep(0.5)
        return {"rss": (srv.rss() - base) / conns}
    finally:
        for s in socks:
            s.close()
        srv.stop()


def report_connections(say, rounds, conns):
    d = alternate(rounds, lambda kind: connection_memory(kind, conns))
    say(f"## Memory per idle connection ({conns} connections, RSS growth; {rounds} rounds)")
    say(f"redis {med(d['redis'], 'rss'):.0f} B, tandem {med(d['tandem'], 'rss'):.0f} B, "
        f"ratio {median_ratio(list(zip([x['rss'] for x in d['tandem']], [x['rss'] for x in d['redis']]))):.2f}")
    say()


def table(say, columns, by_kind, cells):
    """A markdown table: one row per server, `cells(figures)` giving the row's values."""
    say("| server | " + " | ".join(columns) + " |")
    say("|---" * (len(columns) + 1) + "|")
    for kind in ("redis", "tandem"):
        say(f"| {kind} | " + " | ".join(cells(by_kind[kind])) + " |")
    say()


def alternate(rounds, measure):
    """{kind: [figures]} from `rounds` pairs, alternating which server goes first."""
    out = {"redis": [], "tandem": []}
    for r in range(rounds):
        for kind in ("redis", "tandem") if r % 2 == 0 else ("tandem", "redis"):
            out[kind].append(measure(kind))
    return out


def med(d, field):
    return statistics.median(x[field] for x in d)


def report_bgsave(say, rounds, keys):
    bg = alternate(rounds, lambda kind: bgsave_figures(kind, keys))
    say(f"## BGSAVE of {keys} keys while a client writes ({rounds} rounds; SET every 0.5 ms from a native probe)")
    table(say, ["worst SET", "p99 SET", "worst SET, idle server (floor)", "extra memory (% of RSS)", "seconds"], bg,
          lambda d: [f"{med(d, 'max_ms'):.2f} ms", f"{med(d, 'p99_ms'):.2f} ms", f"{med(d, 'idle_max_ms'):.2f} ms",
                     f"{med(d, 'extra_mem_pct'):.1f}%", f"{med(d, 'seconds'):.2f}"])


def report_sync(say, rounds, keys):
    for pinned in (False, True):
        for diskless in (True, False):
            fs = alternate(rounds, lambda kind: full_sync_seconds(kind, keys, diskless, pinned))
            pairs = list(zip([x["seconds"] for x in fs["tandem"]], [x["seconds"] for x in fs["redis"]]))
            where = "master on CPU 0, replica on CPU 1" if pinned else "both on both CPUs"
            say(f"## Full sync of a fresh replica from a {keys}-key master ({'diskless' if diskless else 'disk'}; {where}), {rounds} rounds")
            table(say, ["seconds", "master worst SET", "master p99 SET", "worst SET, idle master",
                        "worst SET, idle master, both CPUs busy with SCHED_IDLE loops"], fs,
                  lambda d: [f"{med(d, 'seconds'):.2f}", f"{med(d, 'master_max_ms'):.2f} ms", f"{med(d, 'master_p99_ms'):.2f} ms",
                             f"{med(d, 'idle_max_ms'):.2f} ms", f"{med(d, 'busy_max_ms'):.2f} ms"])
            say(f"ratio tandem/redis (time): {median_ratio(pairs):.2f}")
            say()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller datasets and fewer rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None,
                    help="run one part: hotpath, evict, acl, instr, memory, streams, hll, conns, lag, bgsave, aof, sync, growth, scaling or evalsha")
    ap.add_argument("--ports", default=None, help="LO-HI: start every server on a port inside this window")
    ap.add_argument("--pipelines", default="1,16", help="pipeline depths of --only hotpath and acl")
    ap.add_argument("--keys", type=int, default=None, help="dataset size of --only memory and streams (default 1000000)")
    ap.add_argument("--cases", default=None, help="--only memory: the datasets whose label starts with one of these (comma-separated)")
    a = ap.parse_args()
    if a.ports:
        global PORTS
        lo, hi = (int(x) for x in a.ports.split("-"))
        PORTS = (lo, hi, lo)
    if a.only == "hotpath":
        report_hotpath(print, a.rounds, 100_000, tuple(int(x) for x in a.pipelines.split(",")))
        return
    if a.only == "evict":
        report_eviction(print, a.rounds, 300_000, pipelines=tuple(int(x) for x in a.pipelines.split(",")))
        return
    if a.only == "acl":
        report_acl(print, a.rounds, 100_000, tuple(int(x) for x in a.pipelines.split(",")))
        return
    if a.only == "instr":
        report_instructions(print, 50_000)
        return
    if a.only == "memory":
        report_memory(print, a.rounds, a.keys or 1_000_000, a.cases)
        return
    if a.only == "hll":
        report_hll_memory(print, a.rounds, a.keys or 200_000)
        return
    if a.only == "streams":
        report_stream_memory(print, a.rounds, a.keys or 1_000_000)
        return
    if a.only == "conns":
        report_connections(print, a.rounds, 10_000)
        return
    if a.only == "evalsha":
        report_evalsha(print, a.rounds, 100_000)
        return
    if a.only == "aof":
        report_aof(print, a.rounds, 1_000_000, 200_000)
        return
    if a.only == "bgsave":
        report_bgsave(print, a.rounds, 1_000_000)
        return
    if a.only == "sync":
        report_sync(print, a.rounds, 1_000_000)
        return
    if a.only == "growth":
        report_growth(print, a.rounds, 5_000_000)
        return
    if a.only == "scaling":
        report_scaling(print, a.rounds)
        return
    if a.only == "lag":
        lines = []
        print(f"## Replica lag at 50,000 SETs/s for 10 s ({a.rounds} rounds each)")
        for kind in ("redis", "tandem"):
            rs = [replica_lag(kind, 50_000, 10) for _ in range(a.rounds)]
            print(f"{kind}: lag p50 {statistics.median(r['p50_ms'] for r in rs):.2f} ms, p99 {statistics.median(r['p99_ms'] for r in rs):.2f} ms, "
                  f"max {statistics.median(r['max_ms'] for r in rs):.2f} ms; offset difference p99 {statistics.median(r['p99_bytes'] for r in rs):.0f} bytes")
        return
    keys = 200_000 if a.quick else 1_000_000
    n = 50_000 if a.quick else 100_000
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    say(f"# Tandem vs redis-server ({subprocess.run([REDIS, '--version'], capture_output=True, text=True).stdout.split()[2]})")
    say(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB, {os.uname().release}; {time.strftime('%Y-%m-%d')}")
    say(f"rounds: {a.rounds} alternating pairs, medians of the per-pair ratios; dataset {keys} keys")
    say()
    report_hotpath(say, a.rounds, n)
    report_eviction(say, a.rounds, 300_000)
    report_instructions(say, 50_000)
    report_memory(say, a.rounds, keys)
    report_stream_memory(say, a.rounds, keys)
    report_hll_memory(say, a.rounds, 200_000)
    report_connections(say, a.rounds, 10_000)
    report_evalsha(say, a.rounds, n)
    report_bgsave(say, a.rounds, keys)
    report_sync(say, a.rounds, keys)
    report_growth(say, a.rounds, keys * 5)
    report_scaling(say, a.rounds)
    ld = {"redis": [], "tandem": []}
    for r in range(a.rounds):
        for kind in ("redis", "tandem") if r % 2 == 0 else ("tandem", "redis"):
            ld[kind].append(rdb_load_seconds(kind, keys))
    say(f"## Startup with a {keys}-key dump.rdb (time until DBSIZE answers the full count)")
    say(f"redis {statistics.median(ld['redis']):.2f} s, tandem {statistics.median(ld['tandem']):.2f} s, ratio {median_ratio(list(zip(ld['tandem'], ld['redis']))):.2f}")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if not (os.path.exists(TANDEM) and os.path.exists(PROBE) and REDIS and BENCH and CLI):
        sys.exit("needs target/release/tandem-server and target/release/examples/latency-probe "
                 "(cargo build --release --examples) and Debian's redis-server/redis-tools")
    main()
