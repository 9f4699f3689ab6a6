// Emitter's JavaScript client (npm emitter-io@1.39.0, MQTT.js 1.x inside,
// always WebSocket): keygen with the broker's master secret, subscribe with
// the new key, and once the SUBACK has arrived publish from a second client;
// the check passes when the subscriber receives the message on the bare
// channel (no key, no options), as Emitter delivers it.
// Usage: node emitter.js HOST PORT MASTER_SECRET [timeout-ms]
'use strict';
const emitter = require('emitter-io');

const [host, port, master] = process.argv.slice(2, 5);
const timeoutMs = Number(process.argv[5] || 15000);
const channel = `smoke/emitter/${process.pid}/`;
const message = `hello from emitter-io ${Date.now()}`;
let phase = 'connecting the subscriber';
const clients = [];

let finished = false;
function finish(ok, msg) {
  if (finished) return; // once: closing the clients may report errors
  finished = true;
  console.log(`${ok ? 'ok' : 'FAIL'}: emitter-io over WebSocket: ${msg}`);
  for (const c of clients) { try { c.disconnect(); } catch (e) { /* closing anyway */ } }
  process.exit(ok ? 0 : 1);
}
setTimeout(() => finish(false, `timed out after ${timeoutMs} ms while ${phase}`), timeoutMs).unref();

function connect() {
  const c = emitter.connect({ host, port: Number(port), secure: false, keepalive: 30, reconnectPeriod: 0 });
  c.on('error', (err) => finish(false, `${err && err.message ? err.message : err} (while ${phase})`));
  clients.push(c);
  return c;
}

const sub = connect();
sub.on('connect', () => {
  phase = 'waiting for the keygen response';
  sub.keygen({ key: master, channel, type: 'rw', ttl: 0 });
});
sub.on('keygen', (res) => {
  if (!res || res.status !== 200 || typeof res.key !== 'string') {
    return finish(false, `keygen answered ${JSON.stringify(res)}`);
  }
  if (res.channel !== channel) return finish(false, `keygen answered for channel ${JSON.stringify(res.channel)}, want ${channel}`);
  const key = res.key;
  phase = 'waiting for the SUBACK';
  // emitter-io passes no callback to MQTT.js's subscribe; its MQTT client
  // reports every packet it receives, SUBACK included.
  sub._mqtt.on('packetreceive', (packet) => {
    if (packet.cmd !== 'suback') return;
    if (!packet.granted || packet.granted[0] === 128) {
      return finish(false, `SUBACK refused the subscription: ${JSON.stringify(packet.granted)}`);
    }
    phase = 'connecting the publisher';
    const pub = connect();
    pub.on('connect', () => {
      phase = 'waiting for the delivery';
      pub.publish({ key, channel, message });
    });
  });
  sub.subscribe({ key, channel });
});
sub.on('message', (m) => {
  if (m.channel.startsWith('emitter/')) return finish(false, `broker answered on ${m.channel}: ${m.asString()}`);
  if (m.channel !== channel || m.asString() !== message) {
    return finish(false, `unexpected message on ${JSON.stringify(m.channel)}: ${JSON.stringify(m.asString())}`);
  }
  finish(true, `keygen, subscribe, publish and receive on ${channel}`);
});
