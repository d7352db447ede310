"""The lean RESP client (backends.redis.resp) on its own: packing, URLs, pipelining against the shared Redis,
and its failures against servers that misbehave on purpose (loopback sockets this test opens) or that it
must authenticate to (a redis-server of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from backends.redis.resp import LeanClient, LeanConnectionError, ReplyError, lean_address, pack
from tests.backend_services import _reachable, redis_url, unavailable
from tests.redis_cluster import RedisServer, require_redis_server


def test_pack_sends_bytes_text_and_integers_as_bulk_strings() -> None:
    assert pack([b"SET", "k\u00e9", 12]) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\xc3\xa9\r\n$2\r\n12\r\n"
    assert pack([b"GET", bytearray(b"a\r\nb")]) == b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n"
    with pytest.raises(TypeError, match="cannot send float"):
        pack([b"SET", b"k", 1.5])


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/0", ("127.0.0.1", 6379, None, None, 0)),
    ("redis://cache.internal", ("cache.internal", 6379, None, None, 0)),
    ("redis://:p%40ss@10.0.0.2:7000/3", ("10.0.0.2", 7000, None, b"p@ss", 3)),
    ("redis://alice:pw@h:1/", ("h", 1, b"alice", b"pw", 0)),
    ("rediss://h:6379/0", None),  # TLS: redis-py serves it
    ("unix:///tmp/redis.sock", None),
    ("redis://h:6379/0?socket_timeout=1", None),  # options only redis-py reads
    ("redis://h:6379/zero", None),
    ("redis://h:notaport/0", None),
])
def test_only_plain_redis_urls_are_served_lean(url: str, expected: object) -> None:
    assert lean_address(url) == expected


def _shared() -> LeanClient:
    """A client of the shared Redis (it fails under CI=true when that is down, skips elsewhere)."""
    address = lean_address(redis_url())
    url = urlsplit(redis_url())
    if address is None or not _reachable(url.hostname or "127.0.0.1", url.port or 6379):
        unavailable(f"Redis unreachable at {redis_url()}")
    host, port, user, password, db = address
    return LeanClient(host, port, username=user, password=password, db=db, timeout=5.0)


def test_concurrent_callers_on_one_connection_each_get_their_own_replies() -> None:
    async def main() -> None:
        client = _shared()
        prefix = b"lean-test:" + str(id(client)).encode()
        try:
            async def one(i: int) -> list[object]:
                return await client.execute([(b"SET", prefix + b"%d" % i, b"v%d" % i), (b"GET", prefix + b"%d" % i),
                                             (b"GET", prefix + b"absent")])

            results = await asyncio.gather(*(one(i) for i in range(300)))
            assert results == [[b"OK", b"v%d" % i, None] for i in range(300)]
            assert client.connects == 1  # every caller shared the one connection
            assert await client.execute([]) == []  # nothing to send: answered at once
            assert await client.execute([(b"DEL", *[prefix + b"%d" % i for i in range(300)])]) == [300]
        finally:
            client.close()

    asyncio.run(main())


def test_an_error_reply_stands_in_its_place_and_the_others_count() -> None:
    async def main() -> None:
        client = _shared()
        key = b"lean-test:err:" + str(id(client)).encode()
        try:
            first, bad, missing, after = await client.execute([
                (b"SET", key, b"1"), (b"INCRBY", key, b"x"), (b"EVALSHA", b"0" * 40, 0), (b"INCR", key)])
            assert first == b"OK" and after == 2
            assert isinstance(bad, ReplyError) and not bad.noscript
            assert isinstance(missing, ReplyError) and missing.noscript
            assert await client.execute([(b"DEL", key)]) == [1]  # the connection is still in step
        finally:
            client.close()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def _fake(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) \
        -> AsyncIterator[int]:
    """A loopback server that misbehaves as ``handle`` says."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def test_a_server_that_never_answers_fails_the_call_and_the_next_call_connects_again() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads until the client gives up, answers nothing

    async def main() -> None:
        async with _fake(silent) as port:
            client = LeanClient("127.0.0.1", port, timeout=0.2)
            calls = [client.execute([(b"GET", b"k%d" % i)]) for i in range(5)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(o, LeanConnectionError) and "no reply within 0.2s" in str(o) for o in outcomes)
            with pytest.raises(LeanConnectionError):
                await client.execute([(b"GET", b"k")])
            assert client.connects == 2  # the failed connection was not used again
            client.close()

    asyncio.run(main())


@pytest.mark.parametrize("answer", [b"", b"%not resp\r\n"], ids=["closes", "garbage"])
def test_a_server_that_breaks_the_stream_fails_the_calls_outstanding(answer: bytes) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with _fake(broken) as port:
            client = LeanClient("127.0.0.1", port, timeout=5.0)
            outcomes = await asyncio.gather(client.execute([(b"GET", b"a")]), client.execute([(b"GET", b"b")]),
                                            return_exceptions=True)
            assert all(isinstance(o, LeanConnectionError) for o in outcomes), outcomes
            client.close()

    asyncio.run(main())


def test_a_reply_nobody_asked_for_drops_the_connection() -> None:
    """The stream is out of step: later replies could be handed to the wrong callers."""
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # the client hangs up
            while await reader.readuntil(b"\r\n"):
                writer.write(b"+OK\r\n+EXTRA\r\n")  # two replies to one command

    async def main() -> None:
        async with _fake(chatty) as port:
            client = LeanClient("127.0.0.1", port, timeout=5.0)
            assert await client.execute([(b"PING",)]) == [b"OK"]  # answered before the stray reply came
            assert await client.execute([(b"PING",)]) == [b"OK"]
            assert client.connects == 2  # not on the connection that went out of step
            client.close()

    asyncio.run(main())


def test_nothing_listening_is_a_connection_error() -> None:
    async def main() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connections are refused
            client = LeanClient("127.0.0.1", port, connect_timeout=1.0)
            with pytest.raises(LeanConnectionError, match="cannot connect"):
                await client.execute([(b"PING",)])

    asyncio.run(main())


def test_password_user_and_database_from_the_url(tmp_path: Path) -> None:
    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()
    try:
        admin = redis.Redis(port=server.port)
        admin.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all")
        admin.config_set("requirepass", "s3cret")

        async def main() -> None:
            for url, db in ((f"redis://alice:pw@127.0.0.1:{server.port}/3", 3),
                            (f"redis://:s3cret@127.0.0.1:{server.port}/0", 0)):
                address = lean_address(url)
                assert address is not None
                host, port, user, password, database = address
                client = LeanClient(host, port, username=user, password=password, db=database)
                assert await client.execute([(b"SET", b"who", url.encode())]) == [b"OK"]
                client.close()
                checker = redis.Redis(port=server.port, password="s3cret", db=db)
                assert checker.get("who") == url.encode()  # in the database the URL named
            wrong = LeanClient("127.0.0.1", server.port, password=b"wrong")
            with pytest.raises(LeanConnectionError, match="WRONGPASS|invalid"):
                await wrong.execute([(b"PING",)])
            anonymous = LeanClient("127.0.0.1", server.port)
            (reply,) = await anonymous.execute([(b"GET", b"who")])
            assert isinstance(reply, ReplyError) and "NOAUTH" in str(reply)
            anonymous.close()

        asyncio.run(main())
    finally:
        server.kill()


def test_a_script_call_packs_as_the_generic_command_would() -> None:
    from backends.redis import scripts as lua
    from backends.redis.resp import pack_script_call

    keys, args = [b"k1", b"k\r\n2"], [b"s", 7, "t\u00e9", b""]
    assert pack_script_call(lua.WRITE.head, keys, args) == pack([b"EVALSHA", lua.WRITE.sha, 2, *keys, *args])
    many = [b"k%d" % i for i in range(12)]  # a key count of two digits
    assert pack_script_call(lua.QUERY.head, many, []) == pack([b"EVALSHA", lua.QUERY.sha, 12, *many])


def test_a_caller_cancelled_while_connecting_is_cancelled_and_the_others_fail_cleanly() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes AUTH and never answers it

    async def main() -> None:
        async with _fake(mute) as port:
            client = LeanClient("127.0.0.1", port, password=b"pw", timeout=30.0, connect_timeout=30.0)
            first = asyncio.ensure_future(client.execute([(b"PING",)]))
            second = asyncio.ensure_future(client.execute([(b"PING",)]))
            while client.connects == 0:  # the first caller's connection is open, its AUTH unanswered
                await asyncio.sleep(0)
            first.cancel()
            outcomes = await asyncio.gather(first, second, return_exceptions=True)
            assert isinstance(outcomes[0], asyncio.CancelledError)
            assert isinstance(outcomes[1], LeanConnectionError) and "cancelled" in str(outcomes[1])
            client.close()
            with pytest.raises(LeanConnectionError, match="closed"):  # a closed client refuses calls
                await client.execute([(b"PING",)])

    asyncio.run(main())


def test_the_storage_uses_the_lean_client_only_where_it_can() -> None:
    """Standalone over a plain URL: the lean client; options only redis-py reads, or a cluster: redis-py."""
    from backends.redis import RedisStorage

    async def lean_after_open(url: str) -> bool:
        storage = RedisStorage(url, prefix="leancheck")
        await storage.open()
        try:
            return storage.driver.lean is not None
        finally:
            await storage.close()

    _shared().close()  # the shared Redis is there (fails under CI=true otherwise)
    plain = redis_url()
    assert asyncio.run(lean_after_open(plain))
    assert not asyncio.run(lean_after_open(plain + ("&" if "?" in plain else "?") + "health_check_interval=5"))


def test_scripts_the_server_forgot_are_sent_again(tmp_path: Path) -> None:
    """A restarted or flushed Redis answers NOSCRIPT to EVALSHA: the call goes again as EVAL, once."""
    from accelerator.core.protocols import KeyRef
    from accelerator.core.tables import TableDef
    from backends.redis import RedisStorage
    from backends.redis import scripts as lua
    from tests.test_backend_specifics import TABLE

    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()

    async def main() -> None:
        storage = RedisStorage(server.url, prefix="noscript")
        await storage.open()
        try:
            assert storage.driver.lean is not None
            await storage.create_table(TableDef.from_bytes(TABLE.to_bytes()))
            await storage.transact([KeyRef("t", b"a", b"")], lambda _old: [b"1"])
            redis.Redis(port=server.port).script_flush()
            await storage.transact([KeyRef("t", b"b", b"")], lambda _old: [b"2"])  # WRITE: NOSCRIPT, then EVAL
            assert await storage.get_many([KeyRef("t", b"a", b""), KeyRef("t", b"b", b"")]) == [b"1", b"2"]
            assert redis.Redis(port=server.port).script_exists(lua.WRITE.sha) == [True]  # EVAL cached it again
        finally:
            await storage.close()

    try:
        asyncio.run(main())
    finally:
        server.kill()
