// End-to-end client for caddymodule/mcpts_test.go: the MCP TypeScript SDK
// (@modelcontextprotocol/sdk, pinned in package.json) through the gateway.
//
// Usage: node client.mjs <mode> with MCP_ENDPOINT, MCP_CLIENT_ID and
// MCP_CLIENT_SECRET in the environment; nothing else is configured (the
// authorization server is found from the 401, RFC 9728 then RFC 8414).
//
// mode "full":     connect, tools/list, tools/call echo.
// mode "readonly": connect, tools/list, tools/call echo, which must be refused.
// mode "stream":   with a fixed access token in MCP_TOKEN instead of the client
//                  credentials (so a token that stops working is not replaced),
//                  connect and count the notifications/message arriving on the
//                  standalone GET stream. Prints {"event":"ready",...} once
//                  three arrived; then answers each stdin line "count" with
//                  {"event":"count","count":N}, and on "close" (or EOF) closes.
// mode "session":  with MCP_TOKEN and MCP_SESSION_ID, resume that session
//                  without initializing and call tools/list; exit 4 if refused.
// mode "pkjwt":    as "full", authenticating with the SDK's PrivateKeyJwtProvider
//                  (RFC 7523 private_key_jwt) instead of a secret: the private
//                  key as a JWK in MCP_PRIVATE_KEY_JWK, its algorithm in MCP_ALG,
//                  the authorization server's issuer in MCP_ISSUER.
//
// Prints one JSON line on stdout (the last one, in stream mode). Exit codes:
// 0 every step succeeded; 3 connect and tools/list succeeded but tools/call
// was refused; 4 tools/list in a resumed session was refused; 1 any other
// failure; 2 timed out.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import readline from 'node:readline';

const EXIT_CALL_REFUSED = 3;
const EXIT_SESSION_REFUSED = 4;
const [mode = 'full'] = process.argv.slice(2);
const endpoint = process.env.MCP_ENDPOINT;
const clientId = process.env.MCP_CLIENT_ID;
const clientSecret = process.env.MCP_CLIENT_SECRET;
const token = process.env.MCP_TOKEN;

const result = { mode, requests: [] };
const finish = (code) => {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
};
setTimeout(() => {
  result.error = 'timed out';
  finish(2);
}, 60_000).unref();

// withToken: a transport that sends the fixed token, and nothing to get another.
const withToken = (sessionId) =>
  new StreamableHTTPClientTransport(new URL(endpoint), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: recordingFetch,
    sessionId,
  });

// Every HTTP request the SDK makes (discovery, token, MCP) goes through this
// fetch; it records what was sent so the Go test can check it.
const recordingFetch = async (input, init) => {
  const req = new Request(input, init);
  const entry = { method: req.method, url: req.url };
  const authz = req.headers.get('authorization') ?? '';
  entry.authScheme = authz.split(' ')[0];
  if (authz.startsWith('Basic ')) {
    // Exactly what the SDK put in the header, decoded: no form-decoding here.
    entry.basic = Buffer.from(authz.slice(6), 'base64').toString('utf8');
  }
  if (req.method === 'POST' && (req.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
    entry.form = Object.fromEntries(new URLSearchParams(await req.clone().text()));
  }
  const resp = await fetch(req);
  entry.status = resp.status;
  entry.challenge = resp.headers.get('www-authenticate') ?? '';
  result.requests.push(entry);
  return resp;
};

const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');

async function stream() {
  const transport = withToken(undefined);
  const client = new Client({ name: 'blnk-ts-sdk-client', version: '0.0.1' });
  let count = 0;
  let ready = false;
  client.setNotificationHandler(LoggingMessageNotificationSchema, () => {
    count++;
    if (count >= 3 && !ready) {
      ready = true;
      say({ event: 'ready', sessionId: transport.sessionId, count });
    }
  });
  // A cut-off stream and its refused reconnection surface here; they are
  // expected, so they are recorded, not fatal.
  const streamErrors = [];
  client.onerror = (err) => streamErrors.push(String(err?.message ?? err));
  await client.connect(transport);
  result.sessionId = transport.sessionId ?? null;
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === 'count') say({ event: 'count', count });
    if (line.trim() === 'close') break;
  }
  result.count = count;
  result.streamErrors = streamErrors;
  await client.close().catch(() => {});
  finish(0);
}

async function resume() {
  const transport = withToken(process.env.MCP_SESSION_ID);
  const client = new Client({ name: 'blnk-ts-sdk-client', version: '0.0.1' });
  // With a session ID the SDK resumes that session: no initialize.
  await client.connect(transport);
  result.sessionId = transport.sessionId ?? null;
  try {
    const tools = await client.listTools();
    result.tools = tools.tools.map((t) => t.name);
  } catch (err) {
    result.callError = String(err?.message ?? err);
    finish(EXIT_SESSION_REFUSED);
    return;
  }
  finish(0);
}

try {
  if (mode === 'stream' || mode === 'session') {
    if (!endpoint || !token) throw new Error('MCP_ENDPOINT and MCP_TOKEN are required');
    await (mode === 'stream' ? stream() : resume());
  }
} catch (err) {
  result.error = String(err?.stack ?? err);
  finish(1);
}

if (mode !== 'stream' && mode !== 'session') try {
  let authProvider;
  if (mode === 'pkjwt') {
    const jwk = process.env.MCP_PRIVATE_KEY_JWK;
    if (!endpoint || !clientId || !jwk || !process.env.MCP_ALG) {
      throw new Error('MCP_ENDPOINT, MCP_CLIENT_ID, MCP_PRIVATE_KEY_JWK and MCP_ALG are required');
    }
    authProvider = new PrivateKeyJwtProvider({
      clientId,
      privateKey: JSON.parse(jwk),
      algorithm: process.env.MCP_ALG,
      expectedIssuer: process.env.MCP_ISSUER,
    });
  } else {
    if (!endpoint || !clientId || !clientSecret) {
      throw new Error('MCP_ENDPOINT, MCP_CLIENT_ID and MCP_CLIENT_SECRET are required');
    }
    // No expectedIssuer: the client is given only the endpoint and its
    // credentials, so the authorization server comes from discovery (the SDK
    // logs a deprecation warning on stderr for this).
    authProvider = new ClientCredentialsProvider({ clientId, clientSecret });
  }
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider, fetch: recordingFetch });
  const client = new Client({ name: 'blnk-ts-sdk-client', version: '0.0.1' });
  await client.connect(transport);
  result.protocolVersion = transport.protocolVersion ?? null;
  result.sessionId = transport.sessionId ?? null;

  const tools = await client.listTools();
  result.tools = tools.tools.map((t) => t.name);

  let code = 0;
  try {
    const res = await client.callTool({ name: 'echo', arguments: { text: `hello from ${mode}` } });
    result.echo = { isError: !!res.isError, text: res.content.filter((c) => c.type === 'text').map((c) => c.text).join('') };
    if (res.isError) code = 1;
  } catch (err) {
    result.callError = String(err?.message ?? err);
    code = EXIT_CALL_REFUSED;
  }
  await client.close();
  finish(code);
} catch (err) {
  result.error = String(err?.stack ?? err);
  finish(1);
}
