"""Value types for what crosses the server core's boundary.

The front end decodes requests into these, calls ``StorageServer`` and encodes
the results; the core never sees CBOR or HTTP. All are frozen so they can be
shared between coroutines without copying. Those a client fills in are
checked when they are made (``InvalidValue``, an ``InvalidRequest``), as
the values of ``tahoe_cloud.vocabulary`` are, so the core does not check
them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import field, frozen

from tahoe_cloud.vocabulary import SECRET_BYTES, InvalidValue, WriteVector, check_uint


@frozen
class LeaseSecrets:
    """The renew and cancel secrets a client sends with allocate, lease and write requests."""

    renew: bytes = field(repr=False)
    cancel: bytes = field(repr=False)

    def __attrs_post_init__(self) -> None:
        for secret, what in ((self.renew, "renew"), (self.cancel, "cancel")):
            if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
                raise InvalidValue(f"the lease {what} secret must be {SECRET_BYTES} bytes")


@frozen
class AllocationResult:
    """Answer to allocate: completed shares already held, and shares now being uploaded."""

    already_have: frozenset[int]
    allocated: frozenset[int]


@frozen
class ByteRange:
    """Half-open range ``[begin, end)`` of share bytes."""

    begin: int
    end: int


@frozen
class ImmutableWriteResult:
    """Answer to an immutable write: is the share complete, and which bytes are still missing."""

    complete: bool
    required: tuple[ByteRange, ...]


@frozen
class TestVector:
    """Passes when ``size`` bytes at ``offset`` of the share equal ``specimen``.

    A missing share, and bytes past the end, read as empty.
    """

    __test__ = False  # not a pytest test class, despite the name

    offset: int
    size: int
    specimen: bytes

    def __attrs_post_init__(self) -> None:
        check_uint(self.offset, "test offset")
        check_uint(self.size, "test size")
        if not isinstance(self.specimen, bytes):
            raise InvalidValue("test specimen must be bytes")


@frozen
class TestWriteVectors:
    """Tests, writes and an optional new length for one share of a mutable slot."""

    __test__ = False  # not a pytest test class, despite the name

    tests: tuple[TestVector, ...] = ()
    writes: tuple[WriteVector, ...] = ()
    new_length: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.new_length is not None:
            check_uint(self.new_length, "new length")


@frozen
class ReadVector:
    """Read ``size`` bytes at ``offset`` (truncated at the end of the share)."""

    offset: int
    size: int

    def __attrs_post_init__(self) -> None:
        check_uint(self.offset, "read offset")
        check_uint(self.size, "read size")


@frozen
class ReadTestWriteResult:
    """``data`` maps every existing share number to the reads, taken before any write."""

    success: bool
    data: Mapping[int, Sequence[bytes]]


@frozen
class VersionInfo:
    """What ``GET /storage/v1/version`` reports."""

    maximum_immutable_share_size: int
    maximum_mutable_share_size: int
    available_space: int
    application_version: bytes
