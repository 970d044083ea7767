/**
 * Production OpenBao set-up, run by scripts/openbao-init.sh in the compose `openbao-setup`
 * job (`node dist/scripts/openbao-setup.js <command>`; VAULT_ADDR, and the CA through
 * NODE_EXTRA_CA_CERTS). Secrets travel on stdin and stdout only — never argv, never a file
 * inside the container — so the operator's shell decides where they land.
 *
 *   status                              initialised? sealed? (JSON on stdout)
 *   init [--shares N] [--threshold T]   Shamir init (default 5 shares, 3 needed); prints the
 *                                       unseal keys and root token as JSON — store it offline
 *   unseal                              reads unseal keys (the init JSON, or one key a line) from
 *                                       stdin until OpenBao is unsealed
 *   provision [--revoke-root]           reads a root token (the init JSON, or the token) from stdin;
 *                                       transit, keys, policies and tokens exactly as the dev
 *                                       stack (scripts/infra/openbao-provision.ts); prints
 *                                       `vault_api_token=…` lines, then revokes the root token
 */
import path from 'node:path';
import { createBaoApi, provision, type BaoApi } from './infra/openbao-provision';

interface InitOutput {
  unseal_keys_b64: string[];
  root_token: string;
  shares: number;
  threshold: number;
  initialized_at: string;
}

interface SealStatus {
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
}

export class SetupError extends Error {
  override name = 'SetupError';
}

/** The init JSON, or plain lines: what the operator pipes in. */
export function parseSecretInput(text: string): { keys: string[]; rootToken?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as Partial<InitOutput>;
    return { keys: parsed.unseal_keys_b64 ?? [], ...(parsed.root_token ? { rootToken: parsed.root_token } : {}) };
  }
  const lines = trimmed
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return { keys: lines, ...(lines.length === 1 ? { rootToken: lines[0] } : {}) };
}

function intOption(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index === -1) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isInteger(value) || value < 1 || value > 16) throw new SetupError(`${name} expects a number from 1 to 16`);
  return value;
}

async function sealStatus(api: BaoApi): Promise<SealStatus> {
  return (await api.request('GET', 'sys/seal-status')) as SealStatus;
}

export async function init(api: BaoApi, shares: number, threshold: number): Promise<InitOutput> {
  if (threshold > shares) throw new SetupError('--threshold cannot exceed --shares');
  if ((await sealStatus(api)).initialized) throw new SetupError('OpenBao is already initialised; nothing was changed');
  // Raft elects its single node before init answers; a client timeout here would lose the keys.
  const result = (await api.request('PUT', 'sys/init', { secret_shares: shares, secret_threshold: threshold }, { timeoutMs: 120_000 })) as {
    keys_base64: string[];
    root_token: string;
  };
  return { unseal_keys_b64: result.keys_base64, root_token: result.root_token, shares, threshold, initialized_at: new Date().toISOString() };
}

export async function unseal(api: BaoApi, keys: string[], log: (line: string) => void): Promise<void> {
  let status = await sealStatus(api);
  if (!status.initialized) throw new SetupError('OpenBao is not initialised (run init first)');
  for (const key of keys) {
    if (!status.sealed) break;
    status = (await api.request('PUT', 'sys/unseal', { key })) as SealStatus;
    log(`openbao-setup: unseal progress ${status.sealed ? `${status.progress}/${status.t}` : 'done'}`);
  }
  if (status.sealed) throw new SetupError(`still sealed: ${status.progress} of ${status.t} key shares given`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const address = process.env.VAULT_ADDR ?? 'https://openbao:8200';
  const api = createBaoApi(address);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  switch (command) {
    case 'status': {
      const status = await sealStatus(api);
      process.stdout.write(`${JSON.stringify({ initialized: status.initialized, sealed: status.sealed, threshold: status.t, shares: status.n })}\n`);
      return;
    }
    case 'init': {
      const output = await init(api, intOption(args, '--shares', 5), intOption(args, '--threshold', 3));
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
      return;
    }
    case 'unseal':
      await unseal(api, parseSecretInput(await readStdin()).keys, log);
      return;
    case 'provision': {
      const { rootToken } = parseSecretInput(await readStdin());
      if (!rootToken) throw new SetupError('provision reads a root token (or the init JSON) on stdin');
      const root = api.withToken(rootToken);
      const credentials = await provision(root, undefined, 'countersign-openbao-setup');
      process.stdout.write(
        [
          `vault_api_token=${credentials.apiToken}`,
          `vault_worker_token=${credentials.workerToken}`,
          `vault_operator_token=${credentials.operatorToken}`,
          `vault_backup_token=${credentials.backupToken}`,
        ].join('\n') + '\n',
      );
      if (args.includes('--revoke-root')) {
        // A root token left alive is the one credential that can do everything; make another
        // with `bao operator generate-root` (a quorum of unseal keys) when one is needed.
        await root.request('POST', 'auth/token/revoke-self');
        log('openbao-setup: root token revoked');
      }
      return;
    }
    default:
      throw new SetupError('usage: openbao-setup status | init [--shares N] [--threshold T] | unseal | provision [--revoke-root]');
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`openbao-setup: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
