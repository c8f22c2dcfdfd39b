import { Readable } from 'node:stream';
import { applyDecorators, HttpCode, SetMetadata, StreamableFile } from '@nestjs/common';
import type { ZodType } from 'zod';

export type Auth = 'public' | 'user' | 'member';

/**
 * One declaration per route: who may call it, what it accepts and returns. The auth guard, the
 * validation guard, the response shaping below and the OpenAPI document all read it, so they cannot disagree.
 */
export interface EndpointSpec {
  /**
   * The operation's name in the OpenAPI document, and so the method name in generated clients: a camelCase verb
   * phrase (`listClusters`, `signIn`, `runQuery`), unique across the API. Never rename one: clients call it by name.
   */
  operationId: string;
  summary: string;
  auth: Auth;
  tag: string;
  params?: ZodType;
  query?: ZodType;
  body?: ZodType;
  response?: ZodType;
  status?: number;
  /** For routes that answer something other than JSON: content type -> description. */
  produces?: Record<string, string>;
  /** For routes that take something other than JSON (e.g. application/octet-stream chunks). */
  consumes?: string;
  /** Error statuses the route answers besides the common ones (400, 401). */
  errors?: number[];
  /**
   * The reply carries result rows (`rows: unknown[][]`): a large set of them is written as it is serialized, a slice at
   * a time, instead of as one string of the whole reply (see `rowsReply`).
   */
  streamRows?: true;
}

export const ENDPOINT = 'gateway:endpoint';

/**
 * Passes what the handler returns through the response schema, so that nothing undeclared, such as a secret
 * column, can leak into a reply. The wrapper keeps the metadata decorators applied before it gave the handler.
 */
const shapeResponse =
  (response: ZodType, streamRows: boolean): MethodDecorator =>
  (_target, _key, descriptor: PropertyDescriptor) => {
    const handler = descriptor.value as (...args: unknown[]) => unknown;
    const shaped = async function (this: unknown, ...args: unknown[]) {
      const out = await handler.apply(this, args);
      if (streamRows) {
        // The envelope is shaped as always; the rows are data (checked as frames when the member sent them), and
        // passing them through the schema would copy every row.
        const { rows, ...rest } = out as { rows: unknown[][] | RowSlices };
        const shapedOut = response.parse({ ...rest, rows: [] }) as Record<string, unknown>;
        if (rows instanceof RowSlices || rows.length > STREAM_ROWS_OVER) {
          const { rows: _none, ...envelope } = shapedOut;
          return rowsReply(envelope, rows);
        }
        // In the place the schema gives it.
        shapedOut.rows = rows;
        return shapedOut;
      }
      return response.parse(out);
    };
    for (const key of Reflect.getMetadataKeys(handler)) Reflect.defineMetadata(key, Reflect.getMetadata(key, handler), shaped);
    Object.defineProperty(shaped, 'name', { value: handler.name });
    descriptor.value = shaped;
  };

/** Below this many rows a reply is serialized whole: it is small, and a stream costs more than it saves. */
export const STREAM_ROWS_OVER = 1_000;
/** Rows are written in slices of about this many characters. */
const SLICE_CHARS = 64 * 1024;

/**
 * Result rows already serialized as they came: each slice is the inside of a JSON array of rows (`[1,"a"],[2,"b"]`).
 * A large result is held so, as strings of a few hundred KB that the heap gives back as soon as they are let go,
 * instead of as millions of small objects that would grow the old generation for good.
 */
export class RowSlices {
  constructor(
    readonly slices: string[],
    readonly length: number,
  ) {}
}

/**
 * A JSON reply `{...envelope, "rows": [...]}` serialized as the client reads it, with backpressure: a slice of rows at
 * a time, each row let go once written. A whole-reply string and its buffer would hold the result twice more over
 * (a 60 MB result took the API from 260 to 544 MB that way).
 */
export function rowsReply(envelope: Record<string, unknown>, rows: unknown[][] | RowSlices): StreamableFile {
  function* body() {
    yield `${JSON.stringify(envelope).slice(0, -1)},"rows":[`;
    if (rows instanceof RowSlices) {
      let first = true;
      for (let i = 0; i < rows.slices.length; i++) {
        const slice = rows.slices[i];
        rows.slices[i] = '';
        if (slice === '') continue;
        yield first ? slice : `,${slice}`;
        first = false;
      }
      yield ']}';
      return;
    }
    let slice = '';
    for (let i = 0; i < rows.length; i++) {
      slice += (i === 0 ? '' : ',') + JSON.stringify(rows[i]);
      (rows as unknown[])[i] = undefined;
      if (slice.length >= SLICE_CHARS) {
        yield slice;
        slice = '';
      }
    }
    yield `${slice}]}`;
  }
  return new StreamableFile(Readable.from(body(), { objectMode: false }), { type: 'application/json; charset=utf-8' });
}

export const Endpoint = (spec: EndpointSpec) =>
  applyDecorators(...(spec.response ? [shapeResponse(spec.response, spec.streamRows === true)] : []), SetMetadata(ENDPOINT, spec), HttpCode(spec.status ?? 200));
