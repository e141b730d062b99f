// End-to-end client for caddymodule/privatekeyjwt_test.go: oauth4webapi
// (pinned in package.json) gets tokens from the gateway with the client
// credentials grant and private_key_jwt client authentication.
//
// Environment: ISSUER (the gateway's issuer), CLIENT_ID, PRIVATE_KEY_JWK (an
// EC P-256 private key as a JWK) and KID. The authorization server is found
// by RFC 8414 discovery. Two grants are made (each with a fresh assertion
// the library signs), then the first grant's request body, assertion
// included, is sent again as it was: a replay, which must be refused.
//
// Prints one JSON line: {"tokens": [...], "assertion": {...header and
// claims of the first assertion}, "replay": {"status", "error"}} or
// {"error": "..."}; exit 0, or 1 on any failure.
import * as oauth from 'oauth4webapi';

const result = {};
const finish = (code) => process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
setTimeout(() => { result.error = 'timed out'; finish(2); }, 60_000).unref();

try {
  const { ISSUER, CLIENT_ID, PRIVATE_KEY_JWK, KID } = process.env;
  if (!ISSUER || !CLIENT_ID || !PRIVATE_KEY_JWK || !KID) throw new Error('ISSUER, CLIENT_ID, PRIVATE_KEY_JWK and KID are required');
  const issuer = new URL(ISSUER);
  // The test gateway listens on plain http on loopback.
  const insecure = { [oauth.allowInsecureRequests]: true };

  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const client = { client_id: CLIENT_ID };
  const key = await crypto.subtle.importKey('jwk', JSON.parse(PRIVATE_KEY_JWK), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const clientAuth = oauth.PrivateKeyJwt({ key, kid: KID });

  // Every token request goes through this fetch, which keeps the bodies.
  const bodies = [];
  const recording = {
    ...insecure,
    [oauth.customFetch]: async (url, init) => {
      bodies.push({ url: String(url), body: String(init.body), headers: Object.fromEntries(new Headers(init.headers)) });
      return fetch(url, init);
    },
  };

  result.tokens = [];
  for (let i = 0; i < 2; i++) {
    const resp = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, new URLSearchParams({ scope: 'mcp:read' }), recording);
    const tok = await oauth.processClientCredentialsResponse(as, client, resp);
    result.tokens.push(tok.access_token);
  }

  const first = new URLSearchParams(bodies[0].body);
  const [h, p] = first.get('client_assertion').split('.');
  const decode = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  result.assertion = { header: decode(h), claims: decode(p), client_assertion_type: first.get('client_assertion_type'), client_id: first.get('client_id'), authorization: bodies[0].headers.authorization ?? '' };

  // The first request again, byte for byte.
  const replay = await fetch(bodies[0].url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: bodies[0].body });
  result.replay = { status: replay.status, error: (await replay.json()).error };
  finish(0);
} catch (err) {
  result.error = String(err?.stack ?? err);
  finish(1);
}
