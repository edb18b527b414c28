"""What a declared tool adds to an HTTP call: the tool path (argument check, templates, a
fresh httpx client per call with the safety hooks, size-capped read, Jinja mapping) against a
bare shared ``httpx.AsyncClient`` GET of the same URL, both on the example's local mock
service (examples/order_status/mock_service.py) in a thread of this process.

    python bench/declared_tools.py              # 300 calls each
    python bench/declared_tools.py --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "order_status"))

from mock_service import Handler  # noqa: E402

from causerie.config.loader import load_config  # noqa: E402
from causerie.tools.declared.http import ApiCaller  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def main(calls: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {"ORDER_API_URL": url, "ORDER_API_TOKEN": Handler.token}
    loaded = load_config(
        ROOT / "examples" / "order_status" / "agent.yaml", environ=env, dotenv=None
    )
    caller = ApiCaller(loaded.spec.api_tools[0], env)
    tool, bare = [], []
    async with httpx.AsyncClient() as client:
        headers = {"Authorization": f"Bearer {Handler.token}"}
        for _ in range(10):  # warm up both paths
            await caller.call({"order_id": "A1001"})
            await client.get(f"{url}/orders/A1001", headers=headers)
        for _ in range(calls):
            t0 = time.perf_counter()
            answer = await caller.call({"order_id": "A1001"})
            tool.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            (await client.get(f"{url}/orders/A1001", headers=headers)).raise_for_status()
            bare.append(time.perf_counter() - t0)
    server.shutdown()
    print(f"answer: {answer.text!r}")
    for name, xs in (("declared tool", tool), ("bare httpx GET", bare)):
        print(
            f"{name:15s} p50 {pct(xs, 0.5):6.2f} ms  p90 {pct(xs, 0.9):6.2f} ms  "
            f"mean {statistics.mean(xs) * 1000:6.2f} ms  ({calls} calls)"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    asyncio.run(main(ap.parse_args().calls))
