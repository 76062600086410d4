// OpenPLC runtime stand-in: the HTTPS REST API on :8443 that the agent's run_command proxy reaches,
// and the debugger (upstream §15.1): a Socket.IO namespace `/api/debug` authenticated with the JWT of
// POST /api/login, answering `debug_command {command:"<hex>"}` with `debug_response {success, data}`
// from a small variable table. GET /api/version (unauthenticated) is the readiness the agent gates a
// runtime upgrade on: STAND_IN_VERSION is its answer; STAND_IN_READY=never answers 503 for ever (a
// version that never becomes ready; the rest of the API still works). Plain JS, bundled with socket.io into one file (test/support/images.ts):
// it runs inside a container from the node binary alone. Records calls at /__calls.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { Server } from 'socket.io';

// A signed-looking JWT (HS256 over a per-process secret), as the runtime's Flask-JWT hands out.
const secret = crypto.randomBytes(32);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'dev', iat: Math.floor(Date.now() / 1000) })}`;
const token = `${unsigned}.${crypto.createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
const calls = [];
let plc = 'STOPPED';
let users = 0;
// POST /__debug_pad {bytes}: the next debug_response carries that many bytes more (a hostile runtime).
let debugPad = 0;

const send = (res, code, body) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const server = https.createServer({ key: fs.readFileSync('/app/key.pem'), cert: fs.readFileSync('/app/cert.pem') }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'https://x');
    const body = Buffer.concat(chunks);
    calls.push({ method: req.method, path: url.pathname, query: url.search, headers: req.headers, bodyLength: body.length, body: body.toString('utf8', 0, 4096) });
    const authed = req.headers.authorization === `Bearer ${token}`;
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /__calls') return send(res, 200, calls);
    if (route === 'GET /__debug') return send(res, 200, { commands: debugCommands, connections: io.of('/api/debug').sockets.size });
    if (route === 'GET /api/ping') return send(res, 200, { status: 'PONG' });
    if (route === 'GET /api/version') return process.env.STAND_IN_READY === 'never' ? send(res, 503, { error: 'starting' }) : send(res, 200, { version: process.env.STAND_IN_VERSION ?? 'dev' });
    if (route === 'POST /__debug_pad') { debugPad = Number(JSON.parse(body.toString() || '{}').bytes ?? 0); return send(res, 200, { pad: debugPad }); }
    if (route === 'GET /__big') {
      const big = Buffer.alloc(Number(url.searchParams.get('bytes') ?? 0), 97);
      const hold = Number(url.searchParams.get('hold_ms') ?? 0);
      if (!hold) return res.end(big);
      // Headers (with the length) and a first part now, the rest later: many answers are in flight at once.
      res.writeHead(200, { 'content-length': String(big.length) });
      res.write(big.subarray(0, 65536));
      return setTimeout(() => res.end(big.subarray(65536)), hold);
    }
    if (route === 'POST /__digest') return send(res, 200, { bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
    if (route === 'GET /__slow') return setTimeout(() => send(res, 200, { slow: true }), Number(url.searchParams.get('ms') ?? 0));
    if (route === 'POST /api/create-user') return users++ === 0 || authed ? send(res, 201, { msg: 'User created', id: users }) : send(res, 401, { msg: 'User already created!' });
    if (route === 'POST /api/login') return /"password"\s*:\s*"wrong"/.test(body.toString()) ? send(res, 401, { msg: 'Bad username or password' }) : send(res, 200, { access_token: token });
    if (!authed) return send(res, 401, { msg: 'Missing Authorization Header' });
    switch (route) {
      case 'GET /api/status': return send(res, 200, { status: `STATUS:${plc}` });
      case 'GET /api/start-plc': plc = 'RUNNING'; return send(res, 200, { status: 'START:OK' });
      case 'GET /api/stop-plc': plc = 'STOPPED'; return send(res, 200, { status: 'STOP:OK' });
      case 'GET /api/compilation-status': return send(res, 200, { status: 'SUCCESS', logs: [], exit_code: 0 });
      case 'POST /api/upload-file': return send(res, 200, { UploadFileFail: '', CompilationStatus: 'COMPILING' });
      default: return send(res, 200, req.method === 'GET' ? { error: 'Unknown argument' } : { PostRequestError: 'Unknown argument' });
    }
  });
});
// The debug variable table: sizes per upstream §15.1 (values little-endian), then STRINGs (127 bytes)
// so that a GET_LIST of many of them is a large response (≈ 97,000 hex characters for 256).
const SIZES = [1, 1, 2, 2, 4, 4, 4, 8, 8, ...Array(300).fill(127)];
const vars = SIZES.map((n, i) => {
  const b = Buffer.alloc(n);
  if (n === 127) { const t = Buffer.from(`string variable ${i}`); b[0] = t.length; t.copy(b, 1); } else b.writeUIntLE(i & 0xff, 0, 1);
  return b;
});
const forced = new Set();
let tick = 0;
const PROGRAM_MD5 = crypto.createHash('md5').update('stand-in program').digest('hex');
const debugCommands = [];
const hex = (b) => [...b].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
const u16 = (n) => [n >> 8, n & 0xff];
function debugFrame(req) {
  const fc = req[0];
  switch (fc) {
    case 0x41: return [0x41, ...u16(vars.length)];
    case 0x45: return req.length === 5 && req[1] === 0xde && req[2] === 0xad ? [0x45, 0x7e, ...Buffer.from(PROGRAM_MD5)] : [0x45, 0x82];
    case 0x42: {
      const idx = req.readUInt16BE(1), force = req[3], len = req.readUInt16BE(4), value = req.subarray(6, 6 + len);
      if (idx >= vars.length) return [0x42, 0x81];
      if (value.length !== len || len !== vars[idx].length) return [0x42, 0x82];
      value.copy(vars[idx]);
      if (force) forced.add(idx); else forced.delete(idx);
      return [0x42, 0x7e];
    }
    case 0x43: case 0x44: {
      let idxs;
      if (fc === 0x43) { const a = req.readUInt16BE(1), b = req.readUInt16BE(3); idxs = Array.from({ length: Math.max(0, b - a + 1) }, (_, k) => a + k); }
      else { const n = req.readUInt16BE(1); idxs = Array.from({ length: n }, (_, k) => req.readUInt16BE(3 + 2 * k)); }
      if (idxs.length > 256) return [fc, 0x82];
      if (idxs.some((i) => i >= vars.length)) return [fc, 0x81];
      tick++;
      const data = Buffer.concat(idxs.map((i) => vars[i]));
      return [fc, 0x7e, ...u16(idxs.at(-1) ?? 0), tick >>> 24, (tick >> 16) & 0xff, (tick >> 8) & 0xff, tick & 0xff, ...u16(data.length), ...data];
    }
    default: return null;
  }
}
const io = new Server(server, { cors: { origin: '*' } });
io.of('/api/debug').use((socket, next) => (socket.handshake.auth?.token === token ? next() : next(new Error('unauthorized'))));
io.of('/api/debug').on('connection', (socket) => {
  socket.emit('connected', { status: 'ok' });
  socket.on('debug_command', (m) => {
    const command = typeof m?.command === 'string' ? m.command : '';
    debugCommands.push(command);
    const compact = command.replace(/\s+/g, '');
    const out = /^([0-9A-Fa-f]{2})+$/.test(compact) ? debugFrame(Buffer.from(compact, 'hex')) : null;
    const padding = debugPad ? { padding: 'p'.repeat(debugPad) } : {};
    debugPad = 0;
    socket.emit('debug_response', out ? { success: true, data: hex(out), ...padding } : { success: false, error: 'invalid debug command' });
  });
});
server.listen(8443, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
