"""The Python SDK, sync and async, against the real API and worker (anvil behind)."""

from __future__ import annotations

import unittest

import httpx

from countersign import AsyncCountersign, Countersign, CountersignError, TransactionView

from _stack import API_KEY, API_URL, FOREIGN_TX, WALLET, chain_balance, doomed_call, random_address


class SyncClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.cs = Countersign(API_URL, API_KEY)

    def tearDown(self) -> None:
        self.cs.close()

    def test_propose_wait_for_the_owner_execute_confirmed_on_chain(self) -> None:
        recipient = random_address()
        done = self.cs.propose_and_wait({"wallet_address": WALLET, "kind": "native", "to_address": recipient, "amount": "123456", "memo": "approve"}, timeout=90)
        self.assertEqual(done.status, "confirmed", done)
        self.assertRegex(done.tx_hash or "", r"^0x[0-9a-f]{64}$")
        self.assertEqual(chain_balance(recipient), 123456)
        self.assertEqual(self.cs.execute(done.transaction_id).status, "confirmed", "execute again: the status, not an error")

    def test_a_rejection_carries_the_owners_reason(self) -> None:
        proposal = self.cs.propose({"wallet_address": WALLET, "kind": "native", "to_address": random_address(), "amount": "9", "memo": "reject: wrong recipient"})
        decided = self.cs.wait_for_decision(proposal.transaction_id, timeout=60)
        self.assertEqual((decided.status, decided.rejection_reason), ("rejected", "wrong recipient"))
        with self.assertRaises(CountersignError) as caught:
            self.cs.execute(proposal.transaction_id)
        self.assertEqual((caught.exception.status, caught.exception.code, caught.exception.reason), (409, "invalid_state", "already_decided"))
        self.assertTrue(caught.exception.hint)

    def test_a_doomed_request_is_refused_with_simulation_failed(self) -> None:
        with self.assertRaises(CountersignError) as caught:
            self.cs.propose(doomed_call())
        error = caught.exception
        self.assertEqual((error.status, error.code, error.reason), (422, "simulation_failed", "would_revert"))
        self.assertIn("always fails", error.revert_reason or "")
        self.assertIn("allow_simulation_failure", error.hint or "")

    def test_another_agents_transaction_is_not_found(self) -> None:
        with self.assertRaises(CountersignError) as caught:
            self.cs.get(FOREIGN_TX)
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))

    def test_wallets_and_balance(self) -> None:
        wallets = self.cs.wallets()
        self.assertIn(WALLET.lower(), [w.address.lower() for w in wallets])
        self.assertGreater(int(self.cs.balance(WALLET).balance), 0)

    def test_the_models_have_the_fields_the_served_document_requires(self) -> None:
        document = httpx.get(f"{API_URL}/openapi.json").json()
        view = document["paths"]["/api/transactions/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        self.assertEqual(set(view["required"]), set(TransactionView.model_fields), "TransactionView follows /openapi.json")


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def test_the_same_surface_awaitable(self) -> None:
        async with AsyncCountersign(API_URL, API_KEY) as cs:
            recipient = random_address()
            done = await cs.propose_and_wait({"wallet_address": WALLET, "kind": "native", "to_address": recipient, "amount": "654321", "memo": "approve"}, timeout=90)
            self.assertEqual(done.status, "confirmed", done)
            self.assertEqual(chain_balance(recipient), 654321)
            with self.assertRaises(CountersignError) as caught:
                await cs.propose(doomed_call())
            self.assertEqual(caught.exception.code, "simulation_failed")
            surface = {name for name in dir(Countersign) if not name.startswith("_")} - {"close"}
            self.assertEqual(surface, {name for name in dir(AsyncCountersign) if not name.startswith("_")} - {"aclose"})


if __name__ == "__main__":
    unittest.main()
