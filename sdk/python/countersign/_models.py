"""What the API answers, as pydantic models (fields as /openapi.json names them; unknown ones are kept)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

TransactionStatus = Literal[
    "pending_approval", "approved", "signing", "broadcast", "confirmed", "failed", "rejected", "expired", "cancelled"
]
FINAL_STATUSES: tuple[str, ...] = ("confirmed", "failed", "rejected", "expired", "cancelled")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Simulation(_Model):
    ok: bool
    revert_reason: Optional[str]


class Token(_Model):
    address: str
    symbol: str
    decimals: int


class DecodedCall(_Model):
    function: str
    args: list[str]


class Summary(_Model):
    title: str
    recipient: Optional[str]
    amount_formatted: Optional[str]
    token: Optional[Token]
    decoded_call: Optional[DecodedCall]
    simulation: Simulation
    warnings: list[str]
    fee_cap_wei: str


class AgentRef(_Model):
    agent_id: str
    name: str


class TransactionView(_Model):
    transaction_id: str
    status: TransactionStatus
    kind: Literal["native", "erc20", "contract_call"]
    origin: Literal["agent", "user"]
    wallet_address: str
    chain_id: int
    to: str
    recipient: Optional[str]
    token_address: Optional[str]
    amount: Optional[str]
    value: str
    data: str
    gas_limit: str
    max_fee_per_gas: str
    max_priority_fee_per_gas: str
    digest: str
    memo: Optional[str]
    agent: Optional[AgentRef]
    summary: Summary
    created_at: str
    approval_expires_at: str
    expires_at: str
    approved_at: Optional[str]
    executed_at: Optional[str]
    tx_hash: Optional[str]
    nonce: Optional[str]
    block_number: Optional[str]
    confirmations: int
    error: Optional[str]
    rejection_reason: Optional[str]
    version: int
    last_event_id: Optional[str]


class Proposal(_Model):
    transaction_id: str
    status: TransactionStatus
    expires_at: str
    summary: Summary
    digest: str


class Wallet(_Model):
    wallet_id: str
    address: str
    label: Optional[str]
    balance: str
    chain_id: int
    created_at: str
    frozen: bool


class TokenBalance(_Model):
    token: str
    symbol: Optional[str]
    decimals: Optional[int]
    balance: Optional[str]


class WalletDetail(Wallet):
    tokens: list[TokenBalance]


class TransactionList(_Model):
    transactions: list[TransactionView]
    next_cursor: Optional[str]


class WalletList(_Model):
    wallets: list[Wallet]
