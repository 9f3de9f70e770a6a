// Reads a secret from the terminal without echoing it, or the first line of stdin when it is piped.
import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";
import { CliError } from "./output.js";

export async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return (await firstLine(process.stdin)).trim();

  // readline echoes what it reads through `output`: muting that stream after the prompt hides the secret.
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const cancelled = new Promise<never>((_, reject) =>
    rl.once("SIGINT", () => reject(new CliError("cancelled", 130))),
  );
  try {
    const answer = rl.question(prompt);
    muted = true;
    return (await Promise.race([answer, cancelled])).trim();
  } finally {
    process.stderr.write("\n");
    rl.close();
  }
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) {
    text += chunk.toString();
    const nl = text.indexOf("\n");
    if (nl >= 0) return text.slice(0, nl);
  }
  return text;
}
