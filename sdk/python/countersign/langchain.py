"""The Countersign agent tools for LangChain (langchain-core), on top of the sync client.

    from countersign.langchain import countersign_tools
    tools = countersign_tools(Countersign(api_url, api_key))
    model = your_chat_model.bind_tools(tools)

The same tools as the MCP server, by name and purpose. A refusal comes back as
the tool's result ({"error": {"code", "reason", "hint", ...}}), so the model
can act on the hint. No tool approves, rejects, grants or changes a policy.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from ._errors import CountersignError
from ._models import TransactionView
from .client import Countersign

ADDRESS = r"^0x[0-9a-fA-F]{40}$"
BASE_UNITS = r"^(0|[1-9][0-9]{0,76})$"

_NEXT_STEP = {
    "pending_approval": "Waiting for the owner to approve or reject it: call wait_for_decision (again), or do something else and check later.",
    "approved": "Approved by the owner: call execute_transaction to sign and send it before its execution window closes.",
    "signing": "Being signed and sent: call wait_for_decision to wait until it is confirmed or failed.",
    "broadcast": "Being signed and sent: call wait_for_decision to wait until it is confirmed or failed.",
    "confirmed": "Confirmed on chain (see tx_hash): done.",
    "failed": "It failed (see error): propose a corrected transaction if it is still needed.",
    "rejected": "The owner rejected it (see rejection_reason): do not propose it again unless the owner's reason is addressed.",
    "expired": "Nobody approved or executed it in time: propose it again if it is still needed.",
    "cancelled": "It was cancelled: nothing will be sent.",
}


def _about(view: TransactionView) -> dict[str, Any]:
    return {
        "transaction_id": view.transaction_id,
        "status": view.status,
        "next_step": _NEXT_STEP[view.status],
        "rejection_reason": view.rejection_reason,
        "tx_hash": view.tx_hash,
        "error": view.error,
        "version": view.version,
    }


def _settled(view: TransactionView) -> bool:
    return view.status not in ("pending_approval", "signing", "broadcast")


class _Nothing(BaseModel):
    pass


class _Balance(BaseModel):
    wallet_address: str = Field(pattern=ADDRESS, description="One of your wallets (see list_wallets).")
    tokens: Optional[list[str]] = Field(default=None, description="ERC-20 token contract addresses to include (up to 20).")


class _Propose(BaseModel):
    wallet_address: str = Field(pattern=ADDRESS, description="One of your wallets (see list_wallets).")
    kind: Literal["native", "erc20", "contract_call"] = Field(description="Send currency, send tokens, or call a contract.")
    to_address: Optional[str] = Field(default=None, pattern=ADDRESS, description="native, erc20: the recipient.")
    amount: Optional[str] = Field(default=None, pattern=BASE_UNITS, description="native: wei; erc20: token base units. A decimal string.")
    token_address: Optional[str] = Field(default=None, pattern=ADDRESS, description="erc20: the token contract.")
    contract_address: Optional[str] = Field(default=None, pattern=ADDRESS, description="contract_call: the contract to call.")
    data: Optional[str] = Field(default=None, description="contract_call: raw calldata (hex).")
    value: Optional[str] = Field(default=None, pattern=BASE_UNITS, description="contract_call: wei to send along.")
    memo: Optional[str] = Field(default=None, max_length=500, description="A short note for the owner.")
    allow_simulation_failure: Optional[bool] = Field(default=None, description="Queue it even though the simulation says it cannot succeed.")


class _TransactionId(BaseModel):
    transaction_id: str = Field(description="The transaction_id that propose_transaction returned.")


class _Wait(_TransactionId):
    timeout_seconds: int = Field(default=300, ge=1, le=3600, description="How long to wait at most.")


class _List(BaseModel):
    status: Optional[str] = Field(default=None, description="Only this status.")
    limit: int = Field(default=20, ge=1, le=100, description="At most this many.")


def countersign_tools(client: Countersign) -> list[BaseTool]:
    """The eight agent tools, as LangChain StructuredTools."""

    def guarded(fn):
        def run(**kwargs: Any) -> dict[str, Any]:
            try:
                return fn(**kwargs)
            except CountersignError as error:
                return {"error": error.to_dict()}

        return run

    def list_wallets() -> dict[str, Any]:
        return {"wallets": [w.model_dump() for w in client.wallets()]}

    def get_balance(wallet_address: str, tokens: Optional[list[str]] = None) -> dict[str, Any]:
        return client.balance(wallet_address, tokens).model_dump()

    def propose_transaction(**fields: Any) -> dict[str, Any]:
        proposal = client.propose({k: v for k, v in fields.items() if v is not None})
        return {**proposal.model_dump(), "next_step": _NEXT_STEP[proposal.status]}

    def get_transaction(transaction_id: str) -> dict[str, Any]:
        return _about(client.get(transaction_id))

    def wait_for_decision(transaction_id: str, timeout_seconds: int = 300) -> dict[str, Any]:
        view = client.wait_until(transaction_id, _settled, timeout_seconds)
        return {"decided": _settled(view), **_about(view)}

    def execute_transaction(transaction_id: str) -> dict[str, Any]:
        view = client.execute(transaction_id)
        if view.status == "approved":  # the worker starts signing a moment later
            view = client.wait_until(transaction_id, lambda v: v.status != "approved", 15)
        return _about(view)

    def cancel_transaction(transaction_id: str) -> dict[str, Any]:
        return _about(client.cancel(transaction_id))

    def list_transactions(status: Optional[str] = None, limit: int = 20) -> dict[str, Any]:
        page = client.list(status=status, limit=limit)
        return {"transactions": [_about(v) for v in page.transactions], "next_cursor": page.next_cursor}

    specs = [
        (list_wallets, _Nothing, "List the wallets the owner has granted you (address, chain_id, balance in wei). Call this first."),
        (get_balance, _Balance, "Native balance (wei) of one of your wallets and, for the listed ERC-20 tokens, token balances."),
        (
            propose_transaction,
            _Propose,
            "Propose a transaction; nothing is signed until the owner approves it with their authenticator. "
            'kind "native": to_address + amount (wei); "erc20": token_address + to_address + amount; '
            '"contract_call": contract_address + data (+ value). A request that cannot succeed is refused with '
            "code simulation_failed and a reason: change it rather than retrying. Then call wait_for_decision.",
        ),
        (get_transaction, _TransactionId, "The current status of a transaction you proposed and what to do next."),
        (
            wait_for_decision,
            _Wait,
            "Wait until the owner approves or rejects (or, after execute_transaction, until it is confirmed or failed), "
            "for at most timeout_seconds; decided is false when it is still pending.",
        ),
        (execute_transaction, _TransactionId, "Sign and send a transaction the owner approved (irreversible); on one already executing or done, returns its status."),
        (cancel_transaction, _TransactionId, "Withdraw a transaction you proposed, until signing starts."),
        (list_transactions, _List, "The transactions you proposed, newest first."),
    ]
    return [StructuredTool.from_function(func=guarded(fn), name=fn.__name__, description=description, args_schema=schema) for fn, schema, description in specs]
