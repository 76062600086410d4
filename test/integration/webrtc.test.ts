// The WebRTC bridge end to end (CONTRACT §9.5): the mTLS test cloud relays signalling, a werift peer in
// this test plays the browser on 127.0.0.1 with host candidates only (no ICE server: nothing leaves the
// machine), the agent is a real process, the runtime stand-in runs on the private engine.
// The peer is written from the contract alone: it shares no code with the agent.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { chunkReassembler } from '../support/chunk-reassembly.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.64/26';
const AGENT_ID = 'agent-webrtc';
const DEVICE = 'plc-rtc';
const IDLE_MS = 5_000;
let stack: CloudStack;

type Msg = Record<string, unknown>;

/** Candidate lines out of an SDP: every candidate then travels through webrtc:ice (trickle). */
const withoutCandidates = (sdp: string) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');

let sessions = 0;
/** Every peer made, closed at the end whatever happened (an open one keeps the test process alive). */
const peers: Peer[] = [];

/** The browser: offers a `data` channel, trickles its candidates, chunks and reassembles per §9.5. */
class Peer {
  readonly id = `rtc-${process.pid}-${++sessions}`;
  readonly pc = new RTCPeerConnection({ iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } });
  readonly data: RTCDataChannel = this.pc.createDataChannel('data');
  readonly received: Msg[] = [];
  /** Raw data-channel messages, chunks included. */
  readonly wire: Msg[] = [];
  private readonly take = chunkReassembler((m) => this.received.push(m));
  private agentCandidates = 0;
  private pumping = true;

  constructor() {
    peers.push(this);
    this.data.onMessage.subscribe((raw) => {
      const m = JSON.parse(raw.toString()) as Msg;
      this.wire.push(m);
      this.take(m);
    });
  }

  /** Offers; resolves with the ack. Candidates are not exchanged yet. */
  async offer(device = DEVICE): Promise<Msg> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return stack.cloud.call('webrtc:offer', { correlation_id: `o-${this.id}`, session_id: this.id, device_id: device, sdp: withoutCandidates(this.pc.localDescription!.sdp), sdp_type: 'offer' });
  }

  /** Offer, answer, candidates both ways through the cloud, then the agent's `ready`. */
  async connect(): Promise<Msg> {
    const local: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[] = [];
    this.pc.onIceCandidate.subscribe((c) => c?.candidate && local.push({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }));
    const ack = await this.offer();
    assert.equal(ack.status, 'success', JSON.stringify(ack));
    assert.equal(ack.sdp_type, 'answer');
    await this.pc.setRemoteDescription({ type: 'answer', sdp: withoutCandidates(ack.sdp as string) });
    await waitFor('peer candidates gathered', () => this.pc.iceGatheringState === 'complete' || null, 10_000, 20);
    for (const c of local) {
      const a = await stack.cloud.call('webrtc:ice', { session_id: this.id, candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex });
      assert.equal(a.status, 'success', JSON.stringify(a));
    }
    assert.equal((await stack.cloud.call('webrtc:ice', { session_id: this.id, candidate: null })).status, 'success');
    void this.pumpAgentCandidates();
    return this.next('ready');
  }

  /** Adds the agent's webrtc:ice emits for this session as they come (they are the only way in). */
  private async pumpAgentCandidates(): Promise<void> {
    while (this.pumping && this.pc.connectionState !== 'closed') {
      const mine = stack.cloud.received('webrtc:ice').map((e) => e.args[0] as Msg).filter((p) => p.session_id === this.id);
      for (const c of mine.slice(this.agentCandidates)) {
        assert.match(String(c.candidate), /^candidate:/);
        await this.pc.addIceCandidate({ candidate: c.candidate as string, sdpMid: c.sdp_mid as string, sdpMLineIndex: c.sdp_mline_index as number });
      }
      this.agentCandidates = mine.length;
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  get agentCandidateCount(): number {
    return this.agentCandidates;
  }

  /** Sends a message, in chunks of 14,000 characters when its JSON has 15,000 or more. */
  send(m: Msg): void {
    const text = JSON.stringify(m);
    if (text.length < 15_000) return this.data.send(text);
    const tid = crypto.randomUUID();
    const n = Math.ceil(text.length / 14_000);
    this.data.send(JSON.stringify({ type: 'chunk_start', transfer_id: tid, total_chunks: n, total_size: text.length }));
    for (let i = 0; i < n; i++) this.data.send(JSON.stringify({ type: 'chunk_data', transfer_id: tid, sequence: i, data: text.slice(i * 14_000, (i + 1) * 14_000) }));
    this.data.send(JSON.stringify({ type: 'chunk_end', transfer_id: tid }));
  }

  async next(type: string, pred: (m: Msg) => boolean = () => true, timeoutMs = 20_000): Promise<Msg> {
    return waitFor(`${type} on ${this.id}`, () => this.received.find((m) => m.type === type && pred(m)) ?? null, timeoutMs, 20);
  }

  async command(correlation_id: number, cmd: Msg, timeoutMs = 30_000): Promise<Msg> {
    this.send({ type: 'run_command', correlation_id, device_id: DEVICE, ...cmd });
    return this.next('command_response', (m) => m.correlation_id === correlation_id, timeoutMs);
  }

  async close(): Promise<void> {
    this.pumping = false;
    await this.pc.close();
  }
}

/** Whether the agent still has the session (an end-of-candidates changes nothing and is not activity). */
async function agentHas(id: string): Promise<boolean> {
  const a = await stack.cloud.call('webrtc:ice', { session_id: id, candidate: null });
  return a.status === 'success';
}

/** Ends the peers' sessions on the agent (whatever is left of them) and closes the peers. */
async function endSessions(peers: Peer[]): Promise<void> {
  for (const p of peers) if (await agentHas(p.id)) await stack.cloud.call('webrtc:disconnect', { session_id: p.id });
  await Promise.all(peers.map((p) => p.close()));
}

function agentRssKb(): number {
  const m = new RegExp(`^VmRSS:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${stack.agent.child!.pid}/status`, 'utf8'));
  return Number(m![1]);
}
const agentFds = () => fs.readdirSync(`/proc/${stack.agent.child!.pid}/fd`).length;

describe('WebRTC bridge', () => {
  let token = '';
  before(async () => {
    stack = await startCloudStack({
      subnet: SUBNET,
      agentId: AGENT_ID,
      env: { ORCH_WEBRTC_ICE_SERVERS: '', ORCH_WEBRTC_HOST_ADDRESSES: '127.0.0.1', ORCH_WEBRTC_IDLE_MS: String(IDLE_MS), ORCH_RUN_COMMAND_TIMEOUT_MS: '5000', ORCH_LOG_LEVEL: 'info' },
    });
    const ack = await stack.cloud.call('create_new_runtime', {
      correlation_id: 1,
      container_name: DEVICE,
      vnic_configs: [{ name: 'eth0', parent_interface: stack.lan.parent, network_mode: 'static', ip: '203.0.113.70', subnet: '255.255.255.192', gateway: '203.0.113.65' }],
    });
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    await waitFor(`${DEVICE} running`, async () => {
      const s = await stack.cloud.call('get_device_status', { device_id: DEVICE });
      return s.status === 'success' && s.is_running === true ? s : null;
    }, 60_000, 250);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close().catch(() => undefined)));
    await stack?.teardown();
  });

  test('nothing WebRTC is loaded before the first offer', () => {
    assert.ok(!stack.agent.log().includes('WebRTC bridge loaded'));
  });

  test('an offer for an unknown device is refused, and malformed signalling is answered', async () => {
    const p = new Peer();
    const ack = await p.offer('ghost-device');
    assert.ok(stack.agent.log().includes('WebRTC bridge loaded'), 'loaded on the first offer');
    assert.deepEqual(ack, { action: 'webrtc:offer', correlation_id: `o-${p.id}`, status: 'error', session_id: p.id, error: 'Device not found: ghost-device' });
    await p.close();
    const bad = await stack.cloud.call('webrtc:offer', { session_id: 's1', device_id: DEVICE, sdp: 'v=0', sdp_type: 'answer' });
    assert.equal(bad.status, 'error');
    assert.equal(bad.session_id, 's1');
    assert.match(String(bad.error), /^sdp_type: /);
    assert.deepEqual(await stack.cloud.call('webrtc:ice', { session_id: 'nope', candidate: null }), { action: 'webrtc:ice', correlation_id: null, status: 'error', session_id: 'nope', error: 'session_id: no such WebRTC session' });
    assert.deepEqual(await stack.cloud.call('webrtc:disconnect', { correlation_id: 3, session_id: 'nope' }), { action: 'webrtc:disconnect', correlation_id: 3, status: 'warning', session_id: 'nope', message: 'Session not found' });
  });

  test('ready, ping/pong, run_command round trip with the contract rules, 200 KB in chunks, a chunked upload', async () => {
    const p = new Peer();
    const ready = await p.connect();
    assert.equal(ready.session_id, p.id);
    assert.ok(p.agentCandidateCount >= 1, 'the agent trickled its candidates');
    for (const e of stack.cloud.received('webrtc:ice').map((x) => x.args[0] as Msg).filter((x) => x.session_id === p.id)) {
      assert.match(String(e.candidate), / 127\.0\.0\.1 \d+ typ host/, 'host candidates on the configured address only');
    }

    p.send({ type: 'ping', timestamp: 42 });
    assert.equal((await p.next('pong', (m) => m.timestamp === 42)).type, 'pong');

    const login = await p.command(1, { method: 'POST', api: '/api/login', data: { username: 'u', password: 'p' } });
    assert.equal(login.status, 'success', JSON.stringify(login));
    token = ((login.http_response as Msg).body as Msg).access_token as string;
    const st = await p.command(2, { method: 'GET', api: 'api/status', headers: { Authorization: `Bearer ${token}` } });
    assert.deepEqual((st.http_response as Msg).body, { status: 'STATUS:STOPPED' });
    assert.equal((st.http_response as Msg).status_code, 200);

    const dotdot = await p.command(3, { method: 'GET', api: '/api/../../etc/passwd' });
    assert.deepEqual(dotdot, { type: 'command_response', correlation_id: 3, status: 'error', error: 'api: must not contain a ".." segment (percent-encoded included)' });
    const host = await p.command(4, { method: 'GET', api: 'http://169.254.169.254/latest' });
    assert.equal(host.status, 'error');
    assert.match(String(host.error), /^api: /);
    const other = await p.command(5, { method: 'GET', api: '/api/status', device_id: 'another-plc' });
    assert.equal(other.status, 'error');
    assert.match(String(other.error), /^device_id: this session is for plc-rtc/);

    const before = p.wire.length;
    const big = await p.command(6, { method: 'GET', api: '/__big', params: { bytes: '200000' } });
    const body = (big.http_response as Msg).body as string;
    assert.equal(body.length, 200_000);
    assert.equal(body, 'a'.repeat(200_000), 'byte for byte');
    const chunks = p.wire.slice(before).filter((m) => m.type === 'chunk_data');
    assert.ok(chunks.length >= 14, `the response came in chunks (${chunks.length})`);
    for (const c of chunks) assert.ok((c.data as string).length <= 14_000);

    const upload = crypto.randomBytes(60_000).toString('base64');
    assert.ok(upload.length > 15_000);
    const digest = await p.command(7, { method: 'POST', api: '/__digest', data: upload, headers: { 'Content-Type': 'text/plain' } });
    assert.deepEqual((digest.http_response as Msg).body, { bytes: upload.length, sha256: crypto.createHash('sha256').update(upload).digest('hex') });

    // Larger than the cloud's ack limit: the data channel has the 16 MiB body cap instead.
    // 3 MiB through SCTP in JavaScript at both ends: tens of seconds on a loaded 2-core machine.
    const large = await p.command(8, { method: 'GET', api: '/__big', params: { bytes: String(3 * 2 ** 20) } }, 120_000);
    assert.equal(((large.http_response as Msg).body as string).length, 3 * 2 ** 20);

    p.send({ type: 'close' });
    await waitFor('session closed by the peer', async () => !(await agentHas(p.id)) || null, 10_000, 100);
    await p.close();
  });

  test('the Socket.IO link dropping does not end a session', async () => {
    const p = new Peer();
    await p.connect();
    const links = stack.cloud.connections.length;
    for (const s of stack.cloud.sockets()) s.disconnect(true);
    // While the link is down the data channel keeps working.
    const during = await p.command(10, { method: 'GET', api: '/api/ping' });
    assert.deepEqual((during.http_response as Msg).body, { status: 'PONG' });
    await waitFor('agent back on the cloud', () => stack.cloud.connections.length > links || null, 30_000, 50);
    assert.ok(await agentHas(p.id), 'the session outlived the link');
    const afterwards = await p.command(11, { method: 'GET', api: '/api/status', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(afterwards.status, 'success');
    const bye = await stack.cloud.call('webrtc:disconnect', { session_id: p.id, reason: 'test done' });
    assert.deepEqual(bye, { action: 'webrtc:disconnect', correlation_id: null, status: 'success', session_id: p.id, message: 'Session closed' });
    await p.close();
  });

  test(`a session idle for ${IDLE_MS} ms is closed; one whose peer keeps talking is not`, async () => {
    const quiet = new Peer();
    const busy = new Peer();
    // The quiet session's idle clock runs from its own `ready`: on a loaded machine the busy peer's
    // connect can take longer than IDLE_MS, so the clock is read here, not after both connected.
    await quiet.connect();
    const started = Date.now();
    let talk: NodeJS.Timeout | undefined;
    try {
      await busy.connect();
      talk = setInterval(() => busy.send({ type: 'ping', timestamp: Date.now() }), 500);
      const bye = await quiet.next('close', () => true, 4 * IDLE_MS);
      assert.equal(bye.reason, 'idle');
      await waitFor('quiet peer channel closed', () => quiet.data.readyState === 'closed' || null, 5_000, 50);
      const closedAfter = Date.now() - started;
      assert.ok(closedAfter >= IDLE_MS - 500, `closed after ${closedAfter} ms`);
      assert.equal(await agentHas(quiet.id), false);
      while (Date.now() - started < 1.5 * IDLE_MS) await new Promise((r) => setTimeout(r, 200));
      assert.equal(await agentHas(busy.id), true, 'a talking peer is not idle');
      assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: busy.id })).status, 'success');
      await busy.next('close', (m) => m.reason === 'webrtc:disconnect');
    } finally {
      clearInterval(talk);
      // A failed assertion must not leave sessions open for the next tests (the limit of 8 counts them).
      await endSessions([quiet, busy]);
    }
  });

  test('at most 8 sessions at once: the 9th is refused, and a slot frees when one ends', async () => {
    const peers = Array.from({ length: 9 }, () => new Peer());
    // Eight connected sessions that keep talking: an offer that never connects ends when its ICE fails
    // or after IDLE_MS, either of which a loaded machine can reach while the eight are being made.
    const connected: Peer[] = [];
    const keep = setInterval(() => { for (const p of connected) if (p.data.readyState === 'open') p.send({ type: 'ping', timestamp: -1 }); }, 1000);
    try {
      for (const p of peers.slice(0, 8)) {
        await p.connect();
        connected.push(p);
      }
      const ninth = await peers[8]!.offer();
      assert.deepEqual(ninth, { action: 'webrtc:offer', correlation_id: `o-${peers[8]!.id}`, status: 'error', session_id: peers[8]!.id, error: 'session_id: at most 8 WebRTC sessions at once' });
      for (const p of peers.slice(0, 8)) assert.ok(await agentHas(p.id), `${p.id} still open`);
      assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: peers[0]!.id })).status, 'success');
      const retry = await stack.cloud.call('webrtc:offer', { session_id: peers[8]!.id, device_id: DEVICE, sdp: withoutCandidates(peers[8]!.pc.localDescription!.sdp), sdp_type: 'offer' });
      assert.equal(retry.status, 'success');
    } finally {
      clearInterval(keep);
      await endSessions(peers);
    }
  });

  test('chunked messages beyond the byte budget are refused per session and agent-wide, and the peer is told', async () => {
    const [a, b, c] = [new Peer(), new Peer(), new Peer()];
    const connected: Peer[] = [];
    // Connected peers keep talking (pongs of timestamp -1 match no announce): on a loaded machine the
    // connects and transfers below can take longer than IDLE_MS, and an idle-closed session answers nothing.
    const keep = setInterval(() => { for (const p of connected) if (p.data.readyState === 'open') p.send({ type: 'ping', timestamp: -1 }); }, 1000);
    try {
      for (const p of [a, b, c]) {
        await p.connect();
        connected.push(p);
      }
      let n = 0;
      /** Announces a transfer (a transfer reserves twice its total_size), then waits for a round trip on the channel. */
      const announce = async (p: Peer, transfer_id: string, total_size: number) => {
        p.data.send(JSON.stringify({ type: 'chunk_start', transfer_id, total_chunks: Math.ceil(total_size / 14_000), total_size }));
        const timestamp = ++n;
        p.send({ type: 'ping', timestamp });
        await p.next('pong', (m) => m.timestamp === timestamp);
        return p.received.find((m) => m.type === 'error' && m.transfer_id === transfer_id) ?? null;
      };
      // 20 M characters would hold 40 MB: more than one session may (32 MiB), though under HEAD's 100 MB.
      assert.deepEqual(await announce(a, 'too-big', 20_000_000), { type: 'error', transfer_id: 'too-big', error: '(agent): 40000000 bytes more would exceed ORCH_MAX_SESSION_INFLIGHT_BYTES=33554432 for this session (0 in flight); try again later' });
      // Two sessions hold 60 MB of the agent's 64 MiB: a third session's 8 MB do not fit.
      assert.equal(await announce(a, 'a1', 15_000_000), null);
      assert.equal(await announce(b, 'b1', 15_000_000), null);
      assert.deepEqual(await announce(c, 'c1', 4_000_000), { type: 'error', transfer_id: 'c1', error: '(agent): 8000000 bytes more would exceed ORCH_MAX_INFLIGHT_BYTES=67108864 (60000000 in flight); try again later' });
      // A small chunked command still fits, and is answered.
      const upload = 'u'.repeat(60_000);
      c.send({ type: 'run_command', correlation_id: 90, device_id: DEVICE, method: 'POST', api: '/__digest', data: upload, headers: { 'Content-Type': 'text/plain' } });
      const digest = await c.next('command_response', (m) => m.correlation_id === 90);
      assert.deepEqual((digest.http_response as Msg).body, { bytes: upload.length, sha256: crypto.createHash('sha256').update(upload).digest('hex') });
      // A session that closes gives its transfers back.
      assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: a.id })).status, 'success');
      assert.equal(await announce(c, 'c2', 4_000_000), null);
      for (const p of [b, c]) assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: p.id })).status, 'success');
    } finally {
      clearInterval(keep);
      await endSessions([a, b, c]);
    }
  });

  test('20 sessions opened and closed leave the agent where it was (RSS, file descriptors)', async () => {
    const one = async (i: number) => {
      const p = new Peer();
      await p.connect();
      const r = await p.command(100 + i, { method: 'GET', api: '/api/ping' });
      assert.equal(r.status, 'success');
      assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: p.id })).status, 'success');
      await p.close();
    };
    for (let i = 0; i < 3; i++) await one(i); // warm-up: werift loaded, JIT settled
    const rssBefore = agentRssKb();
    const fdsBefore = agentFds();
    for (let i = 0; i < 20; i++) await one(10 + i);
    await new Promise((r) => setTimeout(r, 1_000)); // no condition to await: let closes settle before sampling
    const rssAfter = agentRssKb();
    const fdsAfter = agentFds();
    process.stdout.write(`# agent VmRSS before 20 sessions ${rssBefore} kB, after ${rssAfter} kB (${((rssAfter - rssBefore) / 1024).toFixed(1)} MiB); fds ${fdsBefore} → ${fdsAfter}\n`);
    assert.ok(fdsAfter <= fdsBefore + 2, `file descriptors leak: ${fdsBefore} → ${fdsAfter}`);
    assert.ok(rssAfter - rssBefore < 24 * 1024, `RSS grew by ${rssAfter - rssBefore} kB`);
  });

  test('SIGTERM closes the open sessions and stops the agent cleanly', async () => {
    const p = new Peer();
    await p.connect();
    const code = await stack.agent.stop();
    assert.equal(code, 0);
    assert.equal((await p.next('close')).reason, 'agent stopping');
    assert.match(stack.agent.log(), /"reason":"agent stopping"/);
    await p.close();
  });
});
