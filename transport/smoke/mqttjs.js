// MQTT.js (npm mqtt@5) over WebSocket: a subscriber subscribes at QoS 1 and,
// once its SUBACK has arrived, a second client publishes at QoS 1; the check
// passes when the subscriber receives exactly that message at QoS 1.
// Usage: node mqttjs.js ws://127.0.0.1:PORT/path [timeout-ms]
'use strict';
const mqtt = require('mqtt');

const url = process.argv[2];
const timeoutMs = Number(process.argv[3] || 15000);
const topic = `smoke/mqttjs/${process.pid}`;
const payload = `hello from MQTT.js ${Date.now()}`;
let phase = 'connecting the subscriber';
const clients = [];

let finished = false;
function finish(ok, msg) {
  // Once: closing the clients fails the publisher's publish callback when its
  // PUBACK has not arrived yet, which the broker may send after the delivery.
  if (finished) return;
  finished = true;
  console.log(`${ok ? 'ok' : 'FAIL'}: MQTT.js over WebSocket: ${msg}`);
  for (const c of clients) c.end(true);
  process.exit(ok ? 0 : 1);
}
setTimeout(() => finish(false, `timed out after ${timeoutMs} ms while ${phase}`), timeoutMs).unref();

function connect(id) {
  const c = mqtt.connect(url, {
    protocolVersion: 4, clientId: `${id}-${process.pid}`, clean: true,
    reconnectPeriod: 0, connectTimeout: timeoutMs,
  });
  c.on('error', (err) => finish(false, `${id}: ${err.message} (while ${phase})`));
  clients.push(c);
  return c;
}

const sub = connect('smoke-mqttjs-sub');
sub.on('message', (t, p, packet) => {
  if (t !== topic || p.toString() !== payload) {
    finish(false, `unexpected message on ${JSON.stringify(t)}: ${JSON.stringify(p.toString())}`);
  } else if (packet.qos !== 1) {
    finish(false, `message delivered at QoS ${packet.qos}, want 1`);
  } else {
    finish(true, `received ${JSON.stringify(payload)} on ${topic} at QoS 1`);
  }
});
sub.on('connect', () => {
  phase = 'subscribing';
  sub.subscribe(topic, { qos: 1 }, (err, granted) => {
    if (err) return finish(false, `subscribe: ${err.message}`);
    if (!granted || granted.length !== 1 || granted[0].qos !== 1) {
      return finish(false, `SUBACK granted ${JSON.stringify(granted)}, want QoS 1`);
    }
    phase = 'connecting the publisher';
    const pub = connect('smoke-mqttjs-pub');
    pub.on('connect', () => {
      phase = 'publishing';
      pub.publish(topic, payload, { qos: 1 }, (err) => {
        if (err) return finish(false, `publish: ${err.message}`);
        phase = 'waiting for the delivery (PUBACK received)';
      });
    });
  });
});
