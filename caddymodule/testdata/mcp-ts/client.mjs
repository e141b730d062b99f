// End-to-end client for caddymodule/mcpts_test.go: the MCP TypeScript SDK
// (@modelcontextprotocol/sdk, pinned in package.json) through the gateway.
//
// Usage: node client.mjs <mode> with MCP_ENDPOINT, MCP_CLIENT_ID and
// MCP_CLIENT_SECRET in the environment; nothing else is configured (the
// authorization server is found from the 401, RFC 9728 then RFC 8414).
//
// mode "full":     connect, tools/list, tools/call echo.
// mode "readonly": connect, tools/list, tools/call echo, which must be refused.
//
// Prints one JSON line on stdout. Exit codes: 0 every step succeeded;
// 3 connect and tools/list succeeded but tools/call was refused;
// 1 any other failure; 2 timed out.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const EXIT_CALL_REFUSED = 3;
const [mode = 'full'] = process.argv.slice(2);
const endpoint = process.env.MCP_ENDPOINT;
const clientId = process.env.MCP_CLIENT_ID;
const clientSecret = process.env.MCP_CLIENT_SECRET;

const result = { mode, requests: [] };
const finish = (code) => {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
};
setTimeout(() => {
  result.error = 'timed out';
  finish(2);
}, 60_000).unref();

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

try {
  if (!endpoint || !clientId || !clientSecret) {
    throw new Error('MCP_ENDPOINT, MCP_CLIENT_ID and MCP_CLIENT_SECRET are required');
  }
  // No expectedIssuer: the client is given only the endpoint and its
  // credentials, so the authorization server comes from discovery (the SDK
  // logs a deprecation warning on stderr for this).
  const authProvider = new ClientCredentialsProvider({ clientId, clientSecret });
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
