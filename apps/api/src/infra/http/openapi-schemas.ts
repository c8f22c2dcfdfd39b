import { z, ZodType } from 'zod';
import * as domain from '@gateway/domain';

type Json = Record<string, unknown>;
type Io = 'input' | 'output';

const DEFS = '#/$defs/';
const COMPONENTS = '#/components/schemas/';

/** libs/domain's schemas under their export names: the names of the document's component schemas. */
function domainNames() {
  const registry = z.registry<{ id: string }>();
  const ids = new Set<string>();
  for (const [name, value] of Object.entries(domain)) {
    if (!(value instanceof ZodType) || registry.has(value)) continue;
    registry.add(value, { id: name });
    ids.add(name);
  }
  return { registry, ids };
}

/** `z.unknown().nullable()` is any value, null included: `{}` says so without an `anyOf` linters call illogical. */
const anyOfAnything = ({ jsonSchema }: { jsonSchema: Json }) => {
  if (Array.isArray(jsonSchema.anyOf) && jsonSchema.anyOf.some((o) => o && typeof o === 'object' && Object.keys(o).length === 0)) delete jsonSchema.anyOf;
};

const convert = (s: ZodType, io: Io, metadata: z.core.$ZodRegistry<{ id?: string }>) => {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; the document, not each schema, says so.
  const { $schema: _dialect, $defs, ...root } = z.toJSONSchema(s, { io, metadata, unrepresentable: 'any', override: anyOfAnything }) as Json & { $defs?: Record<string, Json> };
  return { root: root as Json, defs: $defs ?? {} };
};

/** Calls visit with the id of every `#/$defs/<id>` ref in json and the object holding it. */
const eachRef = (json: unknown, visit: (id: string, holder: Json) => void) => {
  if (Array.isArray(json)) for (const x of json) eachRef(x, visit);
  else if (json && typeof json === 'object') {
    const ref = (json as Json).$ref;
    if (typeof ref === 'string' && ref.startsWith(DEFS)) visit(ref.slice(DEFS.length), json as Json);
    for (const x of Object.values(json)) eachRef(x, visit);
  }
};

const refsOf = (json: Json) => {
  const ids: string[] = [];
  eachRef(json, (id) => ids.push(id));
  return ids;
};

/**
 * The request and response schemas of the document. A libs/domain schema a route uses, directly or nested, becomes
 * `#/components/schemas/<its export name>`; anything else stays inline. What a route accepts (zod's input) can
 * differ from what one returns (its output: defaults applied, values transformed): a schema used both ways whose
 * two forms differ is two components, `<name>` as returned and `<name>Input` as accepted.
 */
export class OpenApiSchemas {
  private readonly names = domainNames();
  private readonly defs: Record<Io, Map<string, Json>> = { input: new Map(), output: new Map() };
  private readonly uses: { io: Io; json: Json }[] = [];

  /** A body or response schema; its refs are resolved by components(). */
  schema(s: ZodType, io: Io): Json {
    const { root, defs } = convert(s, io, this.names.registry);
    for (const [id, def] of Object.entries(defs)) {
      // zod numbers an unnamed schema it has to extract (a recursive one) per conversion: such names would clash.
      if (!this.names.ids.has(id)) throw new Error(`OpenAPI: zod had to name a schema ${id} (a recursive one?): export it from libs/domain to give it a name`);
      this.defs[io].set(id, def);
    }
    this.uses.push({ io, json: root });
    return root;
  }

  /** Path and query parameters: inline, one per property. */
  parameters(s: ZodType): Json {
    return convert(s, 'input', z.registry()).root;
  }

  /** The component schemas; call once, after the last schema(). */
  components(): Record<string, Json> {
    const { input, output } = this.defs;
    const split = new Set<string>();
    // A form differs when its text does or when a schema it refers to is split; repeat until nothing changes.
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, accepted] of input) {
        const returned = output.get(id);
        if (!returned || split.has(id)) continue;
        if (JSON.stringify(accepted) !== JSON.stringify(returned) || refsOf(accepted).some((r) => split.has(r))) {
          split.add(id);
          changed = true;
        }
      }
    }
    const name = (id: string, io: Io) => (io === 'input' && split.has(id) ? `${id}Input` : id);
    const resolve = (json: Json, io: Io) =>
      eachRef(json, (id, holder) => {
        holder.$ref = COMPONENTS + name(id, io);
      });
    for (const { io, json } of this.uses) resolve(json, io);
    const components: Record<string, Json> = {};
    for (const io of ['output', 'input'] as const) {
      for (const [id, def] of this.defs[io]) {
        resolve(def, io);
        components[name(id, io)] = def;
      }
    }
    return Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
  }
}
