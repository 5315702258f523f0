import { existsSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import dotenv from "dotenv";
import { GrammyError, HttpError } from "grammy";
import { ConfigError } from "../../src/config.js";

/** An expected failure: printed as one line, exit code 1, no stack trace. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** Loads `.dev.vars` (dotenv format) into `process.env` without overriding what is already set. */
export function loadDevVars(file = ".dev.vars"): void {
  if (existsSync(file)) dotenv.config({ path: file, quiet: true });
}

/** A commander program with the project's conventions: `--help`, errors as one line. */
export function createProgram(name: string, description: string): Command {
  return new Command(name).description(description).exitOverride().configureOutput({
    outputError: (text, write) => write(text),
  });
}

function oneLine(error: unknown): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof ConfigError) return `configuration: ${error.message}`;
  if (error instanceof GrammyError) return `Telegram refused ${error.method}: ${error.error_code} ${error.description}`;
  if (error instanceof HttpError) return `Telegram is unreachable: ${error.message}`;
  if (error instanceof Error) return `unexpected error: ${error.name}: ${error.message}`;
  return `unexpected error: ${String(error)}`;
}

/**
 * An option parser for a whole number from `min` (to `max`, when given); anything else is commander's
 * one-line "argument … is invalid" error.
 */
export function wholeNumber(min: number, max?: number): (value: string) => number {
  const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || (max !== undefined && n > max)) throw new InvalidArgumentError(`expected a whole number ${range}`);
    return n;
  };
}

/** An option parser for a number greater than zero (fractions allowed). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a number greater than 0");
  return n;
}

/** The password in a connection string such as DATABASE_URL (`scheme://user:password@host/…`, or `redis://:password@host`). */
function passwordOf(url: string | undefined): string | undefined {
  return url === undefined ? undefined : /^[^:]+:\/\/[^:/@]*:([^@]+)@/.exec(url)?.[1];
}

/** A connection string as it may be shown: its password, if any, replaced. */
export function withoutPassword(url: string): string {
  const password = passwordOf(url);
  return password === undefined ? url : url.replace(`:${password}@`, ":[redacted]@");
}

/** Secrets a script learnt besides the environment (the password in a --postgres-url, say). */
const learntSecrets = new Set<string>();

/** Adds the password of each connection string to what error lines and `redact` never show. */
export function keepPasswordsSecret(...urls: string[]): void {
  for (const url of urls) {
    const password = passwordOf(url);
    if (password !== undefined) learntSecrets.add(password);
  }
}

/** Values from the environment that must never be printed (the same set as the Worker's `secretsOf`). */
function knownSecrets(): string[] {
  const names = ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "UPSTASH_REDIS_REST_TOKEN", "BOT_INTERNAL_API_TOKEN"];
  return [...names.map((name) => process.env[name]), passwordOf(process.env.DATABASE_URL), ...learntSecrets].filter(
    (value): value is string => (value?.length ?? 0) >= 4,
  );
}

/** `text` with every known secret replaced. */
export function redact(text: string): string {
  return knownSecrets().reduce((safe, secret) => safe.replaceAll(secret, "[redacted]"), text);
}

/** Prints a line to stderr with any known secret replaced. */
export function printError(line: string): void {
  process.stderr.write(`error: ${redact(line)}\n`);
}

/**
 * Parses the arguments of a program without an action (the caller runs on with `program.opts()`);
 * `--help` exits 0 and a bad argument exits 1 with one line, as in `runProgram`.
 */
export function parseArguments(program: Command, argv: string[] = process.argv): void {
  try {
    program.parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    throw error;
  }
}

/**
 * Runs the program and exits: 0 on success, 1 with one clear line on any failure, never a stack trace
 * or a token.
 */
export async function runProgram(program: Command, argv: string[] = process.argv): Promise<never> {
  try {
    await program.parseAsync(argv);
    process.exit(0);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode);
    printError(oneLine(error));
    process.exit(1);
  }
}
