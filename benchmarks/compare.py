"""Bugsift and Label Studio 1.23.2 side by side on the same workload (`make bench-compare`).

    .venv/bin/python benchmarks/compare.py [--items 100000] [--requests 50] [--keep]

Not a ``bench_*.py`` script, so `make bench` does not run it (it installs a second application).

1. Installs Label Studio 1.23.2 in its own virtualenv, var/bench/labelstudio-venv (outside the
   project's .venv), on the first run; reuses it afterwards.
2. Writes one seeded workload in both tools' import formats (benchmarks/_compare_workload.py):
   ``--items`` reports with 3 annotators x 4 dimensions of labels each (1.2 million labels for
   100,000), plus a few reports labelled by two of the annotators only, so the first annotator
   has the same open work in both tools.
3. Starts each app's default server on 127.0.0.1, each on SQLite in a temporary data dir:
   ``label-studio start`` (Django's runserver) and ``manage.py runserver --noreload`` (with
   DJANGO_DEBUG=0, as Label Studio's default DEBUG is off).
4. Runs, block by block and the apps taking turns (who goes first alternates): import (through
   each tool's documented path), next task (API), save 4 choices (API, and as the browser does),
   list page 1, export CSV (time and the server's peak RSS), study overview and disagreements.
   Every request opens a new connection; ``--requests`` sequential requests a block; p50 / p99.
5. Prints one table: both apps' figures, the ratio (Label Studio / Bugsift; above 1 means Bugsift
   is faster or smaller) and the 1-minute load average at the end of each block.

What each row measures, when the tools differ:

* import: Label Studio imports tasks with their annotations in one request per chunk of
  ``--chunk`` tasks (its upload limit is 250 MB a request); Bugsift runs ``manage.py
  import_reports`` then ``manage.py import_labels`` (whole processes, start-up included).
* save (as the browser does): Bugsift posts its labelling form (302 to the next item); Label
  Studio's labelling page is a JavaScript app that posts the same API call with the session
  cookie and CSRF header, which is what is timed.
* list page 1: Bugsift's items page is server-rendered; Label Studio's data manager page is an
  HTML shell that fetches ``/api/tasks?page=1`` -- both requests are timed, as one.
* overview: Bugsift's study page; Label Studio's project API (its counts drive the project page).
  Disagreements: Label Studio's open-source edition has no agreement or disagreement view.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import _compare_workload as workload  # noqa: E402
import _labelstudio as ls  # noqa: E402
from _server import BENCH_ENCRYPTION_KEY, free_port  # noqa: E402
from _table import print_grid  # noqa: E402
from bench_labelling import percentile  # noqa: E402

SLUG = "bench-compare"
PASSWORD = ls.PASSWORD
OWNER = "bench_cmp_owner"


# --- HTTP: one new connection per request --------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    ms: float

    def json(self):
        return json.loads(self.body)


@dataclass
class Http:
    """Requests to 127.0.0.1:port, each on a new connection (``Connection: close``), with cookies."""

    port: int
    headers: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        headers: dict | None = None,
        timeout: float = 14400,
        sink=None,
    ) -> Answer:
        all_headers = {"Host": f"127.0.0.1:{self.port}", "Connection": "close", **self.headers, **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            if sink is None:
                content = response.read()
            else:
                content = b""
                while chunk := response.read(1 << 16):
                    sink(chunk)
            ms = (time.perf_counter() - started) * 1000
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return Answer(response.status, dict(response.getheaders()), content, ms)

    def get(self, path, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def send_json(self, method, path, data, **kw) -> Answer:
        return self.request(
            method,
            path,
            body=json.dumps(data),
            headers={"Content-Type": "application/json", **kw.pop("headers", {})},
            **kw,
        )

    def post_form(self, path, form: dict, **kw) -> Answer:
        return self.request(
            "POST",
            path,
            body=urllib.parse.urlencode(form, doseq=True),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{self.port}{path}",
            },
        )

    def post_file(self, path, name: str, file: Path) -> Answer:
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file.name}"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        body = head + file.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self.request(
            "POST", path, body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )


def expect(answer: Answer, status, what: str) -> Answer:
    statuses = status if isinstance(status, tuple) else (status,)
    if answer.status not in statuses:
        raise SystemExit(f"{what}: HTTP {answer.status}, expected {status}: {answer.body[:600]!r}")
    return answer


def csrf_from(content: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)
    if not match:
        raise SystemExit("no CSRF token in the login page")
    return match.group(1).decode()


# --- processes -------------------------------------------------------------------------------------


class RssSampler:
    """Peak resident set (VmRSS, MB) of one process, polled every 20 ms from /proc while running."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self.baseline = self.read()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.read())
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.read())


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def timed_command(argv: list[str], *, env: dict, cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of a whole command, measured by /usr/bin/time."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[1:4])} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    found = re.findall(r"MAXRSS_KB=(\d+)", done.stderr)
    return seconds, (int(found[-1]) / 1024 if found else float("nan")), done.stdout.strip()


# --- Bugsift ---------------------------------------------------------------------------------------


class Bugsift:
    name = "Bugsift"

    def __init__(self, var_dir: Path, port: int, log_file):
        self.var_dir, self.port, self.log_file = var_dir, port, log_file
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")},
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "benchmark-only-secret-" + "x" * 40,
            "BUGSIFT_FIELD_ENCRYPTION_KEY": BENCH_ENCRYPTION_KEY,
            "DJANGO_SECURE_COOKIES": "0",
            "BUGSIFT_VAR_DIR": str(var_dir),
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        self.python = str(ROOT / ".venv" / "bin" / "python")
        self.process = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [self.python, "manage.py", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self):
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("createsuperuser", "--noinput", "--username", OWNER, "--email", "owner@bench.localhost")
        names = json.dumps(list(workload.ANNOTATORS))
        self.manage(
            "shell",
            "-c",
            "import json\nfrom django.contrib.auth import get_user_model\n"
            f"for n in json.loads({names!r}): get_user_model().objects.create_user(n, password={PASSWORD!r})",
        )
        self.process = subprocess.Popen(
            [self.python, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if Http(self.port).get("/healthz/", timeout=5).status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit("Bugsift's runserver did not answer /healthz/ within 120 s")
        self.owner = self.token_client(OWNER)
        self.annotator = self.token_client(workload.ANNOTATORS[0])
        self.owner_browser = self.browser(OWNER)
        self.annotator_browser = self.browser(workload.ANNOTATORS[0])

    def token_client(self, username) -> Http:
        answer = expect(
            Http(self.port).post_form("/api/auth/token/", {"username": username, "password": PASSWORD}),
            200,
            f"Bugsift token for {username}",
        )
        return Http(self.port, headers={"Authorization": f"Token {answer.json()['token']}"})

    def browser(self, username) -> Http:
        client = Http(self.port)
        token = csrf_from(client.get("/accounts/login/").body)
        login = client.post_form(
            "/accounts/login/", {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
        if login.status != 302 or "sessionid" not in client.cookies:
            raise SystemExit(f"could not log {username} in to Bugsift (HTTP {login.status})")
        return client

    # blocks

    def import_(self, w: workload.Workload) -> dict:
        t_reports, mb_reports, out1 = timed_command(
            [self.python, "manage.py", "import_reports", str(w.reports)], env=self.env, cwd=ROOT
        )
        self.manage(
            "create_study",
            SLUG,
            "--template",
            workload.TEMPLATE_SLUG,
            "--owner",
            OWNER,
            "--k",
            "3",
            "--name",
            "Comparison benchmark",
        )
        for name in workload.ANNOTATORS:
            expect(
                self.owner.send_json("POST", f"/api/studies/{SLUG}/members/", {"username": name, "role": "annotator"}),
                201,
                f"add {name} to the study",
            )
        t_labels, mb_labels, out2 = timed_command(
            [self.python, "manage.py", "import_labels", "--study", SLUG, str(w.labels)], env=self.env, cwd=ROOT
        )
        expect(self.owner.request("POST", f"/api/studies/{SLUG}/assignments/"), (200, 201), "make assignments")
        print(f"  Bugsift: {out1.splitlines()[-1] if out1 else ''} | {out2.splitlines()[-1] if out2 else ''}")
        return {
            "seconds": t_reports + t_labels,
            "peak_mb": max(mb_reports, mb_labels),
            "detail": f"reports {t_reports:.1f}s + labels {t_labels:.1f}s",
        }

    def next_task(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            answer = expect(self.annotator.get(f"/api/studies/{SLUG}/next-item/"), 200, "Bugsift next-item")
            out.append(answer.ms)
        return out

    def _values(self, w, i):
        return {code: cats[(i * (k + 3)) % len(cats)] for k, (code, cats) in enumerate(w.dimensions)}

    def save_api(self, w, n: int) -> list[float]:
        out = []
        for i in range(n):
            item = expect(self.annotator.get(f"/api/studies/{SLUG}/next-item/"), 200, "Bugsift next-item").json()
            answer = self.annotator.send_json(
                "PUT",
                f"/api/studies/{SLUG}/items/{item['item']}/annotations/",
                {"values": self._values(w, i), "time_spent_ms": 15000 + i},
            )
            out.append(expect(answer, 200, "Bugsift save (API)").ms)
        return out

    def save_form(self, w, n: int) -> list[float]:
        client, out = self.annotator_browser, []
        for i in range(n):
            start = expect(client.get(f"/studies/{SLUG}/label/"), 302, "Bugsift label redirect")
            path = urllib.parse.urlsplit(start.headers["Location"]).path
            page = expect(client.get(path), 200, "Bugsift labelling page")
            form = {"csrfmiddlewaretoken": csrf_from(page.body), "time_spent_ms": str(15000 + i)}
            form.update({f"value-{code}": value for code, value in self._values(w, i + 1).items()})
            form.update({f"note-{code}": "" for code, _ in w.dimensions})
            out.append(expect(client.post_form(path, form), 302, "Bugsift save (form)").ms)
        return out

    def list_page(self, n: int) -> list[float]:
        return [
            expect(self.owner_browser.get(f"/studies/{SLUG}/items/"), 200, "Bugsift items page").ms for _ in range(n)
        ]

    def export_csv(self) -> dict:
        size = [0]
        with RssSampler(self.process.pid) as rss:
            answer = self.owner.get(
                f"/api/studies/{SLUG}/export/?format=csv", sink=lambda chunk: size.__setitem__(0, size[0] + len(chunk))
            )
        expect(answer, 200, "Bugsift export")
        t_cmd, mb_cmd, _ = timed_command(
            [self.python, "manage.py", "export_study", SLUG, "--format", "csv", "--output", os.devnull],
            env=self.env,
            cwd=ROOT,
        )
        return {
            "seconds": answer.ms / 1000,
            "peak_mb": rss.peak,
            "baseline_mb": rss.baseline,
            "bytes": size[0],
            "command": (t_cmd, mb_cmd),
        }

    def overview(self, n: int) -> list[float]:
        return [expect(self.owner_browser.get(f"/studies/{SLUG}/"), 200, "Bugsift study page").ms for _ in range(n)]

    def disagreements(self, n: int) -> list[float]:
        return [
            expect(self.owner_browser.get(f"/studies/{SLUG}/disagreements/"), 200, "Bugsift disagreements").ms
            for _ in range(n)
        ]


# --- Label Studio ----------------------------------------------------------------------------------


class LabelStudio:
    name = "Label Studio"

    def __init__(self, data_dir: Path, port: int, log_path: Path):
        self.data_dir, self.port, self.log_path = data_dir, port, log_path
        self.process = None

    def start(self):
        self.log_file = self.log_path.open("w")
        self.process = ls.start(port=self.port, data_dir=self.data_dir, log_file=self.log_file)
        ls.wait_ready(self.port, self.process, self.log_path)
        self.member_ids = ls.add_members(data_dir=self.data_dir, usernames=workload.ANNOTATORS)
        self.api = Http(self.port, headers={"Authorization": f"Token {ls.TOKEN}"})
        expect(self.api.get("/api/current-user/whoami"), 200, "Label Studio token")
        self.browser = Http(self.port)
        page = self.browser.get("/user/login/")
        login = self.browser.post_form(
            "/user/login/",
            {
                "email": ls.email(workload.ANNOTATORS[0]),
                "password": PASSWORD,
                "csrfmiddlewaretoken": csrf_from(page.body),
            },
        )
        if login.status != 302 or "sessionid" not in self.browser.cookies:
            raise SystemExit(f"could not log in to Label Studio (HTTP {login.status}): {login.body[:300]!r}")
        self.browser.headers = {
            "X-CSRFToken": self.browser.cookies.get("csrftoken", ""),
            "Referer": f"http://127.0.0.1:{self.port}/",
        }

    def import_(self, w: workload.Workload) -> dict:
        project = expect(
            self.api.send_json(
                "POST",
                "/api/projects/",
                {
                    "title": "Comparison benchmark",
                    "label_config": w.ls_config.read_text(),
                    "maximum_annotations": 3,
                },
            ),
            201,
            "Label Studio project",
        ).json()
        self.project = project["id"]
        seconds, created = 0.0, 0
        with RssSampler(self.process.pid) as rss:
            for chunk in w.ls_task_files:
                answer = expect(
                    self.api.post_file(f"/api/projects/{self.project}/import", "file", chunk),
                    201,
                    "Label Studio import",
                )
                seconds += answer.ms / 1000
                created += answer.json().get("task_count", 0)
        counts = self.api.get(f"/api/projects/{self.project}/").json()
        print(
            f"  Label Studio: {created} tasks imported; project: {counts.get('task_number')} tasks, "
            f"{counts.get('total_annotations_number')} annotations"
        )
        return {"seconds": seconds, "peak_mb": rss.peak, "detail": f"{len(w.ls_task_files)} request(s)"}

    def next_task(self, n: int) -> list[float]:
        return [
            expect(self.api.get(f"/api/projects/{self.project}/next/"), 200, "Label Studio next").ms for _ in range(n)
        ]

    def _values(self, w, i):
        return {code: cats[(i * (k + 3)) % len(cats)] for k, (code, cats) in enumerate(w.dimensions)}

    def _save(self, client: Http, w, n: int, what: str, offset: int) -> list[float]:
        out = []
        for i in range(n):
            task = expect(client.get(f"/api/projects/{self.project}/next/"), 200, "Label Studio next").json()
            answer = client.send_json(
                "POST",
                f"/api/tasks/{task['id']}/annotations/?project={self.project}",
                {
                    "result": workload.ls_result(self._values(w, i + offset)),
                    "lead_time": 15.0 + i,
                    "project": self.project,
                },
            )
            out.append(expect(answer, 201, what).ms)
        return out

    def save_api(self, w, n):
        return self._save(self.api, w, n, "Label Studio save (API)", 0)

    def save_form(self, w, n):
        return self._save(self.browser, w, n, "Label Studio save (session, as its UI)", 1)

    def list_page(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            shell = expect(self.browser.get(f"/projects/{self.project}/data/"), 200, "Label Studio data page")
            tasks = expect(
                self.browser.get(f"/api/tasks?page=1&page_size=30&project={self.project}"),
                200,
                "Label Studio tasks page 1",
            )
            out.append(shell.ms + tasks.ms)
        return out

    def export_csv(self) -> dict:
        size = [0]
        with RssSampler(self.process.pid) as rss:
            answer = self.api.get(
                f"/api/projects/{self.project}/export?exportType=CSV",
                sink=lambda chunk: size.__setitem__(0, size[0] + len(chunk)),
            )
        expect(answer, 200, "Label Studio export")
        return {"seconds": answer.ms / 1000, "peak_mb": rss.peak, "baseline_mb": rss.baseline, "bytes": size[0]}

    def overview(self, n: int) -> list[float]:
        return [
            expect(self.api.get(f"/api/projects/{self.project}/"), 200, "Label Studio project").ms for _ in range(n)
        ]


# --- the run ---------------------------------------------------------------------------------------


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def p50_p99(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b and a == a and b == b else "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="fully labelled reports (default 100000)")
    parser.add_argument("--requests", type=int, default=50, help="sequential requests a block (default 50)")
    parser.add_argument("--chunk", type=int, default=10_000, help="Label Studio tasks per import request")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and logs (printed at the end)")
    args = parser.parse_args(argv)
    n = args.requests
    open_items = 2 * (n + 2) + 10  # first annotator's open work: the two save blocks, their warm-ups, a margin

    ls.ensure_venv()
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    print(
        f"workload: {args.items:,} reports x 3 annotators x 4 dimensions + {open_items} open reports "
        f"(seed {args.seed}) in {tmp}",
        flush=True,
    )
    started = time.perf_counter()
    w = workload.build(tmp / "workload", items=args.items, open_items=open_items, seed=args.seed, ls_chunk=args.chunk)
    print(f"  {w.total_reports:,} reports, {w.labels_written:,} labels written ({time.perf_counter() - started:.0f}s)")

    bs_log = (tmp / "bugsift.log").open("w")
    bugsift = Bugsift(tmp / "bugsift-var", free_port(), bs_log)
    studio = LabelStudio(tmp / "labelstudio-data", free_port(), tmp / "labelstudio.log")
    rows = []
    try:
        print("starting Label Studio (label-studio start) and Bugsift (manage.py runserver) ...", flush=True)
        studio.start()
        bugsift.start()

        def block(label, first, second, run):
            """Run ``run(app)`` for both apps in turn; returns {app name: (result, load at its end)}."""
            out = {}
            for app in (first, second):
                print(f"  {label}: {app.name} ...", flush=True)
                result = run(app)
                out[app.name] = (result, load())
            return out

        apps = [studio, bugsift]

        def turn(i):
            return (apps[i % 2], apps[(i + 1) % 2])

        # 1. import
        res = block("import", *turn(0), lambda app: app.import_(w))
        (l_imp, l_load), (b_imp, b_load) = res[studio.name], res[bugsift.name]
        rows.append(
            (
                f"import {w.total_reports:,} reports + {w.labels_written:,} labels (s)",
                f"{l_imp['seconds']:.1f}",
                f"{b_imp['seconds']:.1f}",
                ratio(l_imp["seconds"], b_imp["seconds"]),
                l_load,
                b_load,
            )
        )
        rows.append(
            (
                "  import: reports/s",
                f"{w.total_reports / l_imp['seconds']:,.0f}",
                f"{w.total_reports / b_imp['seconds']:,.0f}",
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "  import: peak RSS (LS server / Bugsift commands)",
                f"{l_imp['peak_mb']:.0f} MB",
                f"{b_imp['peak_mb']:.0f} MB",
                ratio(l_imp["peak_mb"], b_imp["peak_mb"]),
                "",
                "",
            )
        )
        print(f"  import detail: Label Studio {l_imp['detail']}; Bugsift {b_imp['detail']}")

        # warm-up of every later path (not measured)
        for app in apps:
            app.next_task(2)
            app.list_page(2)
            app.overview(2)

        timed = [
            ("next task, API", lambda app: app.next_task(n)),
            ("save 4 choices, API", lambda app: app.save_api(w, n)),
            ("save 4 choices, form / as the UI", lambda app: app.save_form(w, n)),
            ("list page 1 (HTML; LS: shell + /api/tasks page 1)", lambda app: app.list_page(n)),
            ("study overview (LS: project API)", lambda app: app.overview(n)),
        ]
        for i, (label, run) in enumerate(timed, start=1):
            res = block(label, *turn(i), run)
            (lv, ll), (bv, bl) = res[studio.name], res[bugsift.name]
            rows.append(
                (
                    f"{label} p50 / p99 (n={len(bv)})",
                    p50_p99(lv),
                    p50_p99(bv),
                    ratio(percentile(lv, 50), percentile(bv, 50)),
                    ll,
                    bl,
                )
            )

        print("  disagreements page: Bugsift ...", flush=True)
        bv, bl = bugsift.disagreements(n), load()
        rows.append(
            (f"disagreements page p50 / p99 (n={len(bv)})", "not in the open-source edition", p50_p99(bv), "-", "-", bl)
        )

        res = block("export CSV", *turn(len(timed) + 1), lambda app: app.export_csv())
        (le, ll), (be, bl) = res[studio.name], res[bugsift.name]
        rows.append(
            (
                "export CSV over HTTP (s)",
                f"{le['seconds']:.2f}",
                f"{be['seconds']:.2f}",
                ratio(le["seconds"], be["seconds"]),
                ll,
                bl,
            )
        )
        rows.append(
            (
                "  export: server peak RSS (idle before)",
                f"{le['peak_mb']:.0f} MB ({le['baseline_mb']:.0f})",
                f"{be['peak_mb']:.0f} MB ({be['baseline_mb']:.0f})",
                ratio(le["peak_mb"], be["peak_mb"]),
                "",
                "",
            )
        )
        rows.append(("  export: CSV size", f"{le['bytes'] / 1e6:.1f} MB", f"{be['bytes'] / 1e6:.1f} MB", "", "", ""))
        t_cmd, mb_cmd = be["command"]
        rows.append(
            (
                "  Bugsift `manage.py export_study --format csv` (whole process)",
                "-",
                f"{t_cmd:.2f} s, {mb_cmd:.0f} MB",
                "",
                "",
                "",
            )
        )
    finally:
        stop(studio.process)
        stop(bugsift.process)
        bs_log.close()
        if getattr(studio, "log_file", None):
            studio.log_file.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print_grid(
        f"Label Studio {ls.VERSION} vs Bugsift: {args.items:,} labelled reports, 3 annotators x 4 dimensions, "
        f"SQLite, each app's default dev server, {n} sequential requests a block, a new connection each",
        ("measure", "Label Studio", "Bugsift", "ratio LS/Bugsift", "load LS", "load Bugsift"),
        rows,
    )
    print(
        f"  load: 1-minute load average at the end of each block ({os.cpu_count()} CPUs); "
        "a ratio above 1 means Bugsift is faster or smaller (for latencies: of the p50s)"
    )
    print(
        "  import: Label Studio's time is its import requests; Bugsift's is two whole commands (import_reports,\n"
        "  import_labels), Django start-up included. Export: each tool's own CSV (Label Studio: every task with\n"
        "  its data and annotations; Bugsift: one row per item with its final labels), hence the sizes differ."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
