// OpenPLC runtime stand-in: the HTTPS REST API on :8443 that the agent's run_command proxy reaches.
// Plain JS (it runs inside a container from the node binary alone). Records calls at /__calls.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

const token = 'stand-in-token';
const calls = [];
let plc = 'STOPPED';
let users = 0;

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
    if (route === 'GET /api/ping') return send(res, 200, { status: 'PONG' });
    if (route === 'GET /__big') return res.end(Buffer.alloc(Number(url.searchParams.get('bytes') ?? 0), 97));
    if (route === 'POST /__digest') return send(res, 200, { bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
    if (route === 'GET /__slow') return setTimeout(() => send(res, 200, { slow: true }), Number(url.searchParams.get('ms') ?? 0));
    if (route === 'POST /api/create-user') return users++ === 0 || authed ? send(res, 201, { msg: 'User created', id: users }) : send(res, 401, { msg: 'User already created!' });
    if (route === 'POST /api/login') return send(res, 200, { access_token: token });
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
server.listen(8443, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
