"""Memory benchmark: peak RSS of a gunicorn web worker for a ~50 MB crash batch and a ~20 MB label file.

Starts ``gunicorn config.wsgi -w 1`` (DJANGO_DEBUG=0) on a free port, warms the worker up with
a small request of the same kind, resets the worker's peak-RSS mark (``/proc/PID/clear_refs``)
and posts:

* a crash batch of 1,000 reports with ~50 KB reproducers each (~50 MB) to POST /api/crashes/;
* a long-format label file (~20 MB: every annotation of a 20,000-item study, 3 annotators x 4
  dimensions) to POST /api/studies/SLUG/labels/import/ (``--write`` imports it; by default
  ``dry_run=true``: parsed and checked in full, nothing written).

For each it prints the worker's resident memory before, its peak (VmHWM) during the request, the
growth and the growth as a multiple of the body. As the "before" reference it measures, in a
fresh Python process, what the old crash intake did at least: hold the body and ``json.loads``
it (the issue measured 1.1 GB peak for a 200 MB batch, ~5.5x). No target is asserted.

Usage: .venv/bin/python benchmarks/bench_memory.py [--crash-mb 50] [--label-items 20000] [--write]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_mem.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _server  # noqa: E402
from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_mem")
MB = 1024 * 1024


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS


def post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def crash_batch(size_mb: float, tag: str) -> bytes:
    from tests.fakes.crash_traces import crash_report

    per_report = int(size_mb * MB / 1000) - len(json.dumps(crash_report("torch_conv2d_weight", 0)))
    reports = [
        crash_report("torch_conv2d_weight", v, client_id=f"{tag}-{v}", reproducer="x = 1\n" * max(per_report // 6, 1))
        for v in range(1000)
    ]
    return json.dumps(reports).encode()


def label_file(slug: str) -> bytes:
    from django.db import connection

    lines = ["source_id,annotator,dimension,value,note\n"]
    with connection.cursor() as cur:
        cur.execute(
            """SELECT r.source_id, u.username, d.code, a.value, a.note
               FROM labelling_annotation a
               JOIN labelling_studyitem i ON i.id = a.item_id JOIN labelling_study s ON s.id = i.study_id
               JOIN triage_report r ON r.id = i.report_id JOIN auth_user u ON u.id = a.annotator_id
               JOIN labelling_dimension d ON d.id = a.dimension_id
               WHERE s.slug = %s ORDER BY a.id""",
            [slug],
        )
        for row in cur.fetchall():
            lines.append(",".join('"' + str(v).replace('"', '""') + '"' for v in row) + "\n")
    return "".join(lines).encode()


def reference_json_loads(body: bytes) -> int:
    """Peak RSS growth (KB) of a fresh process that holds ``body`` and json.loads it (the old intake)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        code = (
            "import json,sys\n"
            "def kb(field):\n"
            "  return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(field))\n"
            "open('/proc/self/clear_refs','w').write('5'); base=kb('VmRSS')\n"
            "body=open(sys.argv[1],'rb').read(); data=json.loads(body)\n"
            "print(kb('VmHWM')-base)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, f.name], capture_output=True, text=True, check=True)
    return int(out.stdout)


def measure(port: int, pid: int, path: str, body: bytes, headers: dict, expect: set[int]) -> tuple[int, int, float]:
    before = _kb(pid, "VmRSS")
    reset_peak(pid)
    started = time.perf_counter()
    status, data = post(port, path, body, headers)
    seconds = time.perf_counter() - started
    if status not in expect:
        raise SystemExit(f"{path} answered {status}: {data[:500]!r}")
    return before, _kb(pid, "VmHWM"), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crash-mb", type=float, default=50)
    parser.add_argument("--label-items", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="really import the label file (slow)")
    parser.add_argument(
        "--before",
        default="main",
        help="git revision to measure too, as 'before' (exported to a temp dir; '' to skip)",
    )
    args = parser.parse_args(argv)

    setup_django(DB_URL)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from benchmarks._dataset import build_labelled_study
    from triage.models import CrashOccurrence, FuzzerAccount

    Token.objects.filter(user__username__startswith="bench_").delete()  # the builder may delete those users
    built = build_labelled_study(items=args.label_items)
    owner = get_user_model().objects.get(username="bench_owner")
    owner_token = Token.objects.get_or_create(user=owner)[0].key
    bot, _ = get_user_model().objects.get_or_create(username="bench-mem-fuzzer")
    FuzzerAccount.objects.get_or_create(user=bot, defaults={"name": "bench-mem"})
    fuzzer_token = Token.objects.get_or_create(user=bot)[0].key
    CrashOccurrence.objects.filter(account__user=bot).delete()

    labels = label_file(built.slug)
    tag = uuid.uuid4().hex[:8]
    batch = crash_batch(args.crash_mb, tag)
    warm_batch = crash_batch(0.5, tag + "-warm")
    boundary = "bench-memory-boundary"

    def multipart(content: bytes) -> bytes:
        return (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="dry_run"\r\n\r\n'
                f"{'false' if args.write else 'true'}\r\n--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="labels.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )

    label_path = f"/api/studies/{built.slug}/labels/import/"
    label_headers = {
        "Authorization": f"Token {owner_token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    crash_headers = {"Authorization": f"Token {fuzzer_token}", "Content-Type": "application/json"}

    def run(cwd: Path) -> tuple:
        port = _server.free_port()
        env = {"BUGSIFT_MAX_UPLOAD_MB": "1024", "BUGSIFT_MAX_UPLOAD_BYTES": str(1024 * MB)}
        if cwd != ROOT:  # the old code reads the old *_BYTES name; the new refuses it
            env.pop("BUGSIFT_MAX_UPLOAD_MB")
        else:
            env.pop("BUGSIFT_MAX_UPLOAD_BYTES")
        process = _server.start_gunicorn(port=port, db_url=DB_URL, workers="1", extra_env=env, cwd=cwd)
        try:
            pid = worker_pid(process.pid)
            CrashOccurrence.objects.filter(account__user=bot).delete()
            post(port, "/api/crashes/", warm_batch, crash_headers)
            small_labels = b"".join(labels.splitlines(keepends=True)[:1000])
            post(port, label_path, multipart(small_labels), label_headers)
            crash = measure(port, pid, "/api/crashes/", batch, crash_headers, {200, 201})
            label = measure(port, pid, label_path, multipart(labels), label_headers, {200})
        finally:
            _server.stop_gunicorn(process)
        return crash, label

    results = []
    if args.before:
        with tempfile.TemporaryDirectory() as before_dir:
            archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", before_dir], input=archive.stdout, check=True)
            (Path(before_dir) / ".venv").symlink_to(ROOT / ".venv")
            results.append((f"before ({args.before})", run(Path(before_dir))))
    results.append(("now", run(ROOT)))
    reference = reference_json_loads(batch)

    def row(name, body, result):
        before, peak, seconds = result
        growth = (peak - before) * 1024
        return (
            name,
            f"body {len(body) / MB:.1f} MB; RSS {before / 1024:.0f} -> peak {peak / 1024:.0f} MB ({seconds:.1f} s)",
            "-",
            f"growth {growth / MB:.0f} MB = {growth / len(body):.2f}x body",
            None,
        )

    rows = []
    for name, (crash, label) in results:
        rows.append(row(f"{name}: POST /api/crashes/ (1,000 reports)", batch, crash))
        rows.append(row(f"{name}: label file import ({'write' if args.write else 'dry run'})", labels, label))
    rows.append(
        (
            "reference: hold body + json.loads",
            f"body {len(batch) / MB:.1f} MB",
            "-",
            f"growth {reference / 1024:.0f} MB = {reference * 1024 / len(batch):.2f}x body",
            None,
        )
    )
    print_table("Peak RSS of one gunicorn worker (VmHWM) per request", rows)


if __name__ == "__main__":
    main()
