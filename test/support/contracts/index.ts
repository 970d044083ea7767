/**
 * Test contracts (sources beside this file, compiled into artifacts.ts by
 * compile.ts) and helpers to deploy them to a dev chain.
 */
import { Contract, ContractFactory, type InterfaceAbi, type Wallet } from 'ethers';
import { Bytes32SymbolToken, FickleDecimalsToken, Reverter, TestSwap, TestToken } from './artifacts';
import { receiptOf } from './devchain';

export { Bytes32SymbolToken, FickleDecimalsToken, Reverter, TestSwap, TestToken } from './artifacts';
export * from './devchain';

export interface Deployed {
  /** EIP-55. */
  address: string;
  contract: Contract;
}

/** Sends a transaction from the signer and waits for its receipt; throws if it reverted. */
export async function sendAndMine(signer: Wallet, tx: { to?: string; data?: string; value?: bigint }) {
  const sent = await signer.sendTransaction(tx);
  const receipt = await receiptOf(signer.provider as never, sent.hash);
  if (receipt.status !== 1) throw new Error(`transaction ${sent.hash} reverted`);
  return receipt;
}

async function deploy(signer: Wallet, artifact: { abi: unknown; bytecode: string }, args: unknown[] = []): Promise<Deployed> {
  const abi = artifact.abi as InterfaceAbi;
  const factory = new ContractFactory(abi, artifact.bytecode, signer);
  const tx = await factory.getDeployTransaction(...args);
  const receipt = await sendAndMine(signer, tx);
  if (!receipt.contractAddress) throw new Error('deployment produced no contract address');
  return { address: receipt.contractAddress, contract: new Contract(receipt.contractAddress, abi, signer) };
}

export function deployTestToken(signer: Wallet, options: { name?: string; symbol?: string; decimals?: number } = {}): Promise<Deployed> {
  return deploy(signer, TestToken, [options.name ?? 'Test Token', options.symbol ?? 'TST', options.decimals ?? 18]);
}

export const deployBytes32SymbolToken = (signer: Wallet): Promise<Deployed> => deploy(signer, Bytes32SymbolToken);

export const deployReverter = (signer: Wallet): Promise<Deployed> => deploy(signer, Reverter);

export const deployTestSwap = (signer: Wallet): Promise<Deployed> => deploy(signer, TestSwap);

export const deployFickleDecimalsToken = (signer: Wallet): Promise<Deployed> => deploy(signer, FickleDecimalsToken);

/** Mints test tokens (anyone may mint on TestToken). */
export async function mintTestToken(signer: Wallet, token: string, to: string, amount: bigint): Promise<void> {
  const contract = new Contract(token, TestToken.abi as InterfaceAbi, signer);
  await sendAndMine(signer, { to: token, data: contract.interface.encodeFunctionData('mint', [to, amount]) });
}
