// The floor of the PostgreSQL front door on the transport it is built on (ARCHITECTURE.md: a member speaks to the
// control plane over one WebSocket it opens): each client connection is carried as binary frames over one WebSocket
// between two processes, and the member side opens a connection to PostgreSQL per client. Nothing is parsed: a frame
// is a type byte, a session number and the bytes as they came. Any front door on that transport does at least this.
// Usage: node pg-ws-relay.js hub                       prints "HUB_READY <client port> <websocket port>"
//        node pg-ws-relay.js member <ws port> <target>   prints "MEMBER_READY" once connected
// Used by pg.bench.ts.
const net = require('node:net');
const { WebSocket, WebSocketServer } = require('ws');

const OPEN = 0;
const DATA = 1;
const CLOSE = 2;

function frame(type, id, data) {
  const b = Buffer.allocUnsafe(5 + (data ? data.length : 0));
  b[0] = type;
  b.writeUInt32BE(id, 1);
  if (data) data.copy(b, 5);
  return b;
}

/** Relays one side's sockets over `ws`; `open(id)` makes the socket of a session the other side opened. */
function carry(ws, sessions, open) {
  ws.on('message', (m) => {
    const id = m.readUInt32BE(1);
    if (m[0] === OPEN) return void open(id);
    const s = sessions.get(id);
    if (!s) return;
    if (m[0] === DATA) s.write(m.subarray(5));
    else s.destroy();
  });
}

function attach(ws, sessions, id, socket) {
  sessions.set(id, socket);
  socket.setNoDelay(true);
  socket.on('data', (d) => ws.send(frame(DATA, id, d)));
  const close = () => {
    if (!sessions.delete(id)) return;
    socket.destroy();
    if (ws.readyState === WebSocket.OPEN) ws.send(frame(CLOSE, id));
  };
  socket.on('error', close);
  socket.on('close', close);
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'hub') {
  const sessions = new Map();
  let member = null;
  let next = 1;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
    clients.listen(0, '127.0.0.1', () => process.stdout.write(`HUB_READY ${clients.address().port} ${wss.address().port}\n`));
  });
  wss.on('connection', (ws) => {
    member = ws;
    carry(ws, sessions, () => undefined);
  });
  const clients = net.createServer((socket) => {
    if (!member) return void socket.destroy();
    const id = next++;
    member.send(frame(OPEN, id));
    attach(member, sessions, id, socket);
  });
} else if (role === 'member') {
  const [wsPort, target] = rest.map(Number);
  const sessions = new Map();
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`);
  ws.on('open', () => process.stdout.write('MEMBER_READY\n'));
  carry(ws, sessions, (id) => attach(ws, sessions, id, net.connect({ port: target, host: '127.0.0.1' })));
} else {
  process.stderr.write('usage: pg-ws-relay.js hub | member <ws port> <target port>\n');
  process.exit(2);
}
