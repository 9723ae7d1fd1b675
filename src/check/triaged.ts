/*
 * Reports of the fixed kernel that were triaged as Linux's own and benign,
 * each under the policy its triage holds for: a search that meets one
 * reports it as it reports any bug (`mmlab check` exits 1, and
 * `--bug-class` or `--keep-going` searches past it), but a fuzz campaign,
 * which meets them in every program that recycles a VMA under a lockless
 * reader, lists them as known instead of minimizing them as new, and does
 * not fail for them. Where a search keeps going or looks for another
 * class of bug, the explorer's KCSAN goes on past them as Linux's does
 * after it prints (past_triaged()): a schedule that meets one is not
 * over, and what the reader of a recycled VMA does next is still searched.
 */
import { POLICY_VMA_REFCNT } from '../kernel/mm/policy.js';

interface Triage {
  /** The policy it holds under: the same signature under another may be a bug. */
  readonly policy: string;
  /** Where the triage is written. */
  readonly where: string;
  /**
   * The fields (`struct.field`) whose races with a memset it judged: what
   * KCSAN sees of its reports without a trace (which names no function),
   * to pass over them (Kcsan.pass_over()).
   */
  readonly memset_fields: readonly string[];
}

/*
 * Only vma-refcnt's vm_area_cachep hands a freed VMA out again at once
 * (SLAB_TYPESAFE_BY_RCU); under vma-rwsem vm_area_free() waits for a
 * grace period, so a lockless reader meeting the memset there outlived
 * its RCU section: seeds 000 and 001.
 */
const VMA_INIT_MEMSET: Triage = {
  policy: POLICY_VMA_REFCNT,
  where: 'docs/explorer.md, "Triage: `vm_area_alloc()`\'s memset against `vma_start_read()`"',
  memset_fields: ['vm_area_struct.vm_lock_seq', 'vm_area_struct.vm_refcnt.refs'],
};

const TRIAGED: ReadonlyMap<string, Triage> = new Map([
  ['data-race in memset / vma_start_read on vm_area_struct.vm_lock_seq', VMA_INIT_MEMSET],
  [
    'data-race in __refcount_add_not_zero_limited / memset on vm_area_struct.vm_refcnt.refs',
    VMA_INIT_MEMSET,
  ],
]);

/** Where the triage of the report `signature` under `policy` is written; undefined if it was never triaged there. */
export function triage_of(signature: string, policy: string): string | undefined {
  const t = TRIAGED.get(signature);
  return t?.policy === policy ? t.where : undefined;
}

/**
 * The fields of every memset race triaged under `policy`: those a search
 * that goes on past the triaged races (Kcsan.pass_over()) sets aside.
 */
export function past_triaged(policy: string): ReadonlySet<string> {
  return new Set(
    [...TRIAGED.values()].filter((t) => t.policy === policy).flatMap((t) => t.memset_fields),
  );
}
