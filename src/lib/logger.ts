/** Fields of one structured log line. */
export type LogFields = Record<string, unknown>;

/** Writes one JSON object per line; known secrets are replaced before anything is printed. */
export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/**
 * Creates a JSON-lines logger that redacts the given secrets from every line.
 * @param secrets values to replace with "[redacted]" wherever they occur.
 * @param write where lines go; default `console.log`.
 */
export function createLogger(
  secrets: readonly string[],
  write: (line: string) => void = (line) => console.log(line),
): Logger {
  // A line is JSON, where a secret with quotes, backslashes or control characters appears escaped.
  const forms = secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  const redact = (line: string) => forms.reduce((text, form) => text.replaceAll(form, "[redacted]"), line);
  const emit = (level: string) =>
    function log(msg: string, fields: LogFields = {}) {
      write(redact(JSON.stringify({ level, msg, ...fields, time: new Date().toISOString() })));
    };
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** For lines written where no runtime (and so no list of secrets) exists; such lines carry nothing secret. */
export const plainLogger = createLogger([]);

/** An error as log fields: class, message and stack, nothing else of the object. */
export function errorFields(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: String(error) };
  return { error_name: error.name, error_message: error.message, stack: error.stack };
}
