/* errno names (include/uapi/asm-generic/errno-base.h, errno.h): what scripts print. */
const NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  4: 'EINTR',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  26: 'ETXTBSY',
  75: 'EOVERFLOW',
  95: 'EOPNOTSUPP',
};

export function errno_name(errno: number): string {
  const name = NAMES[errno];
  if (name === undefined) throw new Error(`errno ${errno} has no name here`);
  return name;
}
