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
    trace: Optional[Literal["eth_simulateV1", "debug_traceCall"]] = None


class Token(_Model):
    address: str
    symbol: str
    decimals: int


class DecodedCall(_Model):
    function: str
    args: list[str]


class BalanceChange(_Model):
    asset: Literal["native", "erc20", "erc721"]
    token: Optional[str]
    token_id: Optional[str]
    symbol: Optional[str]
    decimals: Optional[int]
    delta: str
    delta_formatted: str


class Allowance(_Model):
    kind: Literal["erc20", "erc721", "erc721_all"]
    token: str
    spender: str
    unlimited: bool
    amount_formatted: str


class WarningDetail(_Model):
    code: str
    blocking: bool
    message: str


class Summary(_Model):
    title: str
    recipient: Optional[str]
    recipient_role: Optional[Literal["recipient", "spender", "operator", "contract"]] = None
    amount_formatted: Optional[str]
    value_formatted: Optional[str] = None
    token: Optional[Token]
    decoded_call: Optional[DecodedCall]
    simulation: Simulation
    balance_changes: list[BalanceChange] = []
    allowances: list[Allowance] = []
    warnings: list[str]
    warning_details: list[WarningDetail] = []
    fee_cap_wei: str


class AgentRef(_Model):
    agent_id: str
    name: str


class ExplorerLinks(_Model):
    base_url: str
    wallet: str
    to: str
    recipient: Optional[str]
    token: Optional[str]
    tx: Optional[str]


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
    memo_altered: bool
    agent: Optional[AgentRef]
    summary: Summary
    created_at: str
    approval_expires_at: str
    expires_at: str
    approved_at: Optional[str]
    executed_at: Optional[str]
    tx_hash: Optional[str]
    explorer: Optional[ExplorerLinks]
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
