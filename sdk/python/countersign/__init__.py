"""countersign: a client for AI agents of a Countersign deployment.

Agents propose EVM transactions; the wallet's owner countersigns each with a
TOTP code; only then is anything signed. See Countersign / AsyncCountersign,
CountersignError, and countersign.langchain for LangChain tools.
"""

from ._errors import ERROR_CODES, CountersignError
from ._models import FINAL_STATUSES, Proposal, Summary, TransactionList, TransactionView, Wallet, WalletDetail
from .client import AsyncCountersign, Countersign

__version__ = "0.1.0"

__all__ = [
    "AsyncCountersign",
    "Countersign",
    "CountersignError",
    "ERROR_CODES",
    "FINAL_STATUSES",
    "Proposal",
    "Summary",
    "TransactionList",
    "TransactionView",
    "Wallet",
    "WalletDetail",
    "__version__",
]
