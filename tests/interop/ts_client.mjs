// A client built on the official TypeScript SDK, talking to sondos-mcp as a third party would.
// Usage: node ts_client.mjs stdio <python> | node ts_client.mjs http <url> <header:value>
// For each protocol version the SDK supports: initialize (forcing that version), list tools,
// call every tool, check isError and structuredContent against the declared outputSchema (ajv,
// JSON Schema 2020-12), and check that a refused proposal is a tool error, not a protocol error.
// Prints one JSON object per line; exits non-zero if any check failed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";

const [mode, target, header] = process.argv.slice(2);
const sdkVersion = JSON.parse(
  readFileSync(new URL("./node_modules/@modelcontextprotocol/sdk/package.json", import.meta.url)),
).version;

// Arguments per tool: a valid call for each; update_assistant also gets a refused one.
const VALID = {
  list_assistants: { per_page: 5 },
  get_assistant: { id: 12 },
  update_assistant: { id: 12, speech_speed: 0.9 },
  list_voices: { mode: "pipeline" },
  list_languages: {},
  list_models: {},
  list_phone_numbers: {},
  list_changes: { limit: 5 },
  update_assistants: { ids: [12, 14], changes: { max_call_duration: 300 } },
  undo_change: null, // the change set update_assistants just made, filled in below
};
const REFUSED = { id: 12, speech_speed: 5, calls_direction: "inbound" };

function transportFor() {
  if (mode === "stdio") {
    return new StdioClientTransport({ command: target, args: ["-m", "sondos_mcp", "--sandbox"], stderr: "ignore" });
  }
  const headers = {};
  if (header) {
    const i = header.indexOf(":");
    headers[header.slice(0, i).trim()] = header.slice(i + 1).trim();
  }
  return new StreamableHTTPClientTransport(new URL(target), { requestInit: { headers } });
}

// Rewrites the initialize request so that the client offers exactly `version`, and records the
// version the server answers with.
function pinVersion(transport, version, seen) {
  let handler;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler,
    set: (fn) => {
      handler = (message, extra) => {
        if (message?.result?.protocolVersion) seen.version = message.result.protocolVersion;
        return fn(message, extra);
      };
    },
  });
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method === "initialize") {
      message = { ...message, params: { ...message.params, protocolVersion: version } };
    }
    return send(message, options);
  };
  return transport;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
let failed = false;
const report = (row) => {
  if (!row.ok) failed = true;
  console.log(JSON.stringify(row));
};

for (const version of SUPPORTED_PROTOCOL_VERSIONS) {
  const base = { client: "@modelcontextprotocol/sdk (TypeScript)", version: sdkVersion, transport: mode, offered: version };
  const client = new Client({ name: "sondos-interop", version: "1.0.0" });
  const seen = {};
  try {
    await client.connect(pinVersion(transportFor(), version, seen));
  } catch (err) {
    report({ ...base, check: "initialize", ok: false, detail: String(err) });
    continue;
  }
  const info = { ...base, negotiated: seen.version };
  report({ ...info, check: "initialize", ok: client.getServerVersion()?.name === "sondos-mcp" });
  try {
    await client.ping();
    report({ ...info, check: "ping", ok: true });
    const { tools } = await client.listTools();
    let lastSet;
    report({ ...info, check: "tools/list", ok: tools.length === Object.keys(VALID).length, tools: tools.length });
    for (const tool of tools) {
      const validate = ajv.compile(tool.outputSchema ?? {});
      const args = tool.name === "undo_change" ? { id: lastSet } : (VALID[tool.name] ?? {});
      const result = await client.callTool({ name: tool.name, arguments: args });
      if (tool.name === "update_assistants") lastSet = result.structuredContent?.change_set;
      const conforms = validate(result.structuredContent);
      report({
        ...info,
        check: `tools/call ${tool.name}`,
        ok: result.isError === false && conforms,
        detail: conforms ? undefined : ajv.errorsText(validate.errors),
      });
    }
    const refused = await client.callTool({ name: "update_assistant", arguments: REFUSED });
    const fields = (refused.structuredContent?.problems ?? []).map((p) => p.field).sort();
    report({
      ...info,
      check: "refused update is a tool error with per-field problems",
      ok: refused.isError === true && fields.join(",") === "calls_direction,speech_speed",
      detail: fields.join(","),
    });
  } catch (err) {
    report({ ...info, check: "session", ok: false, detail: String(err) });
  } finally {
    await client.close();
  }
}
process.exit(failed ? 1 : 0);
