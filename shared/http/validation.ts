/**
 * How route schemas validate. Fastify compiles each route's querystring, params and body schema with Ajv (its
 * default validator) under these options, and schemaErrorDetails() turns Ajv's first error into a FieldError that
 * names the parameter and the rule, for vigil's envelope (error-handler.ts) and the Prometheus-compatible one.
 *
 * - removeAdditional false: a schema with `additionalProperties: false` refuses an unknown parameter (400 naming it)
 *   instead of silently dropping it. vigil's own routes do; the Prometheus-compatible API ignores unknown ones.
 * - coerceTypes 'array': query strings are text, so `limit=5` becomes the integer its schema asks for; a
 *   parameter given twice is an array and fails a scalar schema ("must be given once").
 * - useDefaults false: a schema's `default` documents what the handler assumes, it is not written into the query
 *   (handlers tell "absent" from "given", e.g. offset with cursor).
 * - allErrors false: validation stops at the first error, so its cost never grows with the number of problems.
 * - verbose: errors carry the failing value and schema, for messages like "must be one of …, got "x"".
 * The hot ingest bodies (events, metrics, OTLP, remote_write) have no body schema: their hand-written validators
 * (shared/schemas/) run once per item, shared with the Kafka path.
 */
import type { FastifySchemaValidationError } from 'fastify';
import type { FieldError } from '../errors.ts';
import { FORMAT_RULES, PATTERN_RULES } from '../schemas/primitives.ts';

export type RequestPart = 'body' | 'headers' | 'params' | 'querystring';

export const AJV_OPTIONS = {
  customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: false, allErrors: false, verbose: true },
} as const;

interface VerboseError extends FastifySchemaValidationError {
  data?: unknown;
  parentSchema?: Record<string, unknown>;
}

const got = (data: unknown): string => `, got ${JSON.stringify(data)}`;

function fieldOf(error: VerboseError): string {
  const params = error.params as Record<string, unknown>;
  const path = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const child = params.additionalProperty ?? params.missingProperty;
  if (typeof child === 'string') return path === '' ? child : `${path}.${child}`;
  return path;
}

function knownNames(schema: Record<string, unknown> | undefined): string {
  const names = Object.keys((schema?.properties as object | undefined) ?? {});
  const families = Object.keys((schema?.patternProperties as object | undefined) ?? {}).map(
    (p) => `${p.replace(/^\^/, '').replace(/\\\./g, '.').replace(/\.\+$/, '.')}<key>`,
  );
  return [...names, ...families].join(', ');
}

function ruleOf(error: VerboseError, part: RequestPart): string {
  const params = error.params as Record<string, unknown>;
  const schema = error.parentSchema ?? {};
  switch (error.keyword) {
    case 'additionalProperties':
      return `is not a known ${part === 'body' ? 'field' : 'parameter'} (known: ${knownNames(schema)})`;
    case 'required':
      return 'is required';
    case 'dependencies':
      return `is required with ${String(params.property)}`;
    case 'type':
      if (Array.isArray(error.data)) return 'must be given once';
      break;
    case 'enum':
      return `must be one of ${(schema.enum as unknown[]).join(', ')}${got(error.data)}`;
    case 'pattern': {
      const rule = PATTERN_RULES[String(params.pattern)] ?? LIST_RULES.get(String(params.pattern));
      return `${rule ?? error.message}${got(error.data)}`;
    }
    case 'format':
      return `${FORMAT_RULES[String(params.format)] ?? error.message}${got(error.data)}`;
  }
  const numeric = schema.type === 'integer' || schema.type === 'number';
  if (numeric && (schema.minimum !== undefined || schema.maximum !== undefined)) {
    const kind = schema.type === 'integer' ? 'an integer' : 'a number';
    return `must be ${kind} from ${schema.minimum} to ${schema.maximum}${got(error.data)}`;
  }
  if (schema.type === 'string' && (error.keyword === 'minLength' || error.keyword === 'maxLength')) {
    return `must be a non-empty string of at most ${schema.maxLength} characters${got(error.data)}`;
  }
  return `${error.message ?? 'is invalid'}${got(error.data)}`;
}

/** The FieldErrors of a failed schema validation of one part of the request (querystring, params, body). */
export function schemaErrorDetails(errors: FastifySchemaValidationError[], part: RequestPart): FieldError[] {
  return errors.map((error) => ({
    field: fieldOf(error) || `(${part})`,
    message: ruleOf(error as VerboseError, part),
  }));
}

const LIST_RULES = new Map<string, string>();

/** A parameter taking one or a comma list of `values` (status=open,investigating). */
export function commaListSchema(values: readonly string[]): Record<string, unknown> {
  const one = `(${values.join('|')})`;
  const pattern = `^${one}(,${one})*$`;
  LIST_RULES.set(pattern, `must be one or a comma list of ${values.join(', ')}`);
  const description = `One or a comma list of ${values.join(', ')}.`;
  return { type: 'string', pattern, description, examples: [values[0]] };
}

export interface QueryShape {
  required?: string[];
  /** Families of dynamic parameters: prefix (`tag.`) → schema of their values. */
  families?: Record<string, Record<string, unknown>>;
  /** Parameter → the parameters it needs. */
  needs?: Record<string, string[]>;
  description?: string;
}

/**
 * A query-string schema refusing unknown parameters. Each parameter of `needs` says so in its description
 * ("Needs start_time."), which the OpenAPI document shows and the contract test reads.
 */
export function strictQuery(properties: Record<string, unknown>, shape: QueryShape = {}): Record<string, unknown> {
  for (const [name, needed] of Object.entries(shape.needs ?? {})) {
    const property = properties[name] as { description?: string };
    const said = `Needs ${needed.join(', ')}.`;
    const description = property.description ? `${property.description} ${said}` : said;
    properties = { ...properties, [name]: { ...property, description } };
  }
  const families = Object.entries(shape.families ?? {}).map(([prefix, schema]) => [
    `^${prefix.replace(/\./g, '\\.')}`,
    schema,
  ]);
  return {
    type: 'object',
    ...(shape.description ? { description: shape.description } : {}),
    properties,
    ...(shape.required ? { required: shape.required } : {}),
    ...(families.length > 0 ? { patternProperties: Object.fromEntries(families) } : {}),
    ...(shape.needs ? { dependencies: shape.needs } : {}),
    additionalProperties: false,
  };
}
