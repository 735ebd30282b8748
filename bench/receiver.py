"""A webhook receiver for the bench: `python -m bench.receiver PORT` answers every POST with 204
on keep-alive HTTP/1.1 and counts what it got (printed on SIGTERM or SIGINT). Raw asyncio, so
that receiving costs the machine as little as possible: the bench measures winback, not this."""

import asyncio
import signal
import sys


async def serve(port: int) -> None:
    received = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                received += 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(f"received {received}", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
