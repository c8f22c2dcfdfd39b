// The member side of the floor (see relay.js): runs each SQL it is sent on one PostgreSQL connection.
// Usage: node member.js <ws port> <postgres url>
const { WebSocket } = require('ws');
const { Client } = require('pg');

(async () => {
  const pg = new Client({ connectionString: process.argv[3] });
  await pg.connect();
  const ws = new WebSocket(`ws://127.0.0.1:${process.argv[2]}`, { perMessageDeflate: false });
  ws.on('message', async (data) => {
    const m = JSON.parse(data.toString());
    const r = await pg.query({ text: m.sql, rowMode: 'array' });
    ws.send(JSON.stringify({ id: m.id, columns: r.fields.map((f) => ({ name: f.name })), rows: r.rows }));
  });
  ws.on('close', () => process.exit(0));
})();
