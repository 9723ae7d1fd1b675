/*
 * page-fault1: will-it-scale's page_fault1, threads mode (page_fault.ts
 * has the one implementation of the three). This module is the
 * scenario's own: a native worker imports it for its `scenario`.
 */
import type { Scenario } from '../../runtime/scenario.js';
import type { Workload } from '../workload.js';
import { page_fault } from './page_fault.js';

export const workload: Workload = page_fault(1, import.meta.url);
export const scenario: Scenario = workload.scenario;
