"""Servers under test as real subprocesses: start, wait until they answer, measure, stop.

Every server is bound to 127.0.0.1 on a free port. The server being measured can be pinned
to one core (`taskset`), and the client plus the fake upstream to the other, so "one server
process" means one core, and the numbers do not depend on how the scheduler mixed them.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"


def _app_python() -> Path:
    """The interpreter that runs llmrelay: $BENCH_APP_PYTHON, else this checkout's .venv, else (in
    a git worktree, which has no .venv of its own) the main checkout's. Whichever it is, llmrelay's
    code comes from this checkout's src/ (PYTHONPATH, see `llmrelay`), not the venv's install."""
    given = os.environ.get("BENCH_APP_PYTHON")
    if given:
        return Path(given)
    own = ROOT / ".venv" / "bin" / "python"
    if own.exists():
        return own
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return Path(common).parent / ".venv" / "bin" / "python" if common else own


APP_PY = _app_python()
SRC = ROOT / "src"
TOOLS_PY = WORK / "tools" / "bin" / "python"
LITELLM_BIN = WORK / "litellm" / "bin" / "litellm"
SERVER_CPU = "1"  # the core the server under test gets
CLIENT_CPU = "0"  # the client (this process) and the fake upstream


def raise_fd_limit(wanted: int = 65536) -> int:
    """Open files: as many as allowed (10,000 streams need ~20,000 across the processes)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))
        return wanted
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pin_self(cpu: str = CLIENT_CPU) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {int(cpu)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    health: str  # path that answers 200 when ready
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = WORK / "run"
    cpu: str | None = SERVER_CPU
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_seconds: float = 90.0) -> Server:
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = open(self.cwd / f"{self.name}.log", "wb")
        argv = self.argv
        if self.cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", self.cpu, *argv]
        env = {**os.environ, **self.env}
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.perf_counter() + wait_seconds
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {log.name}")
            if http_ok(self.url + self.health, timeout=0.5):
                self.ready_after = time.perf_counter() - self.started_at
                return self
            time.sleep(0.01)
        self.stop()
        raise TimeoutError(f"{self.name} did not answer {self.health} within {wait_seconds} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_bytes(self, key: str = "VmRSS") -> int:
        """Resident memory of the server (VmHWM: its peak so far). Summed over its children."""
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.pid, *_children(self.pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        running = self.proc is not None and self.proc.poll() is None
        return self if running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    """Direct and indirect children (taskset execs in place; LiteLLM may fork)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found += [int(child), *_children(int(child))]
    return found


def fake_upstream(tokens: int = 200, gap_ms: float = 10.0) -> Server:
    port = free_port()
    argv = [
        str(TOOLS_PY),
        str(BENCH / "fake_upstream.py"),
        "--port",
        str(port),
        "--tokens",
        str(tokens),
        "--gap-ms",
        str(gap_ms),
    ]
    return Server("fake-upstream", argv, port, "/healthz", cpu=CLIENT_CPU)


def llmrelay(
    upstream: Server | None,
    model: str,
    *,
    name: str = "llmrelay",
    src: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """`llmrelay serve` as a user runs it; `src` runs another checkout's code (before/after)."""
    port = free_port()
    settings = {
        "LLMRELAY_PORT": str(port),
        "LLMRELAY_HOST": "127.0.0.1",
        "LLMRELAY_MODEL": model,
        "LLMRELAY_DATABASE_URL": f"sqlite:///{WORK / 'run' / (name + '.db')}",
        "LLMRELAY_DETACH_GRACE_SECONDS": "0",
        "LLMRELAY_MAX_OUTPUT_TOKENS": "100000",
        # A key, as LiteLLM has its master key: checked in memory, like LiteLLM's.
        "LLMRELAY_API_KEYS": "sk-bench",
    }
    if upstream is not None:
        settings.update(
            LLMRELAY_PROVIDER="openai-compatible",
            OPENAI_BASE_URL=upstream.url + "/v1",
            OPENAI_API_KEY="sk-bench",
        )
    settings.update(env or {})
    argv = [str(APP_PY), "-m", "llmrelay", "serve"]
    # This checkout's code (or another revision's), never whatever the venv has installed.
    settings["PYTHONPATH"] = str(src or SRC)
    return Server(name, argv, port, "/healthz", env=settings)


def passthrough(upstream: Server) -> Server:
    port = free_port()
    argv = [str(APP_PY), str(BENCH / "passthrough.py"), "--port", str(port), "--upstream", upstream.url]
    return Server("passthrough", argv, port, "/healthz")


def litellm(upstream: Server, models: list[str]) -> Server:
    """LiteLLM's proxy, one worker, pointed at the fake upstream (its own venv)."""
    port = free_port()
    config = WORK / "run" / "litellm.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    lines = ["model_list:"]
    for model in models:
        lines += [
            f"  - model_name: {model}",
            f"    litellm_params: {{model: openai/{model}, api_base: '{upstream.url}/v1', api_key: sk-fake}}",
        ]
    lines += ["litellm_settings:", "  telemetry: false", "  drop_params: true"]
    config.write_text("\n".join(lines) + "\n")
    argv = [
        str(LITELLM_BIN),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    # A master key, as any real deployment has; the load generator sends it as its bearer token.
    env = {
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "true",
        "LITELLM_MASTER_KEY": "sk-bench",
        # Loopback only: LiteLLM would fetch its price list, blog feed and presets from GitHub.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_BLOG_POSTS": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
        "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
        "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
        "LITELLM_MODEL_COST_MAP_URL": "http://127.0.0.1:9/",
        "LITELLM_BLOG_POSTS_URL": "http://127.0.0.1:9/",
        "LITELLM_ANTHROPIC_BETA_HEADERS_URL": "http://127.0.0.1:9/",
        "LITELLM_AUTOROUTER_PRESETS_URL": "http://127.0.0.1:9/",
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }
    return Server("litellm", argv, port, "/health/liveliness", env=env)
