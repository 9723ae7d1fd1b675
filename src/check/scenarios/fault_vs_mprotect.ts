/*
 * fault-vs-mprotect: CPU 1 faults in fresh pages of its own VMA while CPU 0
 * mprotects a populated VMA (128 MiB by default) back and forth, holding
 * mmap_lock for write for the whole walk of its page tables each time.
 * With a per-VMA lock, CPU 1's faults never need mmap_lock (its VMA is not
 * the one being changed); with mmap_lock alone, every fault waits for the
 * writer. The report says where the faults were handled.
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { MAP_POPULATE, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { vm_events_sum } from '../../kernel/sched.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import type { KernelContext, KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from './common.js';

/** Words a populated page costs: its frame and struct page, with slab headers. */
const WORDS_PER_PAGE = 1024 + 3 + 16;

const FVM = defineStruct('fault_vs_mprotect', {
  mm: 'WRITE_ONCE by cpu0 once both VMAs exist',
  faulter_done: 'WRITE_ONCE by cpu1: cpu0 stops mprotecting',
  stop: 'WRITE_ONCE by the executor',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'fault-vs-mprotect',
  description: 'one CPU faults in its own VMA while another mprotects a populated VMA in a loop',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 2,
  // 32768 pages: 128 MiB. fault_pages: how many fresh pages CPU 1 touches.
  params: { big_pages: 32768, fault_pages: 4096 },
  memory_words: (cfg) =>
    (1 << 22) + (cfg.params.big_pages! + cfg.params.fault_pages!) * WORDS_PER_PAGE * 2,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(FVM.$, 'fault_vs_mprotect') }),
  stop_word: ({ g }) => g + FVM.stop,

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const big = cfg.params.big_pages!;
    const pages = cfg.params.fault_pages!;
    const fault_vma = BASE + 1024;
    const big_vma = fault_vma + pages + 1024;
    if (k.cpu === 0) {
      const mm = yield* new_mm(k);
      yield* do_mmap(k, mm, anon_fixed(fault_vma, pages));
      yield* do_mmap(k, mm, anon_fixed(big_vma, big, PROT_READ | PROT_WRITE, MAP_POPULATE));
      yield k.store_release(g + FVM.mm, mm);
      for (
        let i = 0;
        !(yield k.READ_ONCE(g + FVM.faulter_done)) && !(yield k.READ_ONCE(g + FVM.stop));
        i++
      ) {
        yield* do_mprotect(k, mm, big_vma, big, i & 1 ? PROT_READ | PROT_WRITE : PROT_READ);
      }
      yield* mmput(k, mm);
      return;
    }
    let mm = yield k.load_acquire(g + FVM.mm);
    while (mm === 0) mm = yield k.cond_load_ne(g + FVM.mm, 0);
    for (let p = 0; p < pages && !(yield k.READ_ONCE(g + FVM.stop)); p++) {
      k.BUG_ON(
        (yield* user_access(k, mm, (fault_vma + p) * 4096, true, p)) !== 0,
        'fault-vs-mprotect: a fault failed',
      );
    }
    yield k.WRITE_ONCE(g + FVM.faulter_done, 1);
  },

  report: (m: KernelMemory, sys: KernelSymbols) => vm_events_sum(m.words, [sys.tasks[1]!]),

  check(m: KernelMemory, sys: KernelSymbols): void {
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
