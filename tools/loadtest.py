"""Send bounded HTTP load to a stack's URL and report what the client saw.

    python -m tools.loadtest --url http://127.0.0.1:8000/users [--requests 600] [--concurrency 8]
                             [--path /users --path /payments ...] [--out build/loadtest]

Works against any stack (local or cloud): only the given URL's host is contacted. Reports the
reference's essential metrics from the client side: request distribution per instance,
latency p50/p95/p99, error rate; as a table on stdout, a JSON file and a PNG chart (per
backend instance and per gateway instance) in --out.

The instance of each answer comes from response headers: `X-Instance` (the local demo
backend), else `X-Upstream-Addr` (set by the gateway: the backend address it used); the
gateway from `X-Gateway-Instance`. Bounded in count (--requests), parallelism (--concurrency)
and time (--max-seconds): no request is sent after the deadline.
"""
from __future__ import annotations

import argparse
import http.client
import json
import pathlib
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

MAX_REQUESTS = 1_000_000
MAX_CONCURRENCY = 256
INSTANCE_HEADERS = ("X-Instance", "X-Upstream-Addr")
GATEWAY_HEADER = "X-Gateway-Instance"
UNKNOWN = "(unknown)"


@dataclass
class Sample:
    started: float
    """Seconds since the load started."""
    latency_s: float
    status: int | None
    """None: no HTTP answer (connection refused, reset, timeout)."""
    instance: str
    gateway: str
    path: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class LoadReport:
    url: str
    requests: int
    concurrency: int
    duration_s: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(not s.ok for s in self.samples)

    @property
    def error_rate(self) -> float:
        return self.errors / len(self.samples) if self.samples else 0.0

    @property
    def throughput_rps(self) -> float:
        return len(self.samples) / self.duration_s if self.duration_s else 0.0

    def latency_ms(self, q: float, samples: list[Sample] | None = None) -> float:
        chosen = self.samples if samples is None else samples
        return percentile([s.latency_s for s in chosen if s.status is not None], q) * 1000

    def by(self, attribute: str) -> dict[str, list[Sample]]:
        groups: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            groups[getattr(s, attribute)].append(s)
        return dict(sorted(groups.items()))

    def counts(self, attribute: str = "instance") -> Counter:
        return Counter(getattr(s, attribute) for s in self.samples if s.ok)

    def summary(self) -> dict:
        def group(attribute: str) -> dict:
            return {name: {"requests": len(ss), "errors": sum(not s.ok for s in ss),
                           "share": len(ss) / len(self.samples),
                           "p50_ms": self.latency_ms(50, ss), "p95_ms": self.latency_ms(95, ss),
                           "p99_ms": self.latency_ms(99, ss)}
                    for name, ss in self.by(attribute).items()}
        return {"url": self.url, "requests": len(self.samples), "concurrency": self.concurrency,
                "duration_s": self.duration_s, "throughput_rps": self.throughput_rps,
                "errors": self.errors, "error_rate": self.error_rate,
                "p50_ms": self.latency_ms(50), "p95_ms": self.latency_ms(95), "p99_ms": self.latency_ms(99),
                "status_codes": dict(Counter(str(s.status or s.error) for s in self.samples)),
                "instances": group("instance"), "gateways": group("gateway")}

    def table(self) -> str:
        s = self.summary()
        lines = [f"load test {self.url}: {s['requests']} requests, concurrency {self.concurrency}, "
                 f"{s['duration_s']:.2f} s, {s['throughput_rps']:.1f} req/s",
                 f"errors {s['errors']} ({s['error_rate'] * 100:.2f} %); latency p50 {s['p50_ms']:.1f} ms, "
                 f"p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
                 "status: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["status_codes"].items()))]
        for title, key in (("backend instance", "instances"), ("gateway instance", "gateways")):
            width = max([len(title), *(len(n) for n in s[key])])
            lines += ["", f"{title:<{width}}  requests   share  errors   p50 ms   p95 ms   p99 ms"]
            for name, g in s[key].items():
                lines.append(f"{name:<{width}}  {g['requests']:>8}  {g['share'] * 100:5.1f} %  {g['errors']:>6}"
                             f"  {g['p50_ms']:7.1f}  {g['p95_ms']:7.1f}  {g['p99_ms']:7.1f}")
        return "\n".join(lines)


class _Client:
    """One keep-alive connection per worker thread; reconnects after any failure."""

    def __init__(self, scheme: str, host: str, port: int, timeout_s: float):
        self.factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict) -> tuple[int, http.client.HTTPMessage]:
        if self.conn is None:
            self.conn = self.factory(self.host, self.port, timeout=self.timeout_s)
        try:
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            response.read()
            if response.will_close:
                self.close()
            return response.status, response.headers
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(url: str, requests: int, concurrency: int, paths: list[str] | None = None,
             timeout_s: float = 5.0, max_seconds: float = 300.0, keep_alive: bool = True) -> LoadReport:
    """Send `requests` GETs (fewer if max_seconds passes first) with `concurrency` threads.

    With several `paths` (each starting with '/'), request i goes to paths[i % len(paths)].
    """
    parts = urllib.parse.urlsplit(url)
    base_path = parts.path or "/"
    targets = paths or [base_path + (f"?{parts.query}" if parts.query else "")]
    port = parts.port or (443 if parts.scheme == "https" else 80)
    headers = {"User-Agent": "apigw-loadtest", "Accept": "application/json"}
    if not keep_alive:
        headers["Connection"] = "close"
    samples: list[Sample] = []
    lock = threading.Lock()
    next_index = iter(range(requests))
    t0 = time.monotonic()
    deadline = t0 + max_seconds

    def worker() -> None:
        client = _Client(parts.scheme, parts.hostname, port, timeout_s)
        local: list[Sample] = []
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    break
                path = targets[i % len(targets)]
                start = time.monotonic()
                try:
                    status, h = client.get(path, headers)
                    instance = next((h[k] for k in INSTANCE_HEADERS if h.get(k)), UNKNOWN)
                    local.append(Sample(start - t0, time.monotonic() - start, status, instance,
                                        h.get(GATEWAY_HEADER) or UNKNOWN, path))
                except (OSError, http.client.HTTPException) as err:
                    local.append(Sample(start - t0, time.monotonic() - start, None, UNKNOWN, UNKNOWN, path,
                                        error=type(err).__name__))
        finally:
            client.close()
            with lock:
                samples.extend(local)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max_seconds + timeout_s + 5)
    duration = time.monotonic() - t0
    samples.sort(key=lambda s: s.started)
    return LoadReport(url=url, requests=requests, concurrency=concurrency, duration_s=duration, samples=samples)


def write_chart(report: LoadReport, path: pathlib.Path) -> pathlib.Path:
    """A PNG: requests and errors per backend instance, latency p50/p95/p99 per instance, per gateway."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report.summary()
    instances, gateways = s["instances"], s["gateways"]
    fig, axes = plt.subplots(3, 1, figsize=(max(8, 0.9 * len(instances) + 3), 11))
    names = list(instances)
    x = range(len(names))
    ok = [instances[n]["requests"] - instances[n]["errors"] for n in names]
    errors = [instances[n]["errors"] for n in names]
    axes[0].bar(x, ok, color="#4C78A8", label="answered")
    axes[0].bar(x, errors, bottom=ok, color="#E45756", label="errors")
    axes[0].set_xticks(list(x), names, rotation=30, ha="right")
    axes[0].set_ylabel("requests")
    axes[0].set_title(f"Requests per backend instance ({s['requests']} requests, "
                      f"{s['error_rate'] * 100:.2f} % errors, {s['throughput_rps']:.0f} req/s)")
    axes[0].legend()
    width = 0.27
    for k, (q, color) in enumerate(((50, "#72B7B2"), (95, "#F58518"), (99, "#B279A2"))):
        axes[1].bar([i + (k - 1) * width for i in x], [instances[n][f"p{q}_ms"] for n in names], width,
                    label=f"p{q}", color=color)
    axes[1].set_xticks(list(x), names, rotation=30, ha="right")
    axes[1].set_ylabel("latency (ms)")
    axes[1].set_title("Latency per backend instance (client side)")
    axes[1].legend()
    gnames = list(gateways)
    axes[2].bar(range(len(gnames)), [gateways[n]["requests"] for n in gnames], color="#54A24B")
    axes[2].set_xticks(range(len(gnames)), gnames)
    axes[2].set_ylabel("requests")
    axes[2].set_title("Requests per gateway instance")
    fig.suptitle(report.url)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http:// or https:// URL with a host")
    try:
        _ = parts.port  # raises ValueError for a port that is not a number from 1 to 65535
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: the port is not a number from 1 to 65535") from None
    return value


def _bounded(lo: int, hi: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not lo <= number <= hi:
            raise argparse.ArgumentTypeError(f"{number} is not from {lo} to {hi}")
        return number
    return parse


def _path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a path starting with '/' without spaces")
    return value


DEFAULT_MAX_ERROR_RATE = 1.0
"""Percent of requests that may fail (no answer, or a status >= 400) before the run fails."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="loadtest", description="Bounded HTTP load against a stack's URL.")
    parser.add_argument("--url", required=True, type=_url, help="the stack's URL, e.g. http://127.0.0.1:8000/users")
    parser.add_argument("--requests", type=_bounded(1, MAX_REQUESTS), default=600, help="how many (default 600)")
    parser.add_argument("--concurrency", type=_bounded(1, MAX_CONCURRENCY), default=8,
                        help=f"parallel connections (default 8, at most {MAX_CONCURRENCY})")
    parser.add_argument("--path", action="append", type=_path, dest="paths",
                        help="request these paths of the URL's host in turn instead of the URL's own path")
    parser.add_argument("--timeout", type=_bounded(1, 120), default=5, help="seconds per request (default 5)")
    parser.add_argument("--max-seconds", type=_bounded(1, 3600), default=300,
                        help="stop sending after this many seconds (default 300)")
    parser.add_argument("--out", default="build/loadtest", help="directory for loadtest.json and loadtest.png")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib needed)")
    parser.add_argument("--max-error-rate", type=float, default=DEFAULT_MAX_ERROR_RATE, metavar="PERCENT",
                        help=f"exit 1 if the error rate (percent) is above this (default {DEFAULT_MAX_ERROR_RATE}: "
                             "a load test that cannot reach its target fails; 100 never fails)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_load(args.url, args.requests, args.concurrency, args.paths, args.timeout, args.max_seconds)
    print(report.table())
    out = pathlib.Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "loadtest.json").write_text(json.dumps({**report.summary(),
                                                       "samples": [asdict(s) for s in report.samples]}, indent=1))
        print(f"\nresults: {out / 'loadtest.json'}")
        if not args.no_chart:
            try:
                print(f"chart: {write_chart(report, out / 'loadtest.png')}")
            except ImportError:
                print("chart: skipped, matplotlib is not installed (pip install -r requirements.txt)",
                      file=sys.stderr)
    except OSError as err:
        print(f"loadtest: --out {args.out}: cannot write the results: {err.strerror or err}", file=sys.stderr)
        return 2
    if report.error_rate * 100 > args.max_error_rate:
        print(f"error rate {report.error_rate * 100:.2f} % is above --max-error-rate {args.max_error_rate}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
