/*
 * Struct layouts in kernel memory. A pointer is a word index; a field is a
 * word offset. Each struct is declared once, named like the kernel's, and
 * every field carries what protects it, as include/linux/mm_types.h does in
 * its comments; the explorer prints that text beside a racing field.
 */

/**
 * A field: its protection text (one word), [words, protection], an
 * embedded struct (its own fields say what protects them), or
 * [struct, protection] when one lock protects the whole embedded struct.
 */
export type FieldSpec =
  | string
  | readonly [number, string]
  | StructInfo
  | readonly [StructInfo, string];

export interface StructInfo {
  readonly name: string;
  /** Size in 32-bit words. */
  readonly size: number;
  /** Field names in offset order, with their offsets, widths and protection. */
  readonly fields: readonly FieldInfo[];
}

export interface FieldInfo {
  readonly name: string;
  readonly offset: number;
  readonly words: number;
  readonly protection: string;
  /** The embedded struct, if the field is one. */
  readonly nested?: StructInfo;
  /** The embedded struct's fields are all protected by `protection`. */
  readonly nested_by_outer?: boolean;
}

export type Layout<F> = { readonly [K in keyof F]: number } & { readonly $: StructInfo };

export function defineStruct<const F extends Record<string, FieldSpec>>(
  name: string,
  spec: F,
): Layout<F> {
  const out: Record<string, unknown> = {};
  const fields: FieldInfo[] = [];
  let offset = 0;
  for (const [field, s] of Object.entries(spec)) {
    if (field === '$') throw new Error(`struct ${name}: '$' is reserved`);
    const nested =
      typeof s === 'object' && 'fields' in s
        ? s
        : Array.isArray(s) && typeof s[0] === 'object'
          ? (s[0] as StructInfo)
          : undefined;
    if (nested) {
      const by_outer = Array.isArray(s);
      out[field] = offset;
      fields.push({
        name: field,
        offset,
        words: nested.size,
        protection: by_outer ? (s as readonly [StructInfo, string])[1] : `struct ${nested.name}`,
        nested,
        nested_by_outer: by_outer,
      });
      offset += nested.size;
      continue;
    }
    const [words, protection] = typeof s === 'string' ? [1, s] : (s as readonly [number, string]);
    if (!Number.isInteger(words) || words < 1)
      throw new Error(`struct ${name}.${field}: bad width ${words}`);
    out[field] = offset;
    fields.push({ name: field, offset, words, protection });
    offset += words;
  }
  out.$ = Object.freeze({ name, size: offset, fields: Object.freeze(fields) });
  return Object.freeze(out) as Layout<F>;
}

/**
 * The field of `info` at word offset `off`: `name`, `name[i]` inside an
 * array, `name.inner` inside an embedded struct; with what protects it.
 */
export function field_at(
  info: StructInfo,
  off: number,
): { name: string; protection: string } | undefined {
  for (const f of info.fields) {
    if (off < f.offset || off >= f.offset + f.words) continue;
    if (f.nested) {
      const inner = field_at(f.nested, off - f.offset);
      if (inner)
        return {
          name: `${f.name}.${inner.name}`,
          protection: f.nested_by_outer ? f.protection : inner.protection,
        };
    }
    return {
      name: f.words === 1 ? f.name : `${f.name}[${off - f.offset}]`,
      protection: f.protection,
    };
  }
  return undefined;
}
