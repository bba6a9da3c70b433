// Registers one user with JsSIP over secure WebSocket (RFC 7118), stays
// registered until standard input closes, then unregisters and exits.
// Usage: node jssip_register.js WSS_URL SIP_URI PASSWORD
// Prints "registered STATUS", later "unregistered", and exits 0; on failure
// prints the cause and exits 1. Node 20 has no global WebSocket, so the `ws`
// package provides it. Trust the test certificate with NODE_EXTRA_CA_CERTS.
'use strict';
globalThis.WebSocket = require('ws');
const JsSIP = require('jssip');

const [url, uri, password] = process.argv.slice(2);
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface(url)],
  uri,
  password,
  register: true,
  user_agent: 'JsSIP-interop',
});
const fail = (why) => { console.log(why); process.exit(1); };
let timer = setTimeout(() => fail('timeout waiting for registration'), 15000);
ua.on('registered', (e) => {
  clearTimeout(timer);
  console.log(`registered ${e.response.status_code}`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    timer = setTimeout(() => fail('timeout waiting for unregistration'), 10000);
    ua.once('unregistered', (u) => {
      console.log(`unregistered ${u.response ? u.response.status_code : ''}`);
      ua.stop();
      setTimeout(() => process.exit(0), 200);
    });
    ua.unregister();
  });
});
ua.on('registrationFailed', (e) => fail(`registrationFailed ${e.cause} ${e.response ? e.response.status_code : ''}`));
ua.start();
