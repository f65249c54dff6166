"""A real MediaWiki on loopback for tests: Debian's package, SQLite in a temp dir, PHP's built-in server.

Use it from a test module with `from tests.mediawiki_server import mediawiki_server_fixture  # noqa: F401`
and a `mediawiki_server` argument (the fixture is registered under that name).
Nothing outside the temp dir is touched: MediaWiki finds its LocalSettings.php through the
MW_CONFIG_FILE environment variable (read by MediaWiki's bootstrap, for maintenance scripts and for
`php -S` alike), so /etc/mediawiki and /usr/share/mediawiki stay as they are and parallel runs do
not meet. Needs the packages `mediawiki php-cli php-sqlite3 php-xml php-mbstring php-intl`.
"""

from __future__ import annotations

import bz2
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

MEDIAWIKI_DIR = Path("/usr/share/mediawiki")
SAMPLE_DUMP = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "mediawiki_enwiki_sample_gensim"
    / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
)
BOT_APP = "whoknows"
BOT_GRANTS = "basic,highvolume,editpage,createeditmovepage,delete"

# Appended to the installer's LocalSettings.php. synchronous=OFF: the import commits page by page and
# fsync made it take 17 s instead of 3 s; a throwaway test wiki does not need durable writes.
_EXTRA_SETTINGS = """
# --- added by tests/mediawiki_server.py ---
$wgDBservers = [ [
\t'host' => '', 'user' => '', 'password' => '', 'dbname' => $wgDBname, 'type' => 'sqlite',
\t'load' => 1, 'flags' => DBO_DEFAULT, 'variables' => [ 'synchronous' => 'OFF' ],
] ];
$wgCacheDirectory = "{work}/cache";
$wgUploadDirectory = "{work}/images";
$wgTmpDirectory = "{work}/tmp";
$wgDebugLogGroups['exception'] = "{work}/exception.log";
$wgJobRunRate = 0;
$wgShowExceptionDetails = true;
"""
_PRIVATE_SETTINGS = """
$wgGroupPermissions['*']['read'] = false;
$wgGroupPermissions['*']['edit'] = false;
$wgGroupPermissions['*']['createaccount'] = false;
"""


@dataclass(frozen=True)
class MediaWikiServer:
    """A running wiki: its api.php, the admin account and a bot password for it."""

    api_url: str
    admin_user: str
    admin_password: str
    bot_user: str  # "Admin@whoknows", as action=login wants it
    bot_password: str
    workdir: Path
    setup_s: float

    def secrets(self, source: str) -> dict[str, SecretStr]:
        """The connector secrets for a source reading this wiki."""
        return {
            f"{source}.username": SecretStr(self.bot_user),
            f"{source}.password": SecretStr(self.bot_password),
        }

    @contextmanager
    def admin_session(self) -> Iterator[AdminSession]:
        """A logged-in API session that can edit and delete pages."""
        with httpx.Client(timeout=30.0) as client:
            session = AdminSession(client, self.api_url)
            session.login(self.bot_user, self.bot_password)
            yield session


class AdminSession:
    """Writes to the wiki through its API, as a user would: login, CSRF token, edit, delete."""

    def __init__(self, client: httpx.Client, api_url: str) -> None:
        self._client = client
        self._api_url = api_url
        self._csrf: str | None = None

    def call(self, params: dict[str, Any], *, post: bool = False) -> dict[str, Any]:
        full = {**params, "format": "json", "formatversion": "2"}
        if post:
            response = self._client.post(self._api_url, data=full)
        else:
            response = self._client.get(self._api_url, params=full)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        if "error" in data:
            raise RuntimeError(f"MediaWiki API error: {data['error']}")
        return data

    def login(self, user: str, password: str) -> None:
        token = self.call({"action": "query", "meta": "tokens", "type": "login"})["query"]["tokens"]
        answer = self.call(
            {"action": "login", "lgname": user, "lgpassword": password, "lgtoken": token["logintoken"]},
            post=True,
        )
        if answer["login"]["result"] != "Success":
            raise RuntimeError(f"login failed: {answer['login']}")

    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = str(self.call({"action": "query", "meta": "tokens"})["query"]["tokens"]["csrftoken"])
        return self._csrf

    def edit(self, title: str, text: str, summary: str = "test edit") -> dict[str, Any]:
        data = {"action": "edit", "title": title, "text": text, "summary": summary, "token": self.csrf()}
        return self.call(data, post=True)["edit"]  # type: ignore[no-any-return]

    def delete(self, title: str, reason: str = "test delete") -> dict[str, Any]:
        data = {"action": "delete", "title": title, "reason": reason, "token": self.csrf()}
        return self.call(data, post=True)["delete"]  # type: ignore[no-any-return]

    def page_id(self, title: str) -> int:
        pages = self.call({"action": "query", "titles": title})["query"]["pages"]
        return int(pages[0]["pageid"])


def missing_requirements() -> str | None:
    """Why a real MediaWiki cannot run here, or None."""
    if shutil.which("php") is None:
        return "php is not installed (make system-packages)"
    if not (MEDIAWIKI_DIR / "maintenance" / "install.php").exists():
        return f"MediaWiki is not installed in {MEDIAWIKI_DIR} (make system-packages)"
    probe = subprocess.run(["php", "-m"], capture_output=True, text=True, check=False)
    for module in ("pdo_sqlite", "xml", "mbstring", "intl"):
        if module not in probe.stdout.split():
            return f"the PHP module {module} is missing (make system-packages)"
    return None


@contextmanager
def running_mediawiki(
    workdir: Path, *, dump: Path | None = SAMPLE_DUMP, private: bool = True
) -> Iterator[MediaWikiServer]:
    """Install a fresh wiki under `workdir`, import `dump`, serve it until the block ends."""
    started = time.monotonic()
    for sub in ("db", "conf", "cache", "images", "tmp"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    admin_password = "Admin-" + secrets.token_hex(12)
    bot_password = secrets.token_hex(16)  # bot passwords must be 32+ chars of [0-9a-w]
    settings = workdir / "conf" / "LocalSettings.php"
    env = {**os.environ, "MW_CONFIG_FILE": str(settings)}
    _php(
        [
            str(MEDIAWIKI_DIR / "maintenance" / "install.php"),
            "--dbtype=sqlite",
            f"--dbpath={workdir / 'db'}",
            f"--server=http://127.0.0.1:{port}",
            "--scriptpath=",
            f"--pass={admin_password}",
            f"--confpath={workdir / 'conf'}",
            "WhoKnowsTestWiki",
            "Admin",
        ],
        workdir,
        env,
    )
    extra = _EXTRA_SETTINGS.replace("{work}", str(workdir)) + (_PRIVATE_SETTINGS if private else "")
    with settings.open("a", encoding="utf-8") as handle:
        handle.write(extra)
    if dump is not None:
        xml = workdir / "import.xml"
        with bz2.open(dump) as source, xml.open("wb") as target:
            shutil.copyfileobj(source, target)
        _php(
            [str(MEDIAWIKI_DIR / "maintenance" / "importDump.php"), "--no-updates", "--quiet", str(xml)],
            workdir,
            env,
        )
        xml.unlink()
    _php([str(MEDIAWIKI_DIR / "maintenance" / "initSiteStats.php"), "--update"], workdir, env)
    _php(
        [
            str(MEDIAWIKI_DIR / "maintenance" / "createBotPassword.php"),
            f"--appid={BOT_APP}",
            f"--grants={BOT_GRANTS}",
            "Admin",
            bot_password,
        ],
        workdir,
        env,
    )
    log_path = workdir / "php-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{port}", "-t", str(MEDIAWIKI_DIR)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api_url = f"http://127.0.0.1:{port}/api.php"
    try:
        _wait_until_up(api_url, server, log_path)
        yield MediaWikiServer(
            api_url=api_url,
            admin_user="Admin",
            admin_password=admin_password,
            bot_user=f"Admin@{BOT_APP}",
            bot_password=bot_password,
            workdir=workdir,
            setup_s=time.monotonic() - started,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture(scope="session", name="mediawiki_server")
def mediawiki_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaWikiServer]:
    """A private wiki holding the enwiki sample; log in with `server.secrets(source)`."""
    reason = missing_requirements()
    if reason is not None:
        pytest.fail(f"no real MediaWiki: {reason} (make system-packages installs it)")
    if not SAMPLE_DUMP.exists():
        pytest.fail(f"shared data missing: {SAMPLE_DUMP}; ../shared must sit beside the project")
    with running_mediawiki(tmp_path_factory.mktemp("mediawiki")) as server:
        yield server


def _php(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["php", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        script = Path(args[0]).name
        raise RuntimeError(
            f"{script} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(
    api_url: str, server: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"php -S exited with {server.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        try:
            answer = httpx.get(
                api_url, params={"action": "query", "meta": "siteinfo", "format": "json"}, timeout=5
            )
            if answer.status_code == 200 and isinstance(answer.json(), dict):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{api_url} did not answer within {timeout_s:g}s:\n{log_path.read_text(errors='replace')[-3000:]}"
    )
