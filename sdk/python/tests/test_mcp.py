"""The Countersign MCP server driven by the official Python MCP client, over Streamable HTTP
(POST /mcp on the API) and over stdio (`npm --silent run mcp`)."""

from __future__ import annotations

import unittest

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from _stack import API_KEY, API_URL, FOREIGN_TX, REPO, WALLET, chain_balance, doomed_call, random_address

TOOLS = {"cancel_transaction", "execute_transaction", "get_balance", "get_transaction", "list_transactions", "list_wallets", "propose_transaction", "wait_for_decision"}
READ_ONLY = {"get_balance", "get_transaction", "list_transactions", "list_wallets", "wait_for_decision"}


class McpFlows:
    """The same flows over either transport (self.connect() yields a connected Client)."""

    async def flows(self, client: Client) -> None:
        listed = await client.list_tools()
        self.assertEqual({tool.name for tool in listed.tools}, TOOLS)
        for tool in listed.tools:
            self.assertEqual(bool(tool.annotations and tool.annotations.read_only_hint), tool.name in READ_ONLY, tool.name)

        recipient = random_address()
        proposed = await client.call_tool("propose_transaction", {"wallet_address": WALLET, "kind": "native", "to_address": recipient, "amount": "2024", "memo": "approve"})
        self.assertFalse(proposed.is_error, proposed)
        transaction_id = proposed.structured_content["transaction_id"]
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        decision = await client.call_tool("wait_for_decision", {"transaction_id": transaction_id, "timeout_seconds": 60}, progress_callback=on_progress)
        self.assertEqual(decision.structured_content["status"], "approved", decision.structured_content)
        self.assertTrue(progress, "progress notifications while waiting")
        executed = await client.call_tool("execute_transaction", {"transaction_id": transaction_id})
        self.assertFalse(executed.is_error, executed)
        outcome = await client.call_tool("wait_for_decision", {"transaction_id": transaction_id, "timeout_seconds": 60})
        self.assertEqual(outcome.structured_content["status"], "confirmed", outcome.structured_content)
        self.assertEqual(chain_balance(recipient), 2024)

        to_reject = await client.call_tool("propose_transaction", {"wallet_address": WALLET, "kind": "native", "to_address": random_address(), "amount": "3", "memo": "reject: not today"})
        rejected = await client.call_tool("wait_for_decision", {"transaction_id": to_reject.structured_content["transaction_id"], "timeout_seconds": 60})
        self.assertEqual((rejected.structured_content["status"], rejected.structured_content["rejection_reason"]), ("rejected", "not today"))

        doomed = await client.call_tool("propose_transaction", doomed_call())
        self.assertTrue(doomed.is_error)
        error = doomed.structured_content["error"]
        self.assertEqual((error["code"], error["reason"]), ("simulation_failed", "would_revert"))
        self.assertIn("hint", error)

        foreign = await client.call_tool("get_transaction", {"transaction_id": FOREIGN_TX})
        self.assertTrue(foreign.is_error)
        self.assertEqual((foreign.structured_content["error"]["status"], foreign.structured_content["error"]["code"]), (404, "not_found"))


class StreamableHttpTest(McpFlows, unittest.IsolatedAsyncioTestCase):
    async def test_the_whole_flow_over_post_mcp(self) -> None:
        async with httpx2.AsyncClient(headers={"X-API-Key": API_KEY}, timeout=httpx2.Timeout(30, read=300)) as http:
            async with Client(streamable_http_client(f"{API_URL}/mcp", http_client=http)) as client:
                await self.flows(client)

    async def test_no_key_is_refused(self) -> None:
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{API_URL}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"accept": "application/json, text/event-stream"})
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["error"]["code"], "unauthenticated")


class StdioTest(McpFlows, unittest.IsolatedAsyncioTestCase):
    async def test_the_whole_flow_over_stdio(self) -> None:
        import os

        server = StdioServerParameters(
            command="npm",
            args=["--silent", "--prefix", REPO, "run", "mcp"],
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "COUNTERSIGN_API_URL": API_URL, "COUNTERSIGN_API_KEY": API_KEY},
        )
        async with Client(server) as client:
            await self.flows(client)


if __name__ == "__main__":
    unittest.main()
