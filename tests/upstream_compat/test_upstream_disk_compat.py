"""The disk backend against real upstream code (stock tahoe-lafs 1.20 in its own venv).

1. Upstream's StorageServer writes immutable v1/v2 and mutable v1/v2 shares
   with several leases (one renewed, mutable ones spilling into the
   extra-lease block); our DiskBackend reads the same bytes and leases.
2. Our DiskBackend writes shares and leases; upstream's StorageServer reads
   them (get_buckets/read, slot_readv, ShareFile/MutableShareFile leases).
3. Our DiskBackend modifies upstream-written shares (leases added and
   renewed, mutable rewrites); upstream reads them back, versions kept.

Lease checks compare owner, expiration and whether the secrets match, never
the secrets themselves, so a failure prints no secret.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.formats import immutable as immutable_format
from tahoe_cloud.formats import mutable as mutable_format
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteEnabler, WriteVector
from tests.support.upstream import run_upstream_python

pytestmark = pytest.mark.upstream

SCRIPTS = Path(__file__).parent / "scripts"
NODEID = b"\x33" * 20
T0 = 1_750_000_000


def secret(tag: bytes, n: int) -> bytes:
    """The same secrets the upstream scripts use."""
    return (tag + b"-%d-" % n).ljust(32, b"#")


def lease(n: int, expiration: int, owner: int = 1) -> Lease:
    return Lease(
        owner_num=owner,
        renew_secret=secret(b"renew", n),
        cancel_secret=secret(b"cancel", n),
        expiration=expiration,
        nodeid=NODEID,
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upstream_write(storage_dir: Path) -> dict[str, Any]:
    done = run_upstream_python(SCRIPTS / "upstream_write.py", str(storage_dir))
    manifest: dict[str, Any] = json.loads(done.stdout)
    return manifest


def upstream_read(storage_dir: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    request = {"storage_dir": str(storage_dir), "entries": entries}
    done = run_upstream_python(SCRIPTS / "upstream_read.py", input=json.dumps(request))
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def read_request(si: StorageIndex, kind: str, numbers: range, we: bytes = b"") -> dict[str, Any]:
    return {
        "si": si.raw.hex(),
        "kind": kind,
        "renew_candidates": [secret(b"renew", n).hex() for n in numbers],
        "cancel_candidates": [secret(b"cancel", n).hex() for n in numbers],
        "write_enabler": we.hex(),
    }


def lease_view(got: Lease, renew: bytes, cancel: bytes) -> tuple[int, int, bool, bool, bool]:
    return (
        got.owner_num,
        got.expiration,
        got.renew_secret_matches(renew),
        got.cancel_secret_matches(cancel),
        got.hashed,
    )


@pytest_twisted.ensureDeferred
async def test_disk_backend_reads_what_upstream_wrote(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    manifest = upstream_write(storage)
    assert sorted((e["kind"], e["version"]) for e in manifest["entries"]) == [
        ("immutable", 1),
        ("immutable", 2),
        ("mutable", 1),
        ("mutable", 2),
    ]
    backend = DiskBackend(storage_dir=storage)
    await backend.start()
    try:
        for entry in manifest["entries"]:
            si = StorageIndex(bytes.fromhex(entry["si"]))
            kind = ShareKind(entry["kind"])
            async with backend.shareset(si) as shares:
                expected_numbers = {int(n) for n in entry["shares"]}
                assert await shares.list_shares() == dict.fromkeys(expected_numbers, kind)
                all_leases = await shares.read_leases()
                assert set(all_leases) == expected_numbers
                hashed = entry["version"] == 2
                want = [
                    (
                        spec["owner"],
                        spec["expiration"],
                        True,
                        True,
                        hashed,
                    )
                    for spec in entry["leases"]
                ]
                for number, data_hex in entry["shares"].items():
                    data = bytes.fromhex(data_hex)
                    share: Any
                    if kind is ShareKind.IMMUTABLE:
                        share = await shares.open_immutable(int(number))
                    else:
                        share = await shares.open_mutable(int(number))
                        enabler = await share.write_enabler()
                        assert enabler.matches(bytes.fromhex(entry["write_enabler"]))
                        assert enabler.nodeid == bytes.fromhex(manifest["nodeid"])
                    assert await share.size() == len(data)
                    assert digest(await share.read(0, len(data) + 1000)) == digest(data)
                    assert digest(await share.read(len(data) - 7, 100)) == digest(data[-7:])
                    assert await share.read(len(data), 10) == b""
                    got = [
                        lease_view(g, bytes.fromhex(s["renew"]), bytes.fromhex(s["cancel"]))
                        for g, s in zip(all_leases[int(number)], entry["leases"], strict=True)
                    ]
                    assert got == want, f"{entry['kind']} v{entry['version']} share {number}"
    finally:
        await backend.stop()


@pytest_twisted.ensureDeferred
async def test_upstream_reads_what_disk_backend_wrote(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    backend = DiskBackend(storage_dir=storage)
    await backend.start()
    imm_si = StorageIndex(b"our-immutable-si")
    imm_v1_si = StorageIndex(b"our-imm-v1-si!!!")
    mut_si = StorageIndex(b"our-mutable-si!!")
    mut_v1_si = StorageIndex(b"our-mut-v1-si!!!")
    we = secret(b"write-enabler", 7)
    imm_data = {sh: bytes([sh + 1]) * 5000 + b"end-%d" % sh for sh in (0, 5)}
    mut_data = {sh: b"mutable-%d|" % sh * 50 for sh in (1, 4)}
    try:
        # Immutable v2: upload, publish with one lease, add one (journalled), renew (in place).
        async with backend.shareset(imm_si) as shares:
            for sh, data in imm_data.items():
                upload = await shares.start_immutable_upload(sh, len(data))
                await upload.write(100, data[100:])
                await upload.write(0, data[:100])
                await upload.publish([lease(1, T0, owner=0)])
            await shares.write_leases({sh: [lease(1, T0, 0), lease(2, T0 + 5)] for sh in imm_data})
            await shares.write_leases(
                {sh: [lease(1, T0 + 9, 0), lease(2, T0 + 5)] for sh in imm_data}
            )

        # Immutable v1 (as an old server left it): adding a lease keeps it v1.
        v1_path = backend.layout.share_path(imm_v1_si, 2)
        v1_path.parent.mkdir(parents=True)
        v1_data = b"old v1 share data" * 30
        v1_path.write_bytes(immutable_format.build_container(1, v1_data, [lease(3, T0, 0)]))
        async with backend.shareset(imm_v1_si) as shares:
            await shares.write_leases({2: [lease(3, T0), lease(4, T0 + 1)]})

        # Mutable (new: v2): create, six leases (two in the extra block), grow with a hole,
        # truncate, renew one lease in place.
        async with backend.shareset(mut_si) as shares:
            for sh, data in mut_data.items():
                handle = shares.new_mutable(sh, WriteEnabler(nodeid=NODEID, secret=we))
                await handle.write([WriteVector(0, data)], None)
            await shares.write_leases(
                {sh: [lease(n, T0 + n) for n in range(10, 16)] for sh in mut_data}
            )
            for sh in mut_data:
                handle = await shares.open_mutable(sh)
                await handle.write([WriteVector(900, b"tail" * 50)], None)
                await handle.write([WriteVector(2, b"XY")], 1000)
            renewed = [lease(n, T0 + n + (100 if n == 12 else 0)) for n in range(10, 16)]
            await shares.write_leases(dict.fromkeys(mut_data, renewed))

        # Mutable v1 (as an old server left it): writes and leases keep it v1.
        mv1_path = backend.layout.share_path(mut_v1_si, 3)
        mv1_path.parent.mkdir(parents=True)
        mv1_path.write_bytes(
            mutable_format.build_container(1, NODEID, we, b"v1 mutable", [lease(20, T0)])
        )
        async with backend.shareset(mut_v1_si) as shares:
            mv1 = await shares.open_mutable(3)
            await mv1.write([WriteVector(10, b" grown")], None)
        async with backend.shareset(mut_v1_si) as shares:
            await shares.write_leases({3: [lease(n, T0 + n) for n in range(20, 26)]})
    finally:
        await backend.stop()

    result = upstream_read(
        storage,
        [
            read_request(imm_si, "immutable", range(1, 3)),
            read_request(imm_v1_si, "immutable", range(3, 5)),
            read_request(mut_si, "mutable", range(10, 16), we),
            read_request(mut_v1_si, "mutable", range(20, 26), we),
        ],
    )

    def leases_of(share: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (x["owner"], x["expiration"], x["renew"], x["cancel"], x["hashed"])
            for x in share["leases"]
        ]

    for per_si in result.values():
        # Upstream's server-level view agrees with the share files.
        server_view = per_si.pop("server_leases")
        first = next(iter(per_si.values()))
        assert server_view == first["leases"]

    imm = result[imm_si.raw.hex()]
    assert sorted(imm) == ["0", "5"]
    for sh, data in imm_data.items():
        assert imm[str(sh)]["version"] == 2
        assert imm[str(sh)]["length"] == len(data)
        assert digest(bytes.fromhex(imm[str(sh)]["data"])) == digest(data)
        assert leases_of(imm[str(sh)]) == [(0, T0 + 9, 0, 0, True), (1, T0 + 5, 1, 1, True)]

    old = result[imm_v1_si.raw.hex()]["2"]
    assert old["version"] == 1
    assert digest(bytes.fromhex(old["data"])) == digest(v1_data)
    assert leases_of(old) == [(1, T0, 0, 0, False), (1, T0 + 1, 1, 1, False)]

    mut = result[mut_si.raw.hex()]
    assert sorted(mut) == ["1", "4"]
    for sh, data in mut_data.items():
        share = mut[str(sh)]
        expected = (data[:2] + b"XY" + data[4:] + b"\0" * 900)[:900] + (b"tail" * 25)
        assert share["version"] == 2
        assert share["write_enabler_matches"]
        assert share["write_enabler_nodeid"] == NODEID.hex()
        assert share["length"] == 1000
        assert digest(bytes.fromhex(share["data"])) == digest(expected)
        want = [(1, T0 + n + (100 if n == 12 else 0), n - 10, n - 10, True) for n in range(10, 16)]
        assert leases_of(share) == want

    mv1_share = result[mut_v1_si.raw.hex()]["3"]
    assert mv1_share["version"] == 1
    assert bytes.fromhex(mv1_share["data"]) == b"v1 mutable grown"
    assert leases_of(mv1_share) == [(1, T0 + n, n - 20, n - 20, False) for n in range(20, 26)]

    # Upstream keeps working on what we wrote: it adds leases and writes to mutables ...
    everything = [imm_si, imm_v1_si, mut_si, mut_v1_si]
    modify = {
        "storage_dir": str(storage),
        "now": T0 + 1000,
        "add_lease": [
            {
                "si": si.raw.hex(),
                "renew": secret(b"renew", 77).hex(),
                "cancel": secret(b"cancel", 77).hex(),
            }
            for si in everything
        ],
        "mutable_writes": [
            {
                "si": si.raw.hex(),
                "write_enabler": we.hex(),
                "renew": secret(b"renew", n).hex(),
                "cancel": secret(b"cancel", n).hex(),
                "shnum": sh,
                "offset": offset,
                "data": b"upstream was here".hex(),
            }
            for si, sh, offset, n in ((mut_si, 1, 1000, 10), (mut_v1_si, 3, 16, 20))
        ],
    }
    done = run_upstream_python(SCRIPTS / "upstream_modify.py", input=json.dumps(modify))
    new_expiration = json.loads(done.stdout)["expiration"]

    # ... and our backend reads the result.
    backend = DiskBackend(storage_dir=storage)
    await backend.start()
    try:
        for si in everything:
            async with backend.shareset(si) as shares:
                for sh, stored in (await shares.read_leases()).items():
                    last = stored[-1]
                    assert last.renew_secret_matches(secret(b"renew", 77)), (si, sh)
                    assert last.expiration == new_expiration
                    assert last.hashed == (si not in (imm_v1_si, mut_v1_si))
        async with backend.shareset(mut_si) as shares:
            share1 = await shares.open_mutable(1)
            assert await share1.read(995, 100) == ((b"tail" * 25)[-5:] + b"upstream was here")
        async with backend.shareset(mut_v1_si) as shares:
            share3 = await shares.open_mutable(3)
            assert await share3.read(0, 100) == b"v1 mutable grownupstream was here"
        async with backend.shareset(mut_si) as shares:
            renewed_lease = (await shares.read_leases())[1][0]
        assert renewed_lease.renew_secret_matches(secret(b"renew", 10))
        assert renewed_lease.expiration == new_expiration  # the write renewed lease 10
    finally:
        await backend.stop()


@pytest_twisted.ensureDeferred
async def test_upstream_reads_upstream_shares_after_disk_backend_changed_them(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "storage"
    manifest = upstream_write(storage)
    backend = DiskBackend(storage_dir=storage)
    await backend.start()
    requests = []
    expected: dict[str, tuple[int, dict[str, bytes], int]] = {}
    try:
        for entry in manifest["entries"]:
            si = StorageIndex(bytes.fromhex(entry["si"]))
            async with backend.shareset(si) as shares:
                current = await shares.read_leases()
                new_lease = lease(99, T0 + 99)
                updated = {sh: [*ls, new_lease] for sh, ls in current.items()}
                data = {sh: bytes.fromhex(d) for sh, d in entry["shares"].items()}
                if entry["kind"] == "mutable":
                    for sh in data:
                        handle = await shares.open_mutable(int(sh))
                        await handle.write([WriteVector(len(data[sh]), b"+more")], None)
                        data[sh] += b"+more"
                await shares.write_leases(updated)
                candidates = [bytes.fromhex(s["renew"]) for s in entry["leases"]]
                cancels = [bytes.fromhex(s["cancel"]) for s in entry["leases"]]
                requests.append(
                    {
                        "si": entry["si"],
                        "kind": entry["kind"],
                        "renew_candidates": [c.hex() for c in [*candidates, secret(b"renew", 99)]],
                        "cancel_candidates": [c.hex() for c in [*cancels, secret(b"cancel", 99)]],
                        "write_enabler": entry.get("write_enabler", ""),
                    }
                )
                expected[entry["si"]] = (entry["version"], data, len(entry["leases"]))
    finally:
        await backend.stop()

    result = upstream_read(storage, requests)
    for si_hex, (version, data, old_count) in expected.items():
        for sh, share_data in data.items():
            share = result[si_hex][sh]
            assert share["version"] == version
            assert digest(bytes.fromhex(share["data"])) == digest(share_data)
            matches = [(x["renew"], x["cancel"], x["hashed"]) for x in share["leases"]]
            hashed = version == 2
            assert matches == [(i, i, hashed) for i in range(old_count + 1)]
            assert share["leases"][-1]["expiration"] == T0 + 99
