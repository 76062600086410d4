// The runtime debugger end to end (CONTRACT §9.5, upstream §13.13 / §15.1): `run_command` with
// `api:"debug"` through the mTLS test cloud, and the WebRTC `debug` data channel with a werift peer on
// 127.0.0.1, both relayed by the agent (a real process) to the runtime stand-in's Socket.IO `/api/debug`.
// The peer and the frame expectations are written from the contract alone: no agent code is shared.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { chunkReassembler } from '../support/chunk-reassembly.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.128/26';
const AGENT_ID = 'agent-debug';
const DEVICE = 'plc-dbg';
/** The idle limit of WebRTC and debug sessions (ORCH_WEBRTC_IDLE_MS; 300 s in production). */
const IDLE_MS = 4_000;
const PASSWORD = 'pw-do-not-log-8c1f';
const MD5 = crypto.createHash('md5').update('stand-in program').digest('hex');
let stack: CloudStack;

type Msg = Record<string, unknown>;

const debug = async (data: Msg, correlation_id: number | null = null): Promise<Msg> => stack.cloud.call('run_command', { correlation_id, device_id: DEVICE, method: 'POST', api: 'debug', data });
const standIn = async (): Promise<{ commands: string[]; connections: number }> => {
  const a = await stack.cloud.call('run_command', { device_id: DEVICE, method: 'GET', api: '/__debug' });
  assert.equal(a.status, 'success', JSON.stringify(a));
  return (a.http_response as Msg).body as { commands: string[]; connections: number };
};
const withoutCandidates = (sdp: string) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');

const peers: Peer[] = [];
/** The browser: `data` and `debug` channels; debug messages reassembled from chunks per §9.5. */
class Peer {
  readonly id = `dbg-${process.pid}-${peers.length + 1}`;
  readonly pc = new RTCPeerConnection({ iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } });
  readonly data: RTCDataChannel = this.pc.createDataChannel('data');
  readonly debug: RTCDataChannel = this.pc.createDataChannel('debug');
  readonly received: Msg[] = [];
  readonly wire: Msg[] = [];
  private readonly take = chunkReassembler((m) => this.received.push(m));
  private pumping = true;

  constructor() {
    peers.push(this);
    this.debug.onMessage.subscribe((raw) => {
      const m = JSON.parse(raw.toString()) as Msg;
      this.wire.push(m);
      this.take(m);
    });
  }

  async connect(): Promise<Msg> {
    const local: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[] = [];
    this.pc.onIceCandidate.subscribe((c) => c?.candidate && local.push({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const ack = await stack.cloud.call('webrtc:offer', { session_id: this.id, device_id: DEVICE, sdp: withoutCandidates(this.pc.localDescription!.sdp), sdp_type: 'offer' });
    assert.equal(ack.status, 'success', JSON.stringify(ack));
    await this.pc.setRemoteDescription({ type: 'answer', sdp: withoutCandidates(ack.sdp as string) });
    await waitFor('peer candidates gathered', () => this.pc.iceGatheringState === 'complete' || null, 10_000, 20);
    for (const c of local) assert.equal((await stack.cloud.call('webrtc:ice', { session_id: this.id, candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex })).status, 'success');
    void this.pumpAgentCandidates();
    return this.next('debug_ready');
  }

  private async pumpAgentCandidates(): Promise<void> {
    let done = 0;
    while (this.pumping && this.pc.connectionState !== 'closed') {
      const mine = stack.cloud.received('webrtc:ice').map((e) => e.args[0] as Msg).filter((p) => p.session_id === this.id);
      for (const c of mine.slice(done)) await this.pc.addIceCandidate({ candidate: c.candidate as string, sdpMid: c.sdp_mid as string, sdpMLineIndex: c.sdp_mline_index as number });
      done = mine.length;
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  async next(type: string, pred: (m: Msg) => boolean = () => true, timeoutMs = 20_000): Promise<Msg> {
    return waitFor(`${type} on ${this.id}`, () => this.received.find((m) => m.type === type && pred(m)) ?? null, timeoutMs, 20);
  }

  /** Sends a debug message with a request_id and waits for the answer that echoes it. */
  private seq = 0;
  async ask(m: Msg): Promise<Msg> {
    const request_id = ++this.seq;
    this.debug.send(JSON.stringify({ ...m, request_id }));
    return waitFor(`answer ${request_id} on ${this.id}`, () => this.received.find((x) => x.request_id === request_id) ?? null, 20_000, 20);
  }

  async close(): Promise<void> {
    this.pumping = false;
    await this.pc.close();
  }
}

describe('runtime debugger', () => {
  before(async () => {
    stack = await startCloudStack({
      subnet: SUBNET,
      agentId: AGENT_ID,
      env: { ORCH_WEBRTC_ICE_SERVERS: '', ORCH_WEBRTC_HOST_ADDRESSES: '127.0.0.1', ORCH_WEBRTC_IDLE_MS: String(IDLE_MS), ORCH_RUN_COMMAND_TIMEOUT_MS: '5000', ORCH_LOG_LEVEL: 'debug' },
    });
    const ack = await stack.cloud.call('create_new_runtime', {
      correlation_id: 1,
      container_name: DEVICE,
      vnic_configs: [{ name: 'eth0', parent_interface: stack.lan.parent, network_mode: 'static', ip: '203.0.113.140', subnet: '255.255.255.192', gateway: '203.0.113.129' }],
    });
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    await waitFor(`${DEVICE} running`, async () => {
      const s = await stack.cloud.call('get_device_status', { device_id: DEVICE });
      return s.status === 'success' && s.is_running === true ? s : null;
    }, 60_000, 250);
    // The stand-in listens once its process is up.
    await waitFor('stand-in answering', async () => (await stack.cloud.call('run_command', { device_id: DEVICE, method: 'GET', api: '/api/ping' })).status === 'success' || null, 30_000, 200);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close().catch(() => undefined)));
    await stack?.teardown();
  });

  test('run_command api:"debug": start, md5, info, list, set, errors, stop (frames as §15.1)', async () => {
    assert.deepEqual(await debug({ type: 'debug_info' }, 7), { action: 'run_command', correlation_id: 7, status: 'error', debug_response: { type: 'debug_error', error: 'No active debug session. Send debug_start first.' } });
    const refused = await debug({ type: 'debug_start', username: 'dev', password: 'wrong' });
    assert.deepEqual(refused.debug_response, { type: 'debug_error', error: 'Authentication failed: HTTP 401' });
    assert.equal((await debug({ type: 'debug_nope' })).status, 'error');
    assert.match(String(((await debug({ type: 'debug_get_list', indexes: [] })).debug_response as Msg).error), /^indexes: /);

    const start = await debug({ type: 'debug_start', username: 'dev', password: PASSWORD, port: 8443 }, 8);
    assert.deepEqual(start, { action: 'run_command', correlation_id: 8, status: 'success', debug_response: { type: 'debug_connected' } });
    assert.equal((await standIn()).connections, 1);

    assert.deepEqual((await debug({ type: 'debug_get_md5' })).debug_response, { type: 'debug_md5_response', md5: MD5 });
    assert.deepEqual((await debug({ type: 'debug_info' })).debug_response, { type: 'debug_info_response', variable_count: 309 });
    const list = (await debug({ type: 'debug_get_list', indexes: [0, 3, 5] })).debug_response as Msg;
    assert.equal(list.type, 'debug_values_response');
    assert.equal(list.data, '00 03 00 05 00 00 00', 'BOOL, INT, DINT little-endian, relayed as hex');
    assert.ok(Number.isInteger(list.tick) && (list.tick as number) >= 1);
    assert.deepEqual((await debug({ type: 'debug_set', index: 3, force: true, value: 'E8 03' })).debug_response, { type: 'debug_set_response', success: true });
    const after = (await debug({ type: 'debug_get_list', indexes: [3] })).debug_response as Msg;
    assert.equal(after.data, 'E8 03');
    assert.ok((after.tick as number) > (list.tick as number), 'the scan counter moves');
    assert.deepEqual((await debug({ type: 'debug_set', index: 999, value: '01' })).debug_response, { type: 'debug_error', error: 'OUT_OF_BOUNDS' });
    assert.deepEqual((await debug({ type: 'debug_get_list', indexes: [999] })).debug_response, { type: 'debug_error', error: 'OUT_OF_BOUNDS' });
    const raw = await debug({ type: 'debug_command', command: '41' });
    assert.deepEqual(raw.debug_response, { type: 'debug_command_response', data: '41 01 35' });

    // The runtime saw exactly the frames of §15.1.
    const { commands } = await standIn();
    assert.deepEqual(commands, ['45 DE AD 00 00', '41', '44 00 03 00 00 00 03 00 05', '42 00 03 01 00 02 E8 03', '44 00 01 00 03', '42 03 E7 01 00 01 01', '44 00 01 03 E7', '41']);

    assert.deepEqual((await debug({ type: 'debug_stop' }, 9)).debug_response, { type: 'debug_disconnected' });
    await waitFor('runtime debug connection closed', async () => (await standIn()).connections === 0 || null, 10_000, 100);
    assert.equal((await debug({ type: 'debug_info' })).status, 'error');
    assert.ok(!stack.agent.log().includes(PASSWORD), 'credentials are never logged');
    assert.ok(!stack.agent.log().includes('wrong'), 'credentials are never logged');
  });

  test(`an idle run_command debug session is closed after ${IDLE_MS} ms`, async () => {
    assert.equal((await debug({ type: 'debug_start', password: PASSWORD })).status, 'success');
    const started = Date.now();
    await waitFor('idle session closed', async () => (await standIn()).connections === 0 || null, 6 * IDLE_MS, 200);
    assert.ok(Date.now() - started >= IDLE_MS - 500, `closed after ${Date.now() - started} ms`);
    assert.deepEqual((await debug({ type: 'debug_info' })).debug_response, { type: 'debug_error', error: 'No active debug session. Send debug_start first.' });
    assert.match(stack.agent.log(), /"reason":"idle".*"msg":"debug session closed"|"msg":"debug session closed".*"reason":"idle"/);
  });

  test('a runtime debug message over 1 MiB closes its link (not 100 MiB each): the session reports it lost', async () => {
    assert.equal((await debug({ type: 'debug_start', password: PASSWORD })).status, 'success');
    assert.equal((await debug({ type: 'debug_info' })).status, 'success');
    const pad = await stack.cloud.call('run_command', { device_id: DEVICE, method: 'POST', api: '/__debug_pad', data: { bytes: 2 * 2 ** 20 } });
    assert.equal(pad.status, 'success', JSON.stringify(pad));
    const r = (await debug({ type: 'debug_info' })).debug_response as Msg;
    assert.equal(r.type, 'debug_error', JSON.stringify(r).slice(0, 200));
    assert.match(String(r.error), /^runtime debug connection lost/);
    await debug({ type: 'debug_stop' });
    await waitFor('runtime debug connection closed', async () => (await standIn()).connections === 0 || null, 10_000, 100);
  });

  test('the WebRTC debug channel: debug_ready, start, md5, info, a large list in chunks, set, stop; closing the session ends the runtime link', async () => {
    const p = new Peer();
    const ready = await p.connect();
    assert.equal(ready.type, 'debug_ready');
    assert.deepEqual(await p.ask({ type: 'debug_info' }), { type: 'debug_error', request_id: 1, error: 'No active debug session. Send debug_start first.' });
    assert.equal((await p.ask({ type: 'debug_start', device_id: 'another-plc', password: PASSWORD })).type, 'debug_error');
    assert.deepEqual(await p.ask({ type: 'debug_start', device_id: DEVICE, username: 'dev', password: PASSWORD }), { type: 'debug_connected', request_id: 3 });
    assert.deepEqual(await p.ask({ type: 'debug_get_md5' }), { type: 'debug_md5_response', request_id: 4, md5: MD5 });
    assert.deepEqual(await p.ask({ type: 'debug_info' }), { type: 'debug_info_response', request_id: 5, variable_count: 309 });

    // 256 STRING variables: 32,512 bytes of values, ≈ 97,500 hex characters — sent in chunks.
    const before = p.wire.length;
    const big = await p.ask({ type: 'debug_get_list', indexes: Array.from({ length: 256 }, (_, i) => 9 + i) });
    assert.equal(big.type, 'debug_values_response');
    const bytes = Buffer.from((big.data as string).replace(/ /g, ''), 'hex');
    assert.equal(bytes.length, 256 * 127);
    const first = Buffer.from('string variable 9');
    assert.equal(bytes[0], first.length);
    assert.deepEqual(bytes.subarray(1, 1 + first.length), first);
    assert.ok(p.wire.slice(before).filter((m) => m.type === 'chunk_data').length >= 7, 'the answer came in chunks');

    assert.deepEqual(await p.ask({ type: 'debug_set', index: 0, force: false, value: '01' }), { type: 'debug_set_response', request_id: 7, success: true });
    assert.equal((await p.ask({ type: 'debug_get_list', indexes: [0] })).data, '01');
    assert.equal((await standIn()).connections, 1);
    assert.deepEqual(await p.ask({ type: 'debug_stop' }), { type: 'debug_disconnected', request_id: 9 });
    await waitFor('runtime debug connection closed', async () => (await standIn()).connections === 0 || null, 10_000, 100);

    // A session's end ends its debug link.
    assert.equal((await p.ask({ type: 'debug_start', password: PASSWORD })).type, 'debug_connected');
    assert.equal((await standIn()).connections, 1);
    assert.equal((await stack.cloud.call('webrtc:disconnect', { session_id: p.id })).status, 'success');
    await waitFor('runtime debug connection closed with the session', async () => (await standIn()).connections === 0 || null, 10_000, 100);
    await p.close();
    assert.ok(!stack.agent.log().includes(PASSWORD), 'credentials are never logged');
  });

  test('stopping the agent closes the debug sessions', async () => {
    assert.equal((await debug({ type: 'debug_start', password: PASSWORD })).status, 'success');
    assert.equal((await standIn()).connections, 1);
    assert.equal(await stack.agent.stop(), 0);
    assert.match(stack.agent.log(), /"reason":"agent stopping"/);
  });
});
