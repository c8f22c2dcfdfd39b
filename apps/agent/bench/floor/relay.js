// The floor of the live path's hops, without the gateway: an HTTP server that sends each request's SQL over one
// WebSocket to a member process and answers with its rows. Same processes and writes as the gateway's path
// (client -> API -> member -> PostgreSQL and back), none of its work (auth, routing, validation, framework).
// Prints "FLOOR_READY <port>" once the member is connected. Used by gateway.bench.ts.
const http = require('node:http');
const { WebSocketServer } = require('ws');

const pending = new Map();
let member = null;
let next = 0;
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
wss.on('connection', (ws) => {
  member = ws;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`FLOOR_READY ${server.address().port}\n`));
});
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const id = ++next;
    pending.set(id, (m) => {
      const out = JSON.stringify({ columns: m.columns, rows: m.rows });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
    member.send(JSON.stringify({ id, sql: JSON.parse(body).sql }));
  });
});
wss.on('listening', () => process.stdout.write(`FLOOR_WS ${wss.address().port}\n`));
