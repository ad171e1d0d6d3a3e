// autocannon run inside the client host. Latency comes from autocannon's per-response event (float ms from
// hrtime), NOT from its own percentiles, which are whole milliseconds. The first `warmup` responses are dropped.
// argv[2] = JSON {url, connections, pipelining, requests, warmup, rate?}. Prints {us: [...], errors, non2xx, rps}.
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);
const us = [];
let seen = 0;
const opts = {
  url: spec.url,
  connections: spec.connections ?? 1,
  pipelining: spec.pipelining ?? 1,
  amount: spec.requests + spec.warmup,
  timeout: 5,
};
if (spec.rate) opts.overallRate = spec.rate;
const instance = autocannon(opts, (err, result) => {
  if (err) {
    process.stderr.write(`autocannon: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(
    JSON.stringify({
      us,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      rps: result.requests.average,
    }),
  );
  process.exit(0);
});
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  if (seen++ < spec.warmup) return;
  if (statusCode >= 200 && statusCode < 300) us.push(responseTime * 1000);
});
