/* Terminal styling; picocolors turns itself off for pipes and NO_COLOR. */
import pc from 'picocolors';

export const bold = pc.bold;
export const dim = pc.dim;
export const red = pc.red;
export const green = pc.green;
