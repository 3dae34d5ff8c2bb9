"""The ``tahoe-cloud`` commands for cloud.s3: create-node, create-container, check, run's check.

create-node and the in-process command functions run inside the test
process; each command also runs once as a real process, for its exit status
and its one-line messages.
"""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.cli import main as cli
from tahoe_cloud.cli.check import check_node
from tahoe_cloud.cli.clean import clean
from tahoe_cloud.cli.create_container import create_container
from tahoe_cloud.errors import ConfigError
from tahoe_cloud.testing import run
from tests.s3.conftest import new_bucket_name
from tests.s3.moto import MotoServer, free_port
from tests.support.s3 import create_s3_node, new_bucket
from tests.support.stock_client import TAHOE_CLOUD

pytestmark = pytest.mark.s3

REPO = Path(__file__).resolve().parents[2]


def tahoe_cloud(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TAHOE_CLOUD, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=str(REPO),
        timeout=60,
    )


def s3_node(
    tmp_path: Path,
    moto: MotoServer,
    bucket: str,
    *,
    secret: str | None = None,
    key_id: str | None = None,
    url: str | None = None,
    name: str = "node",
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A cloud.s3 node made by ``create-node`` in this process (secret from standard input)."""
    return create_s3_node(
        tmp_path / name,
        moto,
        bucket,
        monkeypatch=monkeypatch,
        secret=secret,
        key_id=key_id,
        url=url,
    )


def test_create_node_cloud_s3(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("the-s3-secret\n")
    done = tahoe_cloud(
        "create-node",
        "--backend",
        "cloud.s3",
        "--s3-bucket",
        "my-bucket",
        "--s3-access-key-id",
        "AKIAEXAMPLE",
        "--s3-url",
        "http://127.0.0.1:9000",
        "--s3-region",
        "eu-west-1",
        "--s3-prefix",
        "node1",
        "--s3-secret-file",
        str(secret_file),
        str(tmp_path / "node"),
    )
    assert done.returncode == 0, done.stderr
    cfg = (tmp_path / "node" / "tahoe.cfg").read_text()
    storage = cfg.split("[storage]\n")[1]
    assert storage.splitlines() == [
        "enabled = true",
        "backend = cloud.s3",
        "s3.access_key_id = AKIAEXAMPLE",
        "s3.bucket = my-bucket",
        "s3.url = http://127.0.0.1:9000",
        "s3.region = eu-west-1",
        "s3.prefix = node1",
    ]
    secret = tmp_path / "node" / "private" / "s3secret"
    assert secret.read_text() == "the-s3-secret\n"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert "the-s3-secret" not in done.stdout + done.stderr + cfg
    assert "tahoe-cloud check" in done.stdout


def test_create_node_reads_the_secret_from_standard_input(tmp_path: Path) -> None:
    done = tahoe_cloud(
        "create-node",
        "--backend=cloud.s3",
        "--s3-bucket=my-bucket",
        "--s3-access-key-id=AK",
        str(tmp_path / "node"),
        stdin="from-stdin\n",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "node" / "private" / "s3secret").read_text() == "from-stdin\n"
    assert "s3.url" not in (tmp_path / "node" / "tahoe.cfg").read_text()  # default AWS


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--s3-access-key-id=AK"], "s", "--s3-bucket is required with --backend cloud.s3"),
        (["--s3-bucket=bkt"], "s", "--s3-access-key-id is required with --backend cloud.s3"),
        (["--s3-bucket=bkt", "--s3-access-key-id=AK"], "", "standard input must hold the secret"),
        (["--s3-bucket=b", "--s3-access-key-id=AK"], "s", "--s3-url/--s3-bucket: bucket names"),
        (["--s3-bucket=bkt", "--s3-access-key-id=AK", "--s3-url=ftp://x"], "s", "--s3-url"),
        (["--s3-bucket=bkt", "--s3-access-key-id=AK", "--s3-region=a b"], "s", "--s3-region"),
        (["--s3-bucket=bkt", "--s3-access-key-id=AK", "--s3-prefix=/x"], "s", "--s3-prefix"),
        (
            ["--s3-bucket=bkt", "--s3-access-key-id=AK", "--s3-secret-file=/nonexistent/f"],
            "",
            "--s3-secret-file: cannot read /nonexistent/f",
        ),
    ],
)
def test_create_node_errors_name_the_option(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    nodedir = tmp_path / "node"
    assert cli.main(["create-node", "--backend=cloud.s3", *args, str(nodedir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tahoe-cloud create-node: ") and message in err, err
    assert not nodedir.exists()  # nothing half-made


def test_create_node_s3_options_need_cloud_s3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["create-node", "--s3-bucket=bkt", str(tmp_path / "n")]) == 1
    assert "--s3-bucket applies only with --backend cloud.s3" in capsys.readouterr().err


def test_no_command_line_option_takes_the_secret() -> None:
    parser = cli.build_parser()
    help_text = subprocess.run(
        [*TAHOE_CLOUD, "create-node", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--s3-secret " not in help_text and "--s3-secret=" not in help_text
    assert "--s3-secret-file" in help_text and parser is not None


@pytest_twisted.ensureDeferred
async def test_create_container_and_check(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket_name()
    nodedir = s3_node(tmp_path, moto, bucket, monkeypatch=monkeypatch)
    with pytest.raises(ConfigError) as e:
        await check_node(nodedir)
    assert (e.value.section, e.value.key) == ("storage", "s3.bucket")
    assert "NoSuchBucket" in str(e.value) or "does not exist" in str(e.value), str(e.value)
    assert await create_container(nodedir) == f"Created bucket {bucket!r} in region us-east-1."
    assert "already exists" in await create_container(nodedir)
    line = await check_node(nodedir)
    assert line.startswith(f"OK: bucket {bucket!r} at {moto.url}/{bucket}/ is reachable"), line
    assert "owned by nobody yet" in line
    assert not (nodedir / "storage").exists()  # check writes nothing
    assert await clean(nodedir) == f"Deleted 0 orphaned object(s) from bucket {bucket!r}."


@pytest_twisted.ensureDeferred
async def test_commands_on_a_disk_node(tmp_path: Path) -> None:
    assert cli.main(["create-node", str(tmp_path / "disk")]) == 0
    line = await check_node(tmp_path / "disk")
    assert line.startswith("OK: the disk backend starts and stops cleanly"), line
    with pytest.raises(ConfigError) as e:
        await create_container(tmp_path / "disk")
    assert e.value.key == "backend"
    assert "create-container applies to the cloud.s3 backend only" in str(e.value)
    with pytest.raises(ConfigError, match=r"clean applies to the cloud\.s3 backend only"):
        await clean(tmp_path / "disk")


def test_commands_as_processes(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket_name()
    nodedir = s3_node(tmp_path, moto, bucket, monkeypatch=monkeypatch)
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"tahoe-cloud check: {nodedir}/tahoe.cfg, section [storage]")
    assert "key 's3.bucket'" in line
    done = tahoe_cloud("create-container", str(nodedir))
    assert done.returncode == 0 and done.stdout.startswith("Created bucket"), done.stderr
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stderr
    assert moto.secret_access_key not in done.stdout + done.stderr
    # An unknown key is a warning on stderr, not a failure.
    cfg = nodedir / "tahoe.cfg"
    cfg.write_text(cfg.read_text() + "s3.bukcet = typo\n")
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 0, done.stderr
    assert "s3.bukcet" in done.stderr
    assert tahoe_cloud("create-node", str(tmp_path / "disk")).returncode == 0
    done = tahoe_cloud("create-container", str(tmp_path / "disk"))
    assert done.returncode == 1 and "cloud.s3 backend only" in done.stderr


@pytest.mark.parametrize("problem", ["wrong secret", "unknown key", "missing bucket", "no service"])
def test_run_fails_fast_before_listening(
    moto_auth: MotoServer,
    auth_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    problem: str,
) -> None:
    kw: dict[str, str] = {}
    bucket = auth_bucket
    if problem == "wrong secret":
        kw["secret"] = "wrong-secret"
    elif problem == "unknown key":
        kw["key_id"] = "AKIAUNKNOWN000000000"
    elif problem == "missing bucket":
        bucket = new_bucket_name()
    else:
        kw["url"] = f"http://127.0.0.1:{free_port()}"
    nodedir = s3_node(tmp_path, moto_auth, bucket, monkeypatch=monkeypatch, **kw)
    t0 = time.monotonic()
    done = tahoe_cloud("run", str(nodedir))
    assert time.monotonic() - t0 < 30
    assert done.returncode == 1
    assert "NURL" not in done.stdout  # it never listened
    last = done.stderr.strip().splitlines()[-1]
    expected = {
        "wrong secret": f"tahoe-cloud run: {nodedir}/private/s3secret",
        "unknown key": "section [storage], key 's3.access_key_id'",
        "missing bucket": "section [storage], key 's3.bucket'",
        "no service": "section [storage], key 's3.url': cannot reach the S3 service",
    }[problem]
    assert expected in last, done.stderr
    assert "wrong-secret" not in done.stdout + done.stderr
    assert moto_auth.secret_access_key not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def auth_bucket(moto_auth: MotoServer) -> str:
    return run(new_bucket(moto_auth))
