"""A minimal agent: propose a payment, wait for the owner's countersignature, execute, report.

    pip install ./sdk/python
    COUNTERSIGN_API_URL=http://127.0.0.1:3000 COUNTERSIGN_API_KEY=cs_… WALLET=0x… TO=0x… python examples/python/agent.py
"""
import os

from countersign import Countersign, CountersignError

with Countersign(os.environ["COUNTERSIGN_API_URL"], os.environ["COUNTERSIGN_API_KEY"]) as cs:
    try:
        done = cs.propose_and_wait({"wallet_address": os.environ["WALLET"], "kind": "native", "to_address": os.environ["TO"], "amount": "1000", "memo": "example payment"}, timeout=600)
        print(done.status, done.tx_hash or done.rejection_reason or "")
    except CountersignError as error:
        print(f"refused: {error.code} {error.reason or ''} — {error.hint}")
