/*
 * Struct layouts in kernel memory. A pointer is a word index; a field is a
 * word offset. Each struct is declared once, named like the kernel's, and
 * every field carries what protects it, as include/linux/mm_types.h does in
 * its comments; the explorer prints that text beside a racing field.
 */

/**
 * L1_CACHE_BYTES (64 on x86) in words: what ____cacheline_aligned_in_smp
 * aligns to, and the line the timing executor's cache model tracks.
 */
export const L1_CACHE_WORDS = 16;

/** A field as declared, before alignment. */
type PlainFieldSpec =
  | string
  | readonly [number, string]
  | StructInfo
  | readonly [StructInfo, string];

/** A field declared ____cacheline_aligned_in_smp (see cacheline_aligned()). */
interface AlignedFieldSpec {
  readonly cacheline_aligned: PlainFieldSpec;
}

/**
 * A field: its protection text (one word), [words, protection], an
 * embedded struct (its own fields say what protects them), or
 * [struct, protection] when one lock protects the whole embedded struct;
 * any of them cacheline_aligned().
 */
type FieldSpec = PlainFieldSpec | AlignedFieldSpec;

/**
 * ____cacheline_aligned_in_smp: the field starts a cache line, so the
 * struct is aligned to one and its size rounded up to whole lines, as C
 * does for a member with that attribute. What the kernel writes on every
 * operation (a lock word, a reference count) gets a line apart from the
 * fields every reader loads: otherwise each write takes the line from
 * every reader's cache, and the model would charge that false sharing.
 */
export function cacheline_aligned(spec: PlainFieldSpec): AlignedFieldSpec {
  return { cacheline_aligned: spec };
}

export interface StructInfo {
  readonly name: string;
  /** Size in 32-bit words: a multiple of `align`. */
  readonly size: number;
  /** Words every object of the struct is aligned to: 1, or L1_CACHE_WORDS. */
  readonly align: number;
  /** Field names in offset order, with their offsets, widths and protection. */
  readonly fields: readonly FieldInfo[];
}

interface FieldInfo {
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
  let align = 1;
  for (const [field, declared] of Object.entries(spec)) {
    if (field === '$') throw new Error(`struct ${name}: '$' is reserved`);
    const aligned = typeof declared === 'object' && 'cacheline_aligned' in declared;
    const s: PlainFieldSpec = aligned ? declared.cacheline_aligned : declared;
    const nested =
      typeof s === 'object' && 'fields' in s
        ? s
        : Array.isArray(s) && typeof s[0] === 'object'
          ? (s[0] as StructInfo)
          : undefined;
    const field_align = Math.max(aligned ? L1_CACHE_WORDS : 1, nested?.align ?? 1);
    offset = round_up(offset, field_align);
    align = Math.max(align, field_align);
    out[field] = offset;
    if (nested) {
      const by_outer = Array.isArray(s);
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
    fields.push({ name: field, offset, words, protection });
    offset += words;
  }
  out.$ = Object.freeze({
    name,
    size: round_up(offset, align),
    align,
    fields: Object.freeze(fields),
  });
  return Object.freeze(out) as Layout<F>;
}

/** `n` rounded up to a multiple of `align`. */
export function round_up(n: number, align: number): number {
  return Math.ceil(n / align) * align;
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
