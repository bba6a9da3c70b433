// An @xmpp/client session over XMPP-over-WebSocket (RFC 7395): logs in,
// prints "online JID", sends "hello over websocket" to PEER, prints
// "received BODY" for the first chat message back, then logs out and exits 0.
// Usage: node xmpp_ws_client.js WS_URL DOMAIN USER PASSWORD PEER_JID
// On failure prints the cause and exits 1. Trust the test certificate with
// NODE_EXTRA_CA_CERTS (Node 20 has no global WebSocket: @xmpp uses `ws`).
'use strict';
globalThis.WebSocket = globalThis.WebSocket || require('ws');
const { client, xml } = require('@xmpp/client');

const [service, domain, username, password, peer] = process.argv.slice(2);
const xmpp = client({ service, domain, username, password, resource: 'web' });
const fail = (why) => { console.log(`error ${why}`); process.exit(1); };
const timer = setTimeout(() => fail('timeout'), 20000);

xmpp.on('error', (err) => fail(err.condition || err.message));
xmpp.on('stanza', async (stanza) => {
  if (stanza.is('message') && stanza.attrs.type === 'chat' && stanza.getChildText('body')) {
    console.log(`received ${stanza.getChildText('body')}`);
    clearTimeout(timer);
    await xmpp.stop();
    process.exit(0);
  }
});
xmpp.on('online', async (address) => {
  console.log(`online ${address.toString()}`);
  await xmpp.send(xml('presence'));
  await xmpp.send(xml('message', { to: peer, type: 'chat' }, xml('body', {}, 'hello over websocket')));
});
xmpp.start().catch((err) => fail(err.condition || err.message));
