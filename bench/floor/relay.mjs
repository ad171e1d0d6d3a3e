// Floor for the SaP hop (bench/overlay.ts): a bare Node UDP relay that forwards every datagram between two
// agents without decoding anything. node relay.mjs LISTEN_IP PORT AGENT_A AGENT_B (agents listen on PORT).
import dgram from 'node:dgram';

const [ip, port, a, b] = process.argv.slice(2);
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(m, Number(port), r.address === a ? b : a));
s.bind(Number(port), ip);
