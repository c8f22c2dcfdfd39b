// The floor of the PostgreSQL front door's hops, without the gateway: a process that copies bytes between each
// client connection and a target, and nothing else. Two of them in a row (client -> relay -> relay -> PostgreSQL)
// make the same processes and wake-ups as the front door (client -> API -> member -> PostgreSQL), none of its work.
// Usage: node pg-relay.js <target port>; prints "RELAY_READY <port>". Used by pg.bench.ts.
const net = require('node:net');

const target = Number(process.argv[2]);
const server = net.createServer({ noDelay: true }, (inbound) => {
  const out = net.connect({ port: target, host: '127.0.0.1', noDelay: true });
  inbound.pipe(out).pipe(inbound);
  const close = () => {
    inbound.destroy();
    out.destroy();
  };
  inbound.on('error', close);
  out.on('error', close);
  inbound.on('close', close);
  out.on('close', close);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`RELAY_READY ${server.address().port}\n`));
