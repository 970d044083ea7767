// A minimal agent: propose a payment, wait for the owner's countersignature, execute, report.
//   COUNTERSIGN_API_URL=http://127.0.0.1:3000 COUNTERSIGN_API_KEY=cs_… WALLET=0x… TO=0x… npx tsx examples/typescript/agent.ts
import { createCountersign, isCountersignError } from '@countersign/sdk';

const cs = createCountersign({ apiUrl: process.env.COUNTERSIGN_API_URL!, apiKey: process.env.COUNTERSIGN_API_KEY! });
try {
  const done = await cs.proposeAndWait(
    { wallet_address: process.env.WALLET!, kind: 'native', to_address: process.env.TO!, amount: '1000', memo: 'example payment' },
    { timeoutMs: 10 * 60_000, onStillWaiting: (tx) => console.log(`still ${tx.status}…`) },
  );
  console.log(done.status, done.tx_hash ?? done.rejection_reason ?? '');
} catch (error) {
  if (!isCountersignError(error)) throw error;
  console.log(`refused: ${error.code} ${error.reason ?? ''} — ${error.hint}`);
}
