/*
 * Reports of the fixed kernel that were triaged as Linux's own and benign:
 * a search that meets them reports them as it reports any bug (`mmlab
 * check` exits 1, and `--bug-class` or `--keep-going` searches past them),
 * but a fuzz campaign, which meets them in every program that recycles a
 * VMA under a lockless reader, lists them as known instead of minimizing
 * them as new, and does not fail for them.
 */

/** Where a report's triage is written. */
const VMA_INIT_MEMSET =
  'docs/explorer.md, "Triage: `vm_area_alloc()`\'s memset against `vma_start_read()`"';

/** Signature -> where its triage is written. */
const TRIAGED: ReadonlyMap<string, string> = new Map([
  ['data-race in memset / vma_start_read on vm_area_struct.vm_lock_seq', VMA_INIT_MEMSET],
  [
    'data-race in __refcount_add_not_zero_limited / memset on vm_area_struct.vm_refcnt.refs',
    VMA_INIT_MEMSET,
  ],
]);

/** Where the triage of the report with `signature` is written; undefined if it was never triaged. */
export function triage_of(signature: string): string | undefined {
  return TRIAGED.get(signature);
}
