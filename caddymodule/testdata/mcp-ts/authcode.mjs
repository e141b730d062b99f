// End-to-end client for caddymodule/authcode_sdk_test.go: the MCP TypeScript
// SDK's OAuthClientProvider with a pre-registered client (ID and secret
// pasted in, as a person does in an MCP host) through the gateway's
// authorization-code flow with PKCE.
//
// Environment: MCP_ENDPOINT, MCP_CLIENT_ID, MCP_CLIENT_SECRET, and
// MASTER_KEY, with which the "browser" step signs in at the dashboard that
// the consent page sends it to. The browser step is a cookie-keeping fetch:
// authorization URL → consent page → sign-in → consent page → Approve →
// the redirect URI's code. Then the SDK exchanges the code (finishAuth),
// connects, lists tools, and, with its access token spoiled, refreshes it
// on the 401 and lists tools again.
//
// Prints one JSON line. Exit 0 when every step succeeded, 1 otherwise, 2 on timeout.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const endpoint = process.env.MCP_ENDPOINT;
const clientId = process.env.MCP_CLIENT_ID;
const clientSecret = process.env.MCP_CLIENT_SECRET;
const masterKey = process.env.MASTER_KEY;
const redirectUrl = 'http://127.0.0.1:33418/callback';

const result = { requests: [] };
const finish = (code) => process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
setTimeout(() => { result.error = 'timed out'; finish(2); }, 60_000).unref();

// The SDK's own requests (discovery, token, MCP), recorded for the Go test.
const recordingFetch = async (input, init) => {
  const req = new Request(input, init);
  const entry = { method: req.method, url: req.url };
  if (req.method === 'POST' && (req.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
    const form = Object.fromEntries(new URLSearchParams(await req.clone().text()));
    for (const k of ['code', 'refresh_token', 'code_verifier', 'client_secret']) if (form[k]) form[k] = '<' + k + '>';
    entry.form = form;
  }
  const resp = await fetch(req);
  entry.status = resp.status;
  result.requests.push(entry);
  return resp;
};

// browse is the person's browser: it signs in at the dashboard and approves.
async function browse(authUrl) {
  let cookie = '';
  const go = async (u, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    if (cookie) headers.set('cookie', cookie);
    const r = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      if (kv.startsWith('blnk_admin_session=')) cookie = kv;
    }
    return r;
  };
  let r = await go(authUrl);
  if (r.status !== 303) throw new Error(`authorization endpoint: ${r.status} ${await r.text()}`);
  const consent = new URL(r.headers.get('location'), authUrl);
  const origin = consent.origin;
  const mount = consent.pathname.replace(/authorize$/, '');
  r = await go(consent);
  if (r.status !== 303) throw new Error(`consent page before sign-in: ${r.status}`);
  r = await go(new URL(mount + 'ui/session', origin), {
    method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ master_key: masterKey }),
  });
  if (r.status !== 200) throw new Error(`sign-in: ${r.status}`);
  r = await go(consent);
  const html = await r.text();
  if (r.status !== 200) throw new Error(`consent page: ${r.status} ${html}`);
  const field = (name) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)[1];
  const form = new URLSearchParams({ request: field('request'), csrf_token: field('csrf_token'), decision: 'approve' });
  result.offered = [...html.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]);
  for (const s of result.offered) form.append('scope', s);
  r = await go(new URL(mount + 'authorize', origin), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin }, body: form,
  });
  if (r.status !== 303) throw new Error(`approve: ${r.status}`);
  const back = new URL(r.headers.get('location'));
  result.callback = { state: back.searchParams.get('state'), iss: back.searchParams.get('iss'), hasCode: !!back.searchParams.get('code'), to: back.origin + back.pathname };
  return back.searchParams.get('code');
}

let tokens, verifier, code;
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: 'blnk-ts-sdk', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' };
  },
  state() { return 'ts-state'; },
  clientInformation() { return { client_id: clientId, client_secret: clientSecret }; },
  tokens() { return tokens; },
  saveTokens(t) { tokens = t; },
  async redirectToAuthorization(url) {
    const u = new URL(url);
    result.authorize = Object.fromEntries([...u.searchParams].filter(([k]) => k !== 'code_challenge' && k !== 'state'));
    code = await browse(url);
  },
  saveCodeVerifier(v) { verifier = v; },
  codeVerifier() { return verifier; },
};

const newTransport = () => new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider, fetch: recordingFetch });

try {
  const client = new Client({ name: 'blnk-ts-sdk-authcode', version: '0.0.1' });
  try {
    await client.connect(newTransport());
    throw new Error('connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const first = newTransport();
  await first.finishAuth(code);
  result.firstRefreshToken = !!tokens?.refresh_token;
  result.scope = tokens?.scope;
  await client.connect(first);
  result.tools = (await client.listTools()).tools.map((t) => t.name);
  // Spoil the access token: the 401 makes the SDK refresh it and retry.
  const before = tokens.refresh_token;
  tokens = { ...tokens, access_token: 'spoiled' };
  result.toolsAfterRefresh = (await client.listTools()).tools.map((t) => t.name);
  result.rotated = !!tokens.refresh_token && tokens.refresh_token !== before && tokens.access_token !== 'spoiled';
  await client.close();
  finish(0);
} catch (e) {
  result.error = String(e?.stack ?? e);
  finish(1);
}
