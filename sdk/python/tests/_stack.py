"""What the node test (test/integration/agents-python.test.ts) hands over: a running API, an agent's
key and wallet, a scripted owner deciding by memo ("approve", "reject: <reason>"), and fixtures."""

from __future__ import annotations

import json
import logging
import os
import secrets
import urllib.request

API_URL = os.environ["COUNTERSIGN_API_URL"]
API_KEY = os.environ["COUNTERSIGN_API_KEY"]
WALLET = os.environ["COUNTERSIGN_WALLET"]
#: A pending transaction of another agent of the same owner.
FOREIGN_TX = os.environ["COUNTERSIGN_FOREIGN_TX"]
#: A contract whose call below always reverts ("Reverter: always fails").
REVERTER = os.environ["COUNTERSIGN_REVERTER"]
REVERT_DATA = os.environ["COUNTERSIGN_REVERT_DATA"]
RPC_URL = os.environ["WEB3_PROVIDER_URI"]
REPO = os.environ["COUNTERSIGN_REPO"]

# IsolatedAsyncioTestCase runs asyncio in debug mode, which logs every callback slower than
# 0.1 s (the blocking chain reads below): noise, not failures.
logging.getLogger("asyncio").setLevel(logging.ERROR)


def random_address() -> str:
    return "0x" + secrets.token_hex(20)


def chain_balance(address: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [address, "latest"]}).encode()
    request = urllib.request.Request(RPC_URL, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response)["result"], 16)


def doomed_call() -> dict:
    return {"wallet_address": WALLET, "kind": "contract_call", "contract_address": REVERTER, "data": REVERT_DATA}
