"""The LangChain tools, driven by langchain-core's own scripted chat model (no network, no LLM)."""

from __future__ import annotations

import json
import unittest

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from countersign import Countersign
from countersign.langchain import countersign_tools

from _stack import API_KEY, API_URL, WALLET, chain_balance, doomed_call, random_address


class LangChainToolsTest(unittest.TestCase):
    def test_a_scripted_model_proposes_waits_executes_and_waits_confirmed_on_chain(self) -> None:
        recipient = random_address()
        messages: list[BaseMessage] = [HumanMessage("Pay 999 wei to the recipient.")]

        def last() -> dict:
            return json.loads(messages[-1].content)

        def call(name: str, args: dict) -> AIMessage:
            return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{len(messages)}"}])

        def script():
            yield call("propose_transaction", {"wallet_address": WALLET, "kind": "native", "to_address": recipient, "amount": "999", "memo": "approve"})
            transaction_id = last()["transaction_id"]
            yield call("wait_for_decision", {"transaction_id": transaction_id, "timeout_seconds": 60})
            yield call("execute_transaction" if last()["status"] == "approved" else "get_transaction", {"transaction_id": transaction_id})
            yield call("wait_for_decision", {"transaction_id": transaction_id, "timeout_seconds": 60})
            yield AIMessage(content=f"done: {last()['status']}")

        with Countersign(API_URL, API_KEY) as cs:
            tools = {tool.name: tool for tool in countersign_tools(cs)}
            self.assertFalse([name for name in tools if any(word in name for word in ("approve", "reject", "grant", "polic"))])
            model = GenericFakeChatModel(messages=script())
            called = []
            while True:
                reply = model.invoke(messages)
                messages.append(reply)
                if not reply.tool_calls:
                    break
                for tool_call in reply.tool_calls:
                    called.append(tool_call["name"])
                    messages.append(tools[tool_call["name"]].invoke({**tool_call, "type": "tool_call"}))
            self.assertEqual(messages[-1].content, "done: confirmed")
            self.assertEqual(called, ["propose_transaction", "wait_for_decision", "execute_transaction", "wait_for_decision"])
            self.assertEqual(chain_balance(recipient), 999)

            refusal = tools["propose_transaction"].invoke(doomed_call())
            self.assertEqual((refusal["error"]["code"], refusal["error"]["reason"]), ("simulation_failed", "would_revert"))


if __name__ == "__main__":
    unittest.main()
