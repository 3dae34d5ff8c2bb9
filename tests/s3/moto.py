"""Run moto_server as a subprocess for tests (plain, or with signature checking on).

A subprocess, not moto's in-process server: that one competes with the
Twisted reactor for the GIL. Readiness is a plain TCP connect, because in
auth mode every HTTP request (a health probe too) counts toward the few
unauthenticated calls that create the test user.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


@frozen
class MotoServer:
    url: str
    access_key_id: str
    secret_access_key: str
    auth: bool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start listening")


def _create_user(url: str) -> tuple[str, str]:
    """The three unauthenticated IAM calls: a user, a policy allowing everything, a key pair."""
    import boto3  # type: ignore[import-untyped]

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",  # moto's unauthenticated phase
    )
    name = f"tahoe-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="all",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def run_moto(*, auth: bool = False) -> Iterator[MotoServer]:
    port = free_port()
    env = dict(os.environ)
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}"
        if auth:
            key_id, secret = _create_user(url)
        else:
            key_id, secret = "testing-key-id", "testing-secret"
        yield MotoServer(url, key_id, secret, auth)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
