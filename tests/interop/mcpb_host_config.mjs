// How Claude Desktop turns an installed bundle into a server command: the official @anthropic-ai/mcpb
// library's getMcpConfigForManifest (the code the desktop app uses), given the unpacked bundle's
// directory and the user's answers to its user_config. Prints {command, args, env} as JSON.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { sep } from "node:path";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";

const [extensionPath, answers] = [process.argv[2], JSON.parse(process.argv[3] ?? "{}")];
const manifest = JSON.parse(readFileSync(`${extensionPath}/manifest.json`, "utf8"));
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath,
  systemDirs: { HOME: homedir() },
  userConfig: answers,
  pathSeparator: sep,
});
if (!config) {
  console.error("the host would not start this bundle (required configuration missing)");
  process.exit(1);
}
process.stdout.write(JSON.stringify(config));
