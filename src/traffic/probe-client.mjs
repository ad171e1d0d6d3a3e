// Reachability client for one source host: reads JSON {timeoutMs, udpTries, concurrency, targets} on stdin,
// probes every target with bounded parallelism and prints one JSON array of results. One process per source
// keeps the number of processes at the number of sources instead of the number of cells. (Hosts running a
// probe server are probed through that server instead; this is for the others.)
import { probeAll } from './probe-lib.mjs';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
process.stdout.write(JSON.stringify(await probeAll(JSON.parse(Buffer.concat(chunks).toString()))));
