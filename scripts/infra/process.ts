/**
 * Launching and stopping local components: log capture with name prefixes, readiness
 * waits that always end (with the component's log tail), ordered SIGTERM → SIGKILL
 * stops, pidfiles so the next start can find orphans, and port helpers.
 *
 * Every component runs in its own process group (`detached`), so a Ctrl-C in the
 * terminal reaches only the launcher, which then stops components in order
 * (API → worker → Temporal/anvil/OpenBao → PostgreSQL) instead of all at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** What every start<X>() returns. */
export interface Handle {
  name: string;
  /** The environment variables that point an application at this component. */
  env: Record<string, string>;
  stop(): Promise<void>;
  logTail(lines?: number): string;
  /** Resolves if the process exits (absent for external services we did not start). */
  exited?: Promise<ExitInfo>;
}

export const STOP_TIMEOUT_MS = 20_000;
const TAIL_LINES = 200;

/** A component failed to start or stop; the message carries its log tail. */
export class ComponentError extends Error {
  override name = 'ComponentError';
  constructor(
    readonly component: string,
    readonly reason: string,
    readonly tail = '',
  ) {
    super(formatComponentError(component, reason, tail));
  }
}

/**
 * A component that failed to become ready: stop what was started, then throw a
 * ComponentError carrying its log tail (one already thrown passes unchanged).
 */
export async function abortStart(name: string, proc: { logTail(): string }, stop: () => Promise<unknown>, error: unknown): Promise<never> {
  await stop();
  if (error instanceof ComponentError) throw error;
  throw new ComponentError(name, (error as Error).message, proc.logTail());
}

export function formatComponentError(component: string, reason: string, tail: string): string {
  const head = `${component}: ${reason}`;
  if (!tail.trim()) return head;
  return `${head}\n--- last lines of the ${component} log ---\n${tail.trimEnd()}\n--- end of ${component} log ---`;
}

export class PortInUseError extends ComponentError {
  override name = 'PortInUseError';
  constructor(component: string, readonly port: number, host = '127.0.0.1', hint?: string) {
    super(component, portInUseReason(port, host, hint));
  }
}

/** The message for a busy port: names the component and the port. */
export function portInUseMessage(component: string, port: number, host = '127.0.0.1', hint?: string): string {
  return `${component}: ${portInUseReason(port, host, hint)}`;
}

function portInUseReason(port: number, host: string, hint?: string): string {
  const how = `find it with: ss -ltnp 'sport = :${port}'`;
  return `port ${port} on ${host} is already in use by another process (${how})${hint ? ` — ${hint}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Ports

/** Resolves true when nothing listens on host:port (we can bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Throws PortInUseError naming the component and the first busy port. */
export async function assertPortsFree(component: string, ports: number[], host = '127.0.0.1', hint?: string): Promise<void> {
  for (const port of ports) {
    if (!(await isPortFree(port, host))) throw new PortInUseError(component, port, host, hint);
  }
}

// Ports handed out by this process, so parallel starts never receive the same one twice.
const handedOut = new Set<number>();

function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A free TCP port on host. With `consecutive: n`, port..port+n-1 are all free
 * (OpenBao binds its API port and the next one for its cluster listener).
 */
export async function getFreePort(options: { host?: string; consecutive?: number } = {}): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  const count = options.consecutive ?? 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await ephemeralPort(host);
    if (port + count - 1 > 65535) continue;
    const range = Array.from({ length: count }, (_, i) => port + i);
    if (range.some((p) => handedOut.has(p))) continue;
    let free = true;
    for (const p of range.slice(1)) if (!(await isPortFree(p, host))) free = false;
    if (!free) continue;
    range.forEach((p) => handedOut.add(p));
    return port;
  }
  throw new Error(`no ${count} consecutive free port(s) found on ${host}`);
}

// ---------------------------------------------------------------------------------------------
// Logs

const COLORS = [36, 35, 33, 32, 34, 91, 92, 93, 94, 95, 96];
const colorOf = new Map<string, number>();

/** `[name]` padded (and coloured on a terminal), the prefix of every console line. */
export function linePrefix(name: string, width = 9, color = process.stdout.isTTY === true): string {
  const label = `[${name}]`.padEnd(width + 2);
  if (!color) return label;
  if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length]!);
  return `\u001b[${colorOf.get(name)}m${label}\u001b[0m`;
}

/** A component's log: appended to a file, kept in a ring for tails, optionally echoed with a prefix. */
export class ComponentLog {
  private readonly ring: string[] = [];
  private readonly fd: number;
  private partial = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly file: string,
    private readonly toConsole: boolean,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  line(text: string): void {
    this.ring.push(text);
    if (this.ring.length > TAIL_LINES) this.ring.shift();
    try {
      fs.writeSync(this.fd, `${text}\n`);
    } catch {
      // The file may be gone (dev:reset while running); the ring and console still work.
    }
    if (this.toConsole) process.stdout.write(`${linePrefix(this.name)} ${text}\n`);
  }

  /** Feeds a raw chunk from one stream; splits it into lines, keeping partial lines per stream. */
  chunk(stream: string, data: Buffer | string): void {
    const text = (this.partial.get(stream) ?? '') + data.toString();
    const lines = text.split(/\r?\n/);
    this.partial.set(stream, lines.pop() ?? '');
    for (const l of lines) this.line(l);
  }

  flush(): void {
    for (const rest of this.partial.values()) if (rest) this.line(rest);
    this.partial = new Map();
  }

  tail(lines = 40): string {
    return this.ring.slice(-lines).join('\n');
  }

  close(): void {
    this.flush();
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory for `<name>.log`. */
  logDir: string;
  /** Directory for `<name>.pid`; omit for processes that need no orphan tracking. */
  runDir?: string;
  console?: boolean;
  /** Run as another user (root starting PostgreSQL as `postgres`). */
  uid?: number;
  gid?: number;
  /** First signal of a stop (PostgreSQL: SIGINT = fast shutdown). Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** How long a stop waits before SIGKILL. Default 20 s. */
  stopTimeoutMs?: number;
  /** Reuse an existing log (so a short helper such as initdb writes into the component's log). */
  log?: ComponentLog;
}

export interface StopResult {
  /** True when the process had to be SIGKILLed. */
  killed: boolean;
  durationMs: number;
  exit: ExitInfo;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly log: ComponentLog;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  exitInfo(): ExitInfo | undefined;
  logTail(lines?: number): string;
  /** stopSignal, then SIGKILL to the whole process group after stopTimeoutMs. Idempotent. */
  stop(): Promise<StopResult>;
}

export interface PidRecord {
  pid: number;
  launcherPid: number;
  name: string;
  command: string;
  startedAt: string;
}

export function spawnManaged(options: SpawnOptions): ManagedProcess {
  const log = options.log ?? new ComponentLog(options.name, path.join(options.logDir, `${options.name}.log`), options.console ?? false);
  log.line(`--- ${new Date().toISOString()} starting: ${path.basename(options.command)} ${options.args.join(' ')}`);
  const child: ChildProcess = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  let exit: ExitInfo | undefined;
  const pidFile = options.runDir && child.pid ? path.join(options.runDir, `${options.name}.pid`) : undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (error) => {
      log.line(`failed to spawn ${options.command}: ${error.message}`);
      exit ??= { code: 127, signal: null };
      resolve(exit);
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // stdout/stderr may still hold buffered output; 'close' follows shortly.
      child.once('close', () => {
        log.flush();
        resolve({ code, signal });
      });
      setTimeout(() => resolve({ code, signal }), 1000).unref();
    });
  });
  child.stdout?.on('data', (d: Buffer) => log.chunk('out', d));
  child.stderr?.on('data', (d: Buffer) => log.chunk('err', d));
  void exited.then((info) => {
    log.line(`--- exited (${info.signal ?? `code ${info.code}`})`);
    if (pidFile) removePidFile(pidFile, child.pid ?? -1);
  });
  if (pidFile && child.pid) {
    fs.mkdirSync(path.dirname(pidFile), { recursive: true });
    const record: PidRecord = {
      pid: child.pid,
      launcherPid: process.pid,
      name: options.name,
      command: options.command,
      startedAt: new Date().toISOString(),
    };
    fs.writeFileSync(pidFile, JSON.stringify(record));
  }

  let stopping: Promise<StopResult> | undefined;
  const stop = (): Promise<StopResult> => {
    stopping ??= (async () => {
      const started = Date.now();
      if (exit || child.pid === undefined) return { killed: false, durationMs: 0, exit: await exited };
      const signal = options.stopSignal ?? 'SIGTERM';
      signalPid(child.pid, signal);
      const timeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
      const graceful = (await withTimeout(exited, timeoutMs)) !== undefined;
      if (!graceful) {
        log.line(`--- did not stop within ${Math.round(timeoutMs / 1000)} s of ${signal}; sending SIGKILL`);
        signalGroup(child.pid, 'SIGKILL');
      }
      const info = await exited;
      // Helpers the component left behind in its group (e.g. tsx's node child) go too.
      signalGroup(child.pid, 'SIGKILL');
      return { killed: !graceful, durationMs: Date.now() - started, exit: info };
    })();
    return stopping;
  };

  return {
    name: options.name,
    pid: child.pid ?? -1,
    log,
    exited,
    exitInfo: () => exit,
    logTail: (lines?: number) => log.tail(lines),
    stop,
  };
}

/** Runs a short helper (initdb, …) to completion, logging into `log`; throws ComponentError on failure. */
export async function runToCompletion(
  log: ComponentLog,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string; timeoutMs?: number; what: string },
): Promise<void> {
  const proc = spawnManaged({ name: log.name, command, args, logDir: '', log, ...options });
  const timeoutMs = options.timeoutMs ?? 120_000;
  const result = await withTimeout(proc.exited, timeoutMs);
  if (!result) {
    await proc.stop();
    throw new ComponentError(log.name, `${options.what} did not finish within ${timeoutMs / 1000} s`, log.tail());
  }
  if (result.code !== 0) {
    throw new ComponentError(log.name, `${options.what} failed (${result.signal ?? `exit code ${result.code}`})`, log.tail());
  }
}

export interface ReadyOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Words for the error, e.g. "gRPC health check on 127.0.0.1:7233". */
  what: string;
  /** A probe error that retrying cannot fix (bad credentials): fail at once with this reason. */
  fatal?: (error: unknown) => string | undefined;
}

/**
 * Polls `probe` until it resolves truthy. Fails fast if the process exits, and after
 * timeoutMs at the latest — always with the component's log tail, never a hang.
 */
export async function waitUntilReady(
  proc: Pick<ManagedProcess, 'name' | 'exited' | 'exitInfo' | 'logTail'>,
  probe: () => Promise<boolean>,
  options: ReadyOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = 'no answer yet';
  let exitedEarly: ExitInfo | undefined;
  void proc.exited.then((info) => (exitedEarly = info));
  while (Date.now() < deadline) {
    const exit = proc.exitInfo() ?? exitedEarly;
    if (exit) {
      await withTimeout(proc.exited, 500);
      throw new ComponentError(proc.name, `exited during start-up (${exit.signal ?? `exit code ${exit.code}`})`, proc.logTail());
    }
    try {
      if (await probe()) return;
      lastError = 'not ready';
    } catch (error) {
      const fatal = options.fatal?.(error);
      if (fatal) throw new ComponentError(proc.name, fatal, proc.logTail());
      lastError = error instanceof Error ? error.message : String(error);
    }
    await withTimeout(proc.exited, options.intervalMs ?? 250);
  }
  throw new ComponentError(
    proc.name,
    `not ready after ${Math.round(options.timeoutMs / 1000)} s (${options.what}: ${lastError})`,
    proc.logTail(),
  );
}

/** GET url; true on a 2xx answer. Each attempt times out on its own. */
export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  return response.ok;
}

// ---------------------------------------------------------------------------------------------
// Signals, pidfiles, orphans

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The promise's value, or undefined after ms — without a timer left behind to hold the process open. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* group already empty */
  }
}

/** The command line of a live process (Linux /proc), or undefined. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

function removePidFile(file: string, pid: number): void {
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
    if (record.pid === pid) fs.rmSync(file, { force: true });
  } catch {
    /* gone or unreadable */
  }
}

export function readPidRecords(runDir: string): PidRecord[] {
  if (!fs.existsSync(runDir)) return [];
  const records: PidRecord[] = [];
  for (const file of fs.readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
    try {
      records.push(JSON.parse(fs.readFileSync(path.join(runDir, file), 'utf8')) as PidRecord);
    } catch {
      fs.rmSync(path.join(runDir, file), { force: true });
    }
  }
  return records;
}

/** True when the pid still runs the command the record names (pids get reused). */
function stillOurs(record: PidRecord): boolean {
  if (!isAlive(record.pid)) return false;
  const cmdline = commandLineOf(record.pid);
  return cmdline === undefined || cmdline.includes(path.basename(record.command));
}

/**
 * Stops processes a crashed launcher left behind (its pidfiles in runDir), whole
 * process groups, SIGTERM then SIGKILL. Returns the names of what it stopped.
 */
export async function reapOrphans(runDir: string, note: (message: string) => void = () => {}): Promise<string[]> {
  const reaped: string[] = [];
  for (const record of readPidRecords(runDir)) {
    const file = path.join(runDir, `${record.name}.pid`);
    if (record.launcherPid !== process.pid && isAlive(record.launcherPid) && stillOurs(record)) {
      throw new Error(`${record.name} (pid ${record.pid}) belongs to a launcher that is still running (pid ${record.launcherPid})`);
    }
    if (stillOurs(record)) {
      note(`stopping orphaned ${record.name} (pid ${record.pid}) left by an earlier run`);
      signalPid(record.pid, record.name === 'postgres' ? 'SIGINT' : 'SIGTERM');
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (isAlive(record.pid) && Date.now() < deadline) await delay(100);
      signalGroup(record.pid, 'SIGKILL');
      signalPid(record.pid, 'SIGKILL');
      const killDeadline = Date.now() + 5000;
      while (isAlive(record.pid) && Date.now() < killDeadline) await delay(50);
      if (isAlive(record.pid)) throw new Error(`could not stop orphaned ${record.name} (pid ${record.pid}); stop it by hand`);
      reaped.push(record.name);
    }
    fs.rmSync(file, { force: true });
  }
  return reaped;
}

export interface LauncherRecord {
  pid: number;
  mode: string;
  startedAt: string;
}

const LAUNCHER_FILE = 'launcher.json';

/** The pid of a live launcher that owns runDir, if any. */
export function runningLauncher(runDir: string): LauncherRecord | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(runDir, LAUNCHER_FILE), 'utf8')) as LauncherRecord;
    if (record.pid === process.pid || !isAlive(record.pid)) return undefined;
    const cmdline = commandLineOf(record.pid);
    if (cmdline !== undefined && !/node|tsx/.test(cmdline)) return undefined;
    return record;
  } catch {
    return undefined;
  }
}

export class StackRunningError extends Error {
  override name = 'StackRunningError';
}

/** Claims runDir for this launcher; refuses when another live launcher holds it. */
export function claimRunDir(runDir: string, mode: string): () => void {
  fs.mkdirSync(runDir, { recursive: true });
  const other = runningLauncher(runDir);
  if (other) {
    throw new StackRunningError(
      `a ${other.mode} stack is already running from this directory (launcher pid ${other.pid}, since ${other.startedAt}) — stop it first (Ctrl-C in its terminal, or kill ${other.pid})`,
    );
  }
  const file = path.join(runDir, LAUNCHER_FILE);
  const record: LauncherRecord = { pid: process.pid, mode, startedAt: new Date().toISOString() };
  fs.writeFileSync(file, JSON.stringify(record));
  return () => {
    try {
      const current = JSON.parse(fs.readFileSync(file, 'utf8')) as LauncherRecord;
      if (current.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      /* already gone */
    }
  };
}
