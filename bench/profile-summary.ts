/**
 * Where the CPU went, from a V8 .cpuprofile (node --cpu-prof; `BENCH_CPU_PROF=1 npm run bench`
 * writes them to test-results/bench-profiles/): self time by package or project file, and the
 * hottest functions.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [top=25]
 */
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function bucketOf(url: string): string {
  if (!url) return '(native / idle / gc)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node (built-ins)';
  const project = url.replace(/^file:\/\//, '').split('/');
  const root = project.findIndex((part) => ['api', 'domains', 'lib', 'activities', 'worker', 'config', 'workflows', 'bench', 'scripts'].includes(part));
  return root >= 0 ? project.slice(root, root + 2).join('/') : url;
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const totalUs = profile.endTime - profile.startTime;
let idleUs = 0;
const buckets = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  const name = node.callFrame.functionName;
  if (name === '(idle)' || name === '(program)') {
    if (name === '(idle)') idleUs += us;
    continue;
  }
  const bucket = name === '(garbage collector)' ? '(garbage collector)' : bucketOf(node.callFrame.url);
  buckets.set(bucket, (buckets.get(bucket) ?? 0) + us);
  const key = `${name || '(anonymous)'}  ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(api|domains|lib|activities|worker|config|workflows)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + us);
}
const busyUs = [...buckets.values()].reduce((a, b) => a + b, 0);
const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`;
process.stdout.write(`${file}\nwall ${(totalUs / 1e6).toFixed(1)} s, busy ${(busyUs / 1e6).toFixed(1)} s, idle ${(idleUs / 1e6).toFixed(1)} s\n\nself time by package / project file:\n`);
for (const [bucket, us] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${bucket}\n`);
process.stdout.write('\nhottest functions (self time):\n');
for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${fn}\n`);
