"""Fixtures of the SDK suite: the fake provider, the gateway binary as a user starts it, and SDK clients.

Each test module gets its own fake provider and its own gateway process, both on free ports of
127.0.0.1; each test starts with an empty record of provider requests. Every wait is bounded: the
gateway must answer GET /health/liveliness within READY_LIMIT_S, and a failed test shows the
gateway's stderr.

Run: `bash tests/sdk/run.sh` from the repository root (set TOLLGATE_BIN to test another binary).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from fake_provider import FakeProvider, Recorded

REPO_ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-test-master"
PROVIDER_KEY = "sk-provider-secret"
MOCK_TEXT = "hello from mock"
# Every model group the config declares, as /v1/models must list them.
GROUPS = ("gpt-4o-mini", "rate-limited", "bad-request", "missing-upstream", "text-embedding-3-small", "mocked")

READY_LIMIT_S = 30.0
BUILD_LIMIT_S = 1200.0
# Per-request deadline of the SDK clients.
CLIENT_TIMEOUT = openai.Timeout(20.0, connect=5.0)
# A free port can be taken by someone else between our probe and the gateway's bind: try again.
START_ATTEMPTS = 3

# The tool the tool-call tests offer.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


def only_chat_request(provider: FakeProvider) -> Recorded:
    """The one chat request the provider received."""
    chats = [r for r in provider.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 1, f"provider saw {len(chats)} chat requests: {provider.requests}"
    return chats[0]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_yaml(api_base: str) -> str:
    """The LiteLLM config the gateway serves: one group per behaviour under test."""

    def group(name: str, upstream: str) -> str:
        return (
            f"  - model_name: {name}\n"
            f"    litellm_params:\n"
            f"      model: openai/{upstream}\n"
            f"      api_base: {api_base}\n"
            f"      api_key: {PROVIDER_KEY}\n"
        )

    return (
        "model_list:\n"
        + group("gpt-4o-mini", "gpt-4o-mini")
        + group("rate-limited", "fail-429")
        + group("bad-request", "fail-400")
        + group("missing-upstream", "fail-404")
        + group("text-embedding-3-small", "text-embedding-3-small")
        + "  - model_name: mocked\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f'      mock_response: "{MOCK_TEXT}"\n'
        "router_settings:\n"
        # Errors must reach the client as the provider gave them, once: no retries to wait out.
        "  num_retries: 0\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )


@dataclass
class Gateway:
    """A running gateway process."""

    proc: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients use."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stderr(self, limit: int = 20_000) -> str:
        """The tail of what the gateway wrote to stderr."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def stop(self) -> None:
        """Kills the process and reaps it."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _liveliness(port: int) -> int | None:
    """The status of GET /health/liveliness, or None when nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/health/liveliness")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _start_gateway(binary: Path, config: Path, workdir: Path, attempt: int) -> Gateway:
    port = free_port()
    state = workdir / f"state-{attempt}"
    state.mkdir()
    stderr_path = workdir / f"gateway-{attempt}.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.setdefault("RUST_LOG", "info")
    with open(stderr_path, "wb") as err, open(workdir / f"gateway-{attempt}.stdout", "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
             "--state-dir", str(state)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
        )
    gw = Gateway(proc, port, stderr_path)
    deadline = time.monotonic() + READY_LIMIT_S
    status = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return gw
        status = _liveliness(port)
        if status == 200:
            return gw
        # Poll interval of the readiness check, not a stand-in for one.
        time.sleep(0.05)
    gw.stop()
    pytest.fail(
        f"gateway did not answer GET /health/liveliness with 200 within {READY_LIMIT_S:.0f}s "
        f"(last status: {status})\n--- gateway stderr ---\n{gw.stderr()}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def gateway_binary() -> Path:
    """The gateway binary: $TOLLGATE_BIN, else target/debug/tollgate, built once if missing."""
    env_bin = os.environ.get("TOLLGATE_BIN")
    if env_bin:
        path = Path(env_bin)
        if not path.is_file():
            pytest.fail(f"TOLLGATE_BIN={env_bin} is not a file", pytrace=False)
        return path
    path = REPO_ROOT / "target" / "debug" / "tollgate"
    if not path.is_file():
        try:
            build = subprocess.run(
                ["cargo", "build", "--bin", "tollgate"],
                cwd=REPO_ROOT,
                capture_output=True,
                timeout=BUILD_LIMIT_S,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"cargo build did not finish within {BUILD_LIMIT_S:.0f}s", pytrace=False)
        if build.returncode != 0 or not path.is_file():
            pytest.fail(
                f"cargo build failed (exit {build.returncode}):\n{build.stderr.decode(errors='replace')[-8000:]}",
                pytrace=False,
            )
    return path


@pytest.fixture(scope="module")
def fake_provider() -> Iterator[FakeProvider]:
    """The module's fake provider, serving until the module ends."""
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(
    gateway_binary: Path, fake_provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """The module's gateway, started on a free port with the suite's config, ready, killed at the end."""
    workdir = tmp_path_factory.mktemp("gateway")
    config = workdir / "config.yaml"
    config.write_text(config_yaml(fake_provider.api_base))
    gw = None
    for attempt in range(START_ATTEMPTS):
        gw = _start_gateway(gateway_binary, config, workdir, attempt)
        if gw.proc.poll() is None:
            break
        lost_port = "address already in use" in gw.stderr().lower()
        if not lost_port or attempt == START_ATTEMPTS - 1:
            pytest.fail(
                f"gateway exited with {gw.proc.returncode} before it was ready\n"
                f"--- gateway stderr ---\n{gw.stderr()}",
                pytrace=False,
            )
    assert gw is not None
    yield gw
    gw.stop()


@pytest.fixture
def provider(fake_provider: FakeProvider, gateway: Gateway) -> FakeProvider:
    """The fake provider with an empty record, behind a running gateway."""
    fake_provider.reset()
    return fake_provider


def _http_client() -> openai.DefaultHttpxClient:
    # No proxy from the environment: the gateway is on loopback.
    return openai.DefaultHttpxClient(trust_env=False, timeout=CLIENT_TIMEOUT)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    """A sync SDK client on the gateway with the master key, no retries and a deadline."""
    with openai.OpenAI(
        base_url=gateway.base_url,
        api_key=MASTER_KEY,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=_http_client(),
    ) as c:
        yield c


@pytest_asyncio.fixture
async def aclient(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    """An async SDK client on the gateway with the master key, no retries and a deadline."""
    async with openai.AsyncOpenAI(
        base_url=gateway.base_url,
        api_key=MASTER_KEY,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False, timeout=CLIENT_TIMEOUT),
    ) as c:
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attaches the gateway's stderr to every failed test's report."""
    report = yield
    gw = getattr(item, "funcargs", {}).get("gateway")
    if report.failed and isinstance(gw, Gateway):
        report.sections.append(("gateway stderr", gw.stderr(8000)))
    return report
