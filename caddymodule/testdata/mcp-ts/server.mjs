// End-to-end upstream for the caddymodule tests: an MCP server built the way
// the MCP TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json)
// documents it, createMcpExpressApp() + StreamableHTTPServerTransport. Its
// express.json() decodes bodies by their declared charset and Content-Encoding,
// which is what the gateway must not read differently.
//
// Usage: node server.mjs [stateless|stateful]
//
// Listens on 127.0.0.1 (an ephemeral port) and prints one JSON line
// {"port": N} on stdout once ready. Tools: echo (text), transfer_funds (the
// guarded one) and tick (streams a progress notification every 100 ms until
// the client goes away). GET /__calls (not MCP) answers how often each tool
// ran and how many other requests arrived, so a test can tell whether a
// refused call reached the server anyway; in stateful mode also how many
// rounds of pulses were sent (every 100 ms each session gets a
// notifications/message, which the SDK delivers on its standalone GET stream)
// and how many GET streams are open right now.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { z } from 'zod';

const [mode = 'stateless'] = process.argv.slice(2);
const calls = { requests: 0, echo: 0, transfer_funds: 0, tick: 0, pulses: 0, streams: 0 };

function newServer() {
  const server = new McpServer({ name: 'blnk-ts-upstream', version: '0.0.1' }, { capabilities: { logging: {} } });
  server.registerTool('echo', { description: 'Echoes text', inputSchema: { text: z.string() } }, async ({ text }) => {
    calls.echo++;
    return { content: [{ type: 'text', text: `echo: ${text}` }] };
  });
  server.registerTool('transfer_funds', { description: 'Moves money (guarded)', inputSchema: { amount: z.number().optional() } }, async () => {
    calls.transfer_funds++;
    return { content: [{ type: 'text', text: 'transfer executed' }] };
  });
  server.registerTool('tick', { description: 'Streams progress until cancelled', inputSchema: {} }, async (_args, extra) => {
    calls.tick++;
    for (let i = 0; !extra.signal.aborted && i < 600; i++) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: `tick ${i}` } });
      await new Promise((r) => setTimeout(r, 100));
    }
    return { content: [{ type: 'text', text: 'done' }] };
  });
  return server;
}

const app = createMcpExpressApp();
app.get('/__calls', (_req, res) => res.json(calls));

if (mode === 'stateful') {
  const transports = new Map();
  const pulsed = new Set(); // the servers of open sessions
  setInterval(() => {
    calls.pulses++;
    for (const server of pulsed) {
      server.server.sendLoggingMessage({ level: 'info', data: `pulse ${calls.pulses}` }).catch(() => {});
    }
  }, 100).unref();
  app.all('/mcp', async (req, res) => {
    if (req.method === 'GET') {
      calls.streams++;
      res.on('close', () => calls.streams--);
    }
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid) {
        res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        return;
      }
      const server = newServer();
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          transports.set(id, transport);
          pulsed.add(server);
        },
      });
      transport.onclose = () => {
        pulsed.delete(server);
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await server.connect(transport);
    }
    await transport.handleRequest(req, res, req.body);
  });
} else {
  // The SDK's stateless pattern: a fresh server and transport per request.
  app.post('/mcp', async (req, res) => {
    const server = newServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
}

// Every request that reaches the server counts, including those express.json()
// or the transport refuse, so a test can tell that the gateway stopped one.
const listener = http.createServer((req, res) => {
  if (req.url !== '/__calls') calls.requests++;
  app(req, res);
});
listener.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: listener.address().port }) + '\n');
});
