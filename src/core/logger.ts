// One line per event: a short sentence, then key=value pairs. Under systemd (journald) lines carry a
// <N> priority prefix and no timestamp; in a terminal they carry time and level. Secrets never print:
// values of secret-looking keys and every `Secret` are replaced by [redacted].
import { Secret } from "./secret.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogFormat = "journald" | "terminal";
export type LogSink = (line: string, level: LogLevel) => void;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines start with `prefix` (e.g. `NODE_DAEMON`) and carry `fields`. */
  child(prefix: string, fields?: LogFields): Logger;
}

export type LoggerOptions = {
  sink: LogSink;
  level?: LogLevel;
  format?: LogFormat;
  now?: () => Date;
  prefix?: string;
  fields?: LogFields;
};

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const JOURNALD_PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };
const SECRET_KEY = /secret|passw|private|psk|preshared|(^|_)token$|authorization|cookie|session_id/i;
export const REDACTED = "[redacted]";

export function formatValue(key: string, value: unknown): string {
  if (value instanceof Secret || (SECRET_KEY.test(key) && value !== undefined && value !== null)) {
    return REDACTED;
  }
  if (value instanceof Error) value = value.message;
  if (value instanceof Date) value = value.toISOString();
  if (typeof value === "object" && value !== null) value = JSON.stringify(value);
  const text = String(value);
  return text === "" || /[\s"]/.test(text) ? JSON.stringify(text) : text;
}

export function formatFields(fields: LogFields): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(k, v)}`)
    .join(" ");
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[options.level ?? "info"];
  const format = options.format ?? "terminal";
  const now = options.now ?? (() => new Date());
  const base = options.fields ?? {};

  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (RANK[level] < threshold) return;
    const pairs = formatFields({ ...base, ...fields });
    const body = [options.prefix, message.replace(/[\r\n]+/g, " "), pairs].filter(Boolean).join(" ");
    const line = format === "journald"
      ? `<${JOURNALD_PRIORITY[level]}>${body}`
      : `${now().toISOString()} ${level.toUpperCase().padEnd(5)} ${body}`;
    options.sink(line, level);
  };

  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (prefix, fields) =>
      createLogger({
        ...options,
        prefix: [options.prefix, prefix].filter(Boolean).join(" "),
        fields: { ...base, ...fields },
      }),
  };
}

/** A logger that remembers its lines, for tests and for collecting output. */
export function memoryLogger(level: LogLevel = "debug"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ sink: (line) => lines.push(line), level, format: "journald" });
  return Object.assign(logger, { lines });
}
