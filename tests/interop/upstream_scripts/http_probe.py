"""Run INSIDE the upstream tahoe-lafs 1.20 virtualenv: upstream's own HTTP storage client
against a live tahoe-cloud node.

Reads one JSON object on stdin (so no secret is on a command line):
``{"mode": ..., "nurl": ..., "secrets": {name: hex}}``. Modes:

- ``wrong-spki``: the NURL with another SPKI hash; prints ``refused`` if the
  client refuses the server's certificate, ``ACCEPTED`` otherwise.
- ``wrong-swissnum``: the NURL with another swissnum; prints the HTTP status.
- ``exercise``: allocate, write, read, add a lease, read-test-write a mutable
  share, using the given secrets; prints ``ok``.
"""

import json
import sys

from allmydata.storage.http_client import (
    ClientException,
    ReadVector,
    StorageClientFactory,
    StorageClientGeneral,
    StorageClientImmutables,
    StorageClientMutables,
    TestWriteVectors,
    WriteVector,
)
from hyperlink import DecodedURL
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react


async def client_for(reactor, nurl):
    factory = StorageClientFactory({"tcp": "tcp"}, None)
    return await factory.create_storage_client(DecodedURL.from_text(nurl), reactor)


async def wrong_spki(reactor, request):
    url = DecodedURL.from_text(request["nurl"])
    user = url.user
    tampered = ("A" if user[0] != "A" else "B") + user[1:]
    client = await client_for(reactor, url.replace(userinfo=(tampered,)).to_text())
    try:
        await StorageClientGeneral(client).get_version()
    except ClientException as e:
        print(f"ACCEPTED (HTTP {e.code})")
    except Exception as e:  # noqa: BLE001 - any TLS failure is a refusal
        print("refused", type(e).__name__)
    else:
        print("ACCEPTED")
    await client.shutdown()


async def wrong_swissnum(reactor, request):
    url = DecodedURL.from_text(request["nurl"])
    client = await client_for(reactor, url.replace(path=("a" * 32,)).to_text())
    try:
        await StorageClientGeneral(client).get_version()
    except ClientException as e:
        print(e.code)
    else:
        print("200")
    await client.shutdown()


async def exercise(reactor, request):
    s = {k: bytes.fromhex(v) for k, v in request["secrets"].items()}
    client = await client_for(reactor, request["nurl"])
    imm = StorageClientImmutables(client)
    si = s["storage_index"]
    data = b"probe data " * 100
    await imm.create(si, {0, 1}, len(data), s["upload"], s["renew"], s["cancel"])
    await imm.write_share_chunk(si, 0, s["upload"], 0, data)
    await imm.abort_upload(si, 1, s["upload"])
    assert await imm.read_share_chunk(si, 0, 0, len(data)) == data
    assert await imm.list_shares(si) == {0}
    await StorageClientGeneral(client).add_or_renew_lease(si, s["renew2"], s["cancel2"])
    mut = StorageClientMutables(client)
    msi = s["mutable_index"]
    vectors = {0: TestWriteVectors(write_vectors=[WriteVector(offset=0, data=b"mutable")])}
    result = await mut.read_test_write_chunks(
        msi, s["write_enabler"], s["renew"], s["cancel"], vectors, [ReadVector(0, 7)]
    )
    assert result.success
    result = await mut.read_test_write_chunks(
        msi, s["write_enabler"], s["renew"], s["cancel"], {}, [ReadVector(0, 7)]
    )
    assert result.reads == {0: [b"mutable"]}, result
    try:
        await mut.read_test_write_chunks(msi, b"\x01" * 32, s["renew"], s["cancel"], vectors, [])
    except ClientException as e:
        assert e.code == 401, e.code
    else:
        raise AssertionError("a wrong write enabler was accepted")
    await client.shutdown()
    print("ok")


MODES = {"wrong-spki": wrong_spki, "wrong-swissnum": wrong_swissnum, "exercise": exercise}


def main(reactor):
    request = json.load(sys.stdin)
    return ensureDeferred(MODES[request["mode"]](reactor, request))


if __name__ == "__main__":
    react(main)
